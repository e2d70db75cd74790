"""Networks by stable name: `build_model("attunet", in_channels=4)`.

`UNET_NAMES` are the seven networks of the LMHLD method; `BASELINE_NAMES` the reference baselines of
Landslide4Sense and CAS: four built by segmentation-models-pytorch, and FCN-8s (which smp lacks) built here.
Options reach the network's constructor (`base_width`, `deep_supervision`, TransUNet's `hidden`, `layers`, ...;
an smp baseline's `encoder`, `encoder_weights` and decoder options). `SMALL_OPTIONS` are the sizes the tests and
the demo use to stay fast on a CPU.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..core.errors import LmhldError, given, whole

if TYPE_CHECKING:  # the networks import torch; the registry's names must not
    from .base import SegmentationNet

# name -> (module, class, human title)
_UNETS: dict[str, tuple[str, str, str]] = {
    "unet": ("unet", "UNet", "U-Net"),
    "resunet": ("resunet", "ResUNet", "Res U-Net"),
    "denseunet": ("denseunet", "DenseUNet", "Dense U-Net"),
    "attunet": ("attunet", "AttentionUNet", "Attention U-Net"),
    "transunet": ("transunet", "TransUNet", "TransUNet"),
    "unetpp": ("unetpp", "UNetPlusPlus", "U-Net++"),
    "unet3p": ("unet3p", "UNet3Plus", "UNet 3+"),
}
_BASELINES: dict[str, tuple[str, str, str]] = {
    "deeplabv3plus": ("deeplabv3plus", "DeepLabV3Plus", "DeepLab-v3+ (smp)"),
    "linknet": ("linknet", "LinkNet", "LinkNet (smp)"),
    "pspnet": ("pspnet", "PSPNet", "PSPNet (smp)"),
    "fpn": ("fpn", "FPN", "FPN (smp)"),
    "fcn8s": ("fcn8s", "FCN8s", "FCN-8s"),
}
INIT_ONLY_OPTIONS = ("encoder_weights",)  # shape initialisation only; a checkpoint rebuild does without them
_NETWORKS = {**_UNETS, **_BASELINES}
UNET_NAMES: tuple[str, ...] = tuple(_UNETS)
BASELINE_NAMES: tuple[str, ...] = tuple(_BASELINES)
MODEL_NAMES: tuple[str, ...] = UNET_NAMES + BASELINE_NAMES  # new names go last: Processing enums index this
TITLES = {name: title for name, (_, _, title) in _NETWORKS.items()}

SMALL_OPTIONS: dict[str, dict[str, Any]] = {name: {"base_width": 8} for name in UNET_NAMES}
SMALL_OPTIONS["transunet"] = {"base_width": 8, "hidden": 32, "layers": 1, "heads": 2, "mlp_dim": 64, "img_size": 64}
SMALL_OPTIONS["deeplabv3plus"] = {"encoder": "resnet18", "decoder_channels": 32}
SMALL_OPTIONS["linknet"] = {"encoder": "resnet18"}
SMALL_OPTIONS["pspnet"] = {"encoder": "resnet18", "psp_out_channels": 32}
SMALL_OPTIONS["fpn"] = {"encoder": "resnet18", "decoder_pyramid_channels": 32, "decoder_segmentation_channels": 64}
SMALL_OPTIONS["fcn8s"] = {"base_width": 8, "fc_channels": 64}


def model_names() -> list[str]:
    return list(MODEL_NAMES)


def model_class(name: str) -> type[SegmentationNet]:
    if name not in _NETWORKS:
        raise LmhldError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    module, cls, _ = _NETWORKS[name]
    network: type[SegmentationNet] = getattr(importlib.import_module(f"{__package__}.{module}"), cls)
    return network


def option_names(name: str) -> list[str]:
    """The options network `name` takes (its constructor's keywords, or a baseline's own list)."""
    import inspect

    cls = model_class(name)
    if hasattr(cls, "option_names"):
        names: list[str] = cls.option_names()
        return names
    return [p for p in inspect.signature(cls).parameters if p not in ("in_channels", "num_classes")]


def check_model_options(name: str, options: dict[str, Any]) -> None:
    """Refuse options network `name` does not take, by name, without building it (an experiment checks every run
    before its first export and training)."""
    valid = option_names(name)
    unknown = [k for k in options if k not in valid]
    if unknown:
        raise LmhldError(f"bad options for {name}: {', '.join(unknown)} (not an option of {name}); valid options: "
                         f"{', '.join(valid)}")
    _check_option_values(name, options)


def _check_option_values(name: str, options: dict[str, Any]) -> None:
    """Values of the kind the network's constructor takes (judged by its defaults): a width of 8.5, -4 or "8" failed
    deep inside torch ("out_channels must be divisible by groups", "negative dimension")."""
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(model_class(name)).parameters.items()
                if p.default is not inspect.Parameter.empty}
    for key, value in options.items():
        default = defaults.get(key)
        if isinstance(default, bool):
            ok, allowed = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, allowed = isinstance(value, int) and not isinstance(value, bool) and value >= 1, "an integer >= 1"
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1
            allowed = "a number in [0, 1)"
        else:
            continue
        if not ok:
            raise LmhldError(f"bad options for {name}: {key} must be {allowed}, got {value!r}")
    if name == "transunet":
        hidden, heads = options.get("hidden", defaults["hidden"]), options.get("heads", defaults["heads"])
        if hidden % heads:
            raise LmhldError(f"bad options for transunet: hidden ({hidden}) must be a multiple of heads ({heads}): "
                             "each attention head takes hidden / heads channels")


def build_model(name: str, in_channels: int, num_classes: int = 1, **options: Any) -> SegmentationNet:
    """Build a network by name; unknown names or options fail with the valid choices listed."""
    from ..core.plain import plain

    options = plain(options)  # np.int64 widths from a sweep
    for what, value in (("in_channels", plain(in_channels)), ("num_classes", plain(num_classes))):
        if not whole(value) or value < 1:
            raise LmhldError(f"{what} must be an integer >= 1, got {given(value)}")
    check_model_options(name, options)
    cls = model_class(name)
    try:
        return cls(in_channels=int(in_channels), num_classes=int(num_classes), **options)
    except (TypeError, ValueError, RuntimeError, AssertionError) as exc:  # a combination no check above foresaw
        chosen = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "defaults"
        raise LmhldError(f"bad options for {name} ({chosen}): {exc}; valid options: "
                         f"{', '.join(option_names(name))}") from exc


def stored_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options a model card keeps: those that rebuild the architecture (not a local pretrained-weights file,
    whose values the checkpoint's own weights replace)."""
    return {k: v for k, v in options.items() if k not in INIT_ONLY_OPTIONS}

"""The reference baselines, built by segmentation-models-pytorch (smp) behind the `SegmentationNet` interface.

Landslide4Sense (Table I) and the CAS dataset compare the U-Net family with DeepLab-v3+, LinkNet, PSPNet and
others; smp builds them from its own, well-tested code. Nothing is downloaded, ever: encoders start from
random weights unless `encoder_weights` names a local state-dict file (for example torchvision's
`resnet34-b627a593.pth`), whose first convolution is adapted to the band count the way smp adapts its own
pretrained weights (RGB filters cycled over the bands, scaled by 3/bands).

Part mode freezes encoder levels: for ResNet-type encoders these are the stem and the four residual stages
(one per 2x downsampling, as the U-Net levels); for other encoders, the encoder's top-level modules in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import LmhldError
from .base import SegmentationNet


class SmpNet(SegmentationNet):
    """An smp architecture (`ARCH`, as `smp.create_model` names it) with a chosen encoder."""

    ARCH = ""

    def __init__(self, in_channels: int, num_classes: int = 1, encoder: str = "resnet34",
                 encoder_depth: int | None = None, encoder_weights: str | None = None,
                 **decoder_options: Any) -> None:
        super().__init__(in_channels, num_classes)
        import segmentation_models_pytorch as smp

        unknown = sorted(set(decoder_options) - set(self.option_names()))
        if unknown:
            raise LmhldError(f"bad options for {self.ARCH}: {', '.join(unknown)}; valid options: "
                             f"{', '.join(self.option_names())}")
        if encoder not in smp.encoders.get_encoder_names():
            raise LmhldError(f"unknown encoder {encoder!r} for {self.ARCH}; see "
                             "segmentation_models_pytorch.encoders.get_encoder_names() (resnet18, resnet34, ...)")
        depth_option = {} if encoder_depth is None else {"encoder_depth": encoder_depth}  # None: smp's default
        # Build for 3 bands when local weights come, so that they load as saved and are then adapted.
        try:
            self.net = smp.create_model(self.ARCH, encoder_name=encoder, encoder_weights=None,
                                        in_channels=3 if encoder_weights else in_channels, classes=num_classes,
                                        **depth_option, **decoder_options)
        except (TypeError, ValueError, KeyError, AssertionError) as exc:
            raise LmhldError(f"bad options for {self.ARCH}: {type(exc).__name__}: {exc}; valid options: "
                             f"{', '.join(self.option_names())}") from exc
        if encoder_weights:
            self._load_encoder_weights(Path(encoder_weights))
        # Inputs must divide by the encoder's total stride (smp checks it in forward).
        self.size_multiple = int(self.net.encoder.output_stride)
        self._drop_unused_encoder_stages()

    @classmethod
    def option_names(cls) -> list[str]:
        """Options this baseline takes: ours, then the smp model's own (decoder) arguments."""
        import inspect

        import segmentation_models_pytorch as smp

        smp_class = smp.MODEL_ARCHITECTURES_MAPPING[cls.ARCH]
        own = [p for p in inspect.signature(smp_class).parameters
               if p not in ("encoder_name", "encoder_weights", "encoder_depth", "in_channels", "classes", "kwargs",
                            "activation", "aux_params")]  # the network returns logits, one output
        return ["encoder", "encoder_depth", "encoder_weights", *own]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out

    def _load_encoder_weights(self, path: Path) -> None:
        if not path.is_file():
            raise LmhldError(f"encoder weights {path} not found; give a local state-dict file (nothing is "
                             "downloaded), or leave encoder_weights out to start from random weights")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise LmhldError(f"encoder weights {path} cannot be read as a state dict: {exc}") from exc
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise LmhldError(f"encoder weights {path} hold no state dict of tensors")
        state = {k.removeprefix("module.").removeprefix("encoder."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier.", "head."))}
        encoder = self.net.encoder
        try:
            encoder.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            expected = sorted(encoder.state_dict())
            raise LmhldError(f"encoder weights {path} do not fit this encoder ({len(state)} tensors given, "
                             f"{len(expected)} expected, e.g. {expected[:3]}): {str(exc).splitlines()[0]}") from exc
        if self.in_channels != 3:
            encoder.set_in_channels(self.in_channels, pretrained=True)

    def _drop_unused_encoder_stages(self) -> None:
        """Remove encoder stages a shallower `encoder_depth` never runs (PSPNet's default depth 3 leaves a ResNet's
        layer3 and layer4 unused): parameters without gradients would stop DDP and bloat checkpoints."""
        enc, ran = self.net.encoder, set()
        hooks = [child.register_forward_hook(lambda m, i, o: ran.add(id(m))) for child in enc.children()]
        was_training = self.training
        try:
            with torch.no_grad():
                self.eval()(torch.zeros(1, self.in_channels, 2 * self.size_multiple,
                                        2 * self.size_multiple))
        finally:
            for hook in hooks:
                hook.remove()
            self.train(was_training)
        for name, child in list(enc.named_children()):
            if id(child) not in ran and any(True for _ in child.parameters()):
                delattr(enc, name)

    def encoder_levels(self) -> list[nn.Module]:
        enc = self.net.encoder
        if all(hasattr(enc, a) for a in ("conv1", "bn1", "maxpool", "layer1")):  # ResNet-type: stem, stages
            return [nn.ModuleList([enc.conv1, enc.bn1]), nn.ModuleList([enc.maxpool, enc.layer1]),
                    *[getattr(enc, f"layer{i}") for i in (2, 3, 4) if hasattr(enc, f"layer{i}")]]
        return [m for m in enc.children() if any(True for _ in m.parameters())]

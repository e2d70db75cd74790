"""The seven networks and the smp baselines: shapes for every size and band count, gradients, registry errors,
part-mode hooks."""

from __future__ import annotations

import pytest
import torch

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.models import MODEL_NAMES, build_model
from lmhld_qgis.models.registry import BASELINE_NAMES, SMALL_OPTIONS, UNET_NAMES


def test_registry_has_the_stable_names_in_a_stable_order():
    assert UNET_NAMES == ("unet", "resunet", "denseunet", "attunet", "transunet", "unetpp", "unet3p")
    assert BASELINE_NAMES == ("deeplabv3plus", "linknet", "pspnet", "fpn", "fcn8s")
    assert MODEL_NAMES == UNET_NAMES + BASELINE_NAMES  # Processing enums store indices: new names go last


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("bands", [3, 4, 14])
def test_forward_shapes_for_every_size(name, bands):
    torch.manual_seed(0)
    model = build_model(name, bands, **SMALL_OPTIONS[name]).eval()
    with torch.no_grad():
        for size in (32, 64, 128, 224, 256):
            out = model(torch.randn(1, bands, size, size))
            assert out.shape == (1, 1, size, size), (name, bands, size)
            assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gradients_reach_the_input_layer(name):
    model = build_model(name, 4, **SMALL_OPTIONS[name]).train()
    out = model(torch.randn(2, 4, 64, 64))
    outs = out if isinstance(out, list) else [out]  # deep supervision: the loss takes every head
    sum(o.mean() for o in outs).backward()
    grad = model.input_layer().weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # DDP stops on parameters that take no part in the loss: every network uses all of its own
    assert [k for k, p in model.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize("name", ["unetpp", "unet3p"])
def test_deep_supervision_returns_every_head_in_training(name):
    model = build_model(name, 4, **{**SMALL_OPTIONS[name], "deep_supervision": True})
    outs = model.train()(torch.randn(1, 4, 64, 64))
    assert isinstance(outs, list) and len(outs) >= 4 and all(o.shape == (1, 1, 64, 64) for o in outs)
    assert model.eval()(torch.randn(1, 4, 64, 64)).shape == (1, 1, 64, 64)


def test_unknown_name_and_option_list_the_valid_ones():
    with pytest.raises(LmhldError, match="valid names: unet, resunet, denseunet, attunet, transunet, unetpp, unet3p, "
                                         "deeplabv3plus, linknet, pspnet, fpn, fcn8s"):
        build_model("segformer", 4)
    with pytest.raises(LmhldError, match=r"^bad options for unet: depth \(not an option of unet\); valid options: "
                                         r".*base_width"):  # was Python's "__init__() got an unexpected keyword"
        build_model("unet", 4, depth=7)


@pytest.mark.parametrize("name, options, message", [
    ("unet", {"base_width": 8.5}, "base_width must be an integer >= 1, got 8.5"),  # was "divisible by groups"
    ("unet", {"base_width": -4}, "base_width must be an integer >= 1, got -4"),  # was "negative dimension"
    ("unet", {"base_width": "8"}, "base_width must be an integer >= 1, got '8'"),
    ("unetpp", {"deep_supervision": 1}, "deep_supervision must be true or false, got 1"),
    ("fcn8s", {"dropout": 1.5}, r"dropout must be a number in \[0, 1\), got 1.5"),
    ("transunet", {"hidden": 30, "heads": 4}, r"hidden \(30\) must be a multiple of heads \(4\)"),  # AssertionError
])
def test_option_values_are_checked_before_torch_sees_them(name, options, message):
    with pytest.raises(LmhldError, match=f"^bad options for {name}: {message}"):
        build_model(name, 3, **options)


def test_numpy_numbers_from_a_sweep_are_taken_as_the_numbers_they_are():
    import numpy as np

    from lmhld_qgis.core.detect import DetectOptions
    from lmhld_qgis.training.config import TrainConfig

    assert build_model("unet", 3, base_width=np.int64(8)).input_layer().out_channels == 8
    config = TrainConfig(data=["d"], epochs=np.int64(2), lr=np.float32(0.5), model_options={"base_width": np.int64(4)})
    config.validate_options()  # "epochs must be an integer, got 1 (int64)"
    assert (type(config.epochs), config.model_options) == (int, {"base_width": 4})
    options = DetectOptions(bands=np.arange(1, 4), tile=np.int64(64))
    options.validate()  # "bands must be a list of the raster's band numbers ... got [1, 2, 3]"
    assert (options.bands, type(options.tile)) == ([1, 2, 3], int)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_reset_input_layer_reinitialises_and_changes_bands(name):
    torch.manual_seed(0)
    model = build_model(name, 4, **SMALL_OPTIONS[name])
    before = model.input_layer().weight.detach().clone()
    model.reset_input_layer()
    after = model.input_layer().weight
    assert after.shape == before.shape and not torch.equal(after, before)
    model.reset_input_layer(14)
    assert model.input_layer().in_channels == 14 and model.in_channels == 14
    assert model.eval()(torch.randn(1, 14, 32, 32)).shape == (1, 1, 32, 32)
    assert len(model.encoder_levels()) == (3 if name == "pspnet" else 5)  # PSPNet's encoder stops at depth 3
    first_level_params = {id(p) for p in model.encoder_levels()[0].parameters()}
    assert id(model.input_layer().weight) in first_level_params


def test_default_widths_follow_the_papers():
    unet = build_model("unet", 3)
    n_params = sum(p.numel() for p in unet.parameters())
    assert 30e6 < n_params < 32e6  # Ronneberger's U-Net: about 31 M parameters


def test_an_input_a_network_cannot_take_is_named_with_its_rule():
    """build_model("unet", "3") leaked "'<' not supported between 'str' and 'int'"; a 100 px patch failed deep inside
    with "Sizes of tensors must match", and 14 bands into a 3-band network with torch's channel error."""
    with pytest.raises(LmhldError, match=r"^in_channels must be an integer >= 1, got '3' \(text\)$"):
        build_model("unet", "3")
    net = build_model("unet", 3, base_width=4).eval()
    for shape, words in (((1, 3, 100, 100), r"takes a height and width that are multiples of 16 px; this input is "
                                            r"100 x 100 px"),
                         ((1, 14, 64, 64), r"was built for 3 band\(s\); this input has 14"),
                         ((3, 64, 64), r"add the batch dimension")):
        with pytest.raises(LmhldError, match=words):
            net(torch.zeros(shape))
    assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)

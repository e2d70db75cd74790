"""The baselines. smp's: built without any download, local pretrained weights loaded and adapted to the bands,
clear errors for bad options and bad weight files, checkpoints that rebuild without the weights file. FCN-8s:
the paper's size and its bilinear upsampling. (Shapes, gradients, ONNX and training: with every network in
test_networks, test_onnx_export and test_trainer.)"""

from __future__ import annotations

import socket

import pytest
import torch
import torchvision

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.models import build_model
from lmhld_qgis.models.registry import stored_options
from lmhld_qgis.training.checkpoint import model_from_checkpoint, save_checkpoint

from ..helpers import RunsCode


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Any connection attempt fails the test; torch hub and Hugging Face caches point at an empty folder."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    cache = tmp_path / "cache"
    cache.mkdir()
    for var in ("TORCH_HOME", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(cache))
    return cache


# Millions of parameters with smp's defaults (ResNet-34 encoder, 4 bands). PSPNet runs the encoder to depth 3 only:
# the stages it never runs (layer3, layer4: 19.9 M) are dropped.
SMP_NAMES = ("deeplabv3plus", "linknet", "pspnet", "fpn")
DEFAULT_PARAMS_M = {"deeplabv3plus": 22.44, "linknet": 21.78, "pspnet": 1.50, "fpn": 23.16}


@pytest.mark.parametrize("name", SMP_NAMES)
def test_default_baselines_build_and_run_without_any_download(name, no_network):
    torch.manual_seed(0)
    model = build_model(name, 4).eval()  # the default encoder, resnet34, as the smp documentation builds it
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params / 1e6 == pytest.approx(DEFAULT_PARAMS_M[name], abs=0.01)
    with torch.no_grad():
        assert model(torch.randn(1, 4, 128, 128)).shape == (1, 1, 128, 128)
    assert list(no_network.iterdir()) == []  # nothing fetched, nothing cached


def torchvision_resnet18_file(path):
    """A state dict in the layout of torchvision's resnet18-f37072fd.pth (random values: nothing is downloaded)."""
    torch.manual_seed(3)
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, path)
    return state


@pytest.mark.parametrize("bands", [3, 4, 14])
def test_local_encoder_weights_load_and_adapt_to_the_bands(bands, tmp_path, no_network):
    saved = torchvision_resnet18_file(tmp_path / "resnet18.pth")
    model = build_model("linknet", bands, encoder="resnet18", encoder_weights=str(tmp_path / "resnet18.pth"))
    encoder = model.net.encoder
    assert torch.equal(encoder.layer3[1].conv2.weight, saved["layer3.1.conv2.weight"])
    assert torch.equal(encoder.bn1.running_mean, saved["bn1.running_mean"])
    conv1 = model.input_layer()
    assert conv1.in_channels == bands and model.input_layer_names() == ["net.encoder.conv1"]
    rgb = saved["conv1.weight"]
    if bands == 3:
        assert torch.equal(conv1.weight, rgb)
    else:  # smp's rule for pretrained filters: RGB cycled over the bands, scaled to keep the response
        for band in range(bands):
            assert torch.allclose(conv1.weight[:, band], rgb[:, band % 3] * 3 / bands)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, bands, 64, 64)).shape == (1, 1, 64, 64)


def test_checkpoint_rebuilds_without_the_weights_file(tmp_path):
    torchvision_resnet18_file(tmp_path / "resnet18.pth")
    options = {"encoder": "resnet18", "encoder_weights": str(tmp_path / "resnet18.pth")}
    model = build_model("fpn", 4, **options)
    assert stored_options(options) == {"encoder": "resnet18"}
    save_checkpoint(tmp_path / "c.pt", model, ModelCard("fpn", 4, model_options=stored_options(options)))
    (tmp_path / "resnet18.pth").unlink()
    loaded, card = model_from_checkpoint(tmp_path / "c.pt")
    assert card.model_options == {"encoder": "resnet18"}
    x = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))


def test_bad_weight_files_are_explained(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LmhldError, match="not found; give a local state-dict file"):
        build_model("linknet", 4, encoder="resnet18", encoder_weights=str(tmp_path / "missing.pth"))
    torchvision_resnet18_file(tmp_path / "resnet18.pth")
    with pytest.raises(LmhldError, match="do not fit this encoder"):  # resnet18 weights for a resnet34 encoder
        build_model("linknet", 4, encoder="resnet34", encoder_weights=str(tmp_path / "resnet18.pth"))
    torch.save({"x": RunsCode()}, tmp_path / "evil.pth")
    with pytest.raises(LmhldError, match="cannot be read as a state dict"):
        build_model("linknet", 4, encoder="resnet18", encoder_weights=str(tmp_path / "evil.pth"))
    assert not (tmp_path / "PWNED").exists()
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(LmhldError, match="no state dict of tensors"):
        build_model("linknet", 4, encoder="resnet18", encoder_weights=str(tmp_path / "list.pth"))


def test_bad_options_list_the_valid_ones():
    with pytest.raises(LmhldError, match=r"bad options for pspnet: base_width \(not an option of pspnet\); "
                                         r"valid options: encoder, .*psp_out_channels"):
        build_model("pspnet", 4, base_width=8)
    with pytest.raises(LmhldError, match="bad options for linknet: activation"):  # logits only, one output
        build_model("linknet", 4, activation="sigmoid")
    with pytest.raises(LmhldError, match="unknown encoder 'resnet7'"):
        build_model("fpn", 4, encoder="resnet7")


def test_size_multiples_follow_the_encoder_stride():
    assert {n: build_model(n, 4, encoder="resnet18").size_multiple for n in SMP_NAMES} == {
        "deeplabv3plus": 16, "linknet": 32, "pspnet": 8, "fpn": 32}
    assert build_model("linknet", 4, encoder="resnet18", encoder_depth=4).size_multiple == 16


@pytest.mark.parametrize("height, width, cells", [(8, 8, 6), (13, 7, 6), (5, 9, 3), (12, 12, 2), (3, 3, 6),
                                                  (40, 48, 1)])
def test_pspnet_pooling_matrices_equal_adaptive_average_pooling(height, width, cells):
    from lmhld_qgis.models.pspnet import adaptive_avg_pool2d

    x = torch.randn(2, 3, height, width)
    expected = torch.nn.functional.adaptive_avg_pool2d(x, cells)
    assert torch.allclose(adaptive_avg_pool2d(x, cells), expected, atol=1e-6)


def test_pspnet_computes_what_smp_computes():
    import segmentation_models_pytorch as smp

    torch.manual_seed(0)
    ours = build_model("pspnet", 4, encoder="resnet18").eval()
    theirs = smp.PSPNet(encoder_name="resnet18", encoder_weights=None, in_channels=4, classes=1).eval()
    missing, unexpected = theirs.load_state_dict(ours.net.state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith(("encoder.layer3", "encoder.layer4")) for k in missing)
    x = torch.randn(2, 4, 72, 88)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_encoder_stages_a_shallow_depth_never_runs_are_dropped():
    pspnet = build_model("pspnet", 4, encoder="resnet18")  # smp's PSPNet: encoder depth 3
    assert not hasattr(pspnet.net.encoder, "layer3") and not hasattr(pspnet.net.encoder, "layer4")
    assert len(pspnet.encoder_levels()) == 3  # stem, layer1, layer2
    linknet = build_model("linknet", 4, encoder="resnet18", encoder_depth=4)
    assert hasattr(linknet.net.encoder, "layer3") and not hasattr(linknet.net.encoder, "layer4")
    linknet.train()(torch.randn(2, 4, 64, 64)).mean().backward()
    assert [k for k, p in linknet.named_parameters() if p.grad is None] == []


def test_part_mode_levels_are_the_stem_and_the_residual_stages():
    model = build_model("deeplabv3plus", 4, encoder="resnet18")
    levels = model.encoder_levels()
    enc = model.net.encoder
    assert levels[2] is enc.layer2 and levels[4] is enc.layer4
    assert id(model.input_layer().weight) in {id(p) for p in levels[0].parameters()}
    assert {id(p) for p in enc.layer1.parameters()} <= {id(p) for p in levels[1].parameters()}


def test_fcn8s_has_the_papers_size_and_bilinear_upsampling():
    fcn = build_model("fcn8s", 3)
    assert sum(p.numel() for p in fcn.parameters()) / 1e6 == pytest.approx(134.3, abs=0.1)  # VGG-16 FCN-8s + BN
    assert fcn.size_multiple == 32 and len(fcn.encoder_levels()) == 5
    plain = build_model("fcn8s", 3, base_width=8, fc_channels=32, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    for deconv, factor in ((fcn.upscore2, 2), (fcn.upscore_pool4, 2), (fcn.upscore8, 8)):
        ramp = torch.arange(8.0).repeat(8, 1)[None, None]  # a linear ramp stays linear under bilinear upsampling
        with torch.no_grad():
            up = deconv(ramp)[0, 0]
        assert up.shape == (8 * factor, 8 * factor)
        inner = up[factor:-factor, factor:-factor]
        steps = inner[:, 1:] - inner[:, :-1]
        assert torch.allclose(steps, torch.full_like(steps, 1 / factor), atol=1e-5)

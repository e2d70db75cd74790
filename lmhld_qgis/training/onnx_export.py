"""ONNX export: one self-contained file (no external data), opset 18, the model card embedded as metadata.

What the file is, by default (see core/modelcard.py for the conventions):
- it takes raw pixel values: standardisation and nodata-to-mean are inside the graph, so any ONNX client that
  passes raw pixels (Deepness, onnxruntime by hand) gets the project's result;
- it declares its input as N x C x P x P, P the training patch size, the batch dynamic: what clients that read
  the tile size from the file need (Deepness does). The graph itself is exported with symbolic sizes and checked
  at another size, so `lmhld detect` runs the same file at any multiple of the network's stride (the backend
  relaxes the declared height and width, see core/backends.py). A network whose graph does not hold at other
  sizes is exported at P only (`dynamic_size: false`).

Two exporters, each result checked against torch at another batch and size: torch's TorchScript-based exporter
first (a quarter of a second for a U-Net), then the torch.export-based one (20-40 s for the same network on a CPU,
most of it decompositions) when the first fails, is not available (it is deprecated), or gives a graph that does
not hold. Every run ends with an export, so the first one saves most of the time a short run spends outside its
epochs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.atomic import atomic_file, scratch_dir
from ..core.errors import LmhldError
from ..core.modelcard import INPUTS, ModelCard, ModelInput, ModelOutput
from .relative import RelativeLevels

OPSET = 18
BACKGROUND_LOGIT = 20.0  # what a "raw" graph answers at missing pixels (as logits: sigmoid(-20) ~ 2e-9)


class _Graph(nn.Module):
    """What the ONNX graph computes: [raw pixels -> missing pixels to the band mean -> (x - mean) / std] ->
    relative-level bands lose the tile's level -> network -> sigmoid/softmax (unless logits) [-> background at
    missing pixels]."""

    mean: torch.Tensor
    std: torch.Tensor
    background: torch.Tensor

    def __init__(self, net: nn.Module, card: ModelCard, output: str, raw: bool) -> None:
        super().__init__()
        self.net, self.output, self.raw, self.nodata = net, output, raw, card.nodata
        c, k = card.in_channels, card.num_classes
        self.register_buffer("mean", torch.tensor(card.mean, dtype=torch.float32).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(card.safe_std, dtype=torch.float32).view(1, c, 1, 1))
        self.register_buffer("background", _background(k, output))
        self.relative = RelativeLevels.from_card(card.relative_bands, card.relative_scale, card.relative_surface,
                                                 card.relative_rough)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.raw:
            missing = ~torch.isfinite(x)
            if self.nodata is not None:
                missing = missing | (x == self.nodata)
            missing = missing.any(dim=1, keepdim=True)
            x = torch.where(missing, 0.0, (x - self.mean) / self.std)
            x = self.relative.apply(x, missing)
        else:
            x = self.relative.apply(x)  # standardized input: missing pixels are 0 in every band
        y = self.net(x)
        if self.output != "logits":
            y = _activate(y)
        return torch.where(missing, self.background, y) if self.raw else y


def _background(classes: int, output: str) -> torch.Tensor:
    """(1, K, 1, 1): a certain background, as probabilities (0, or one-hot on class 0) or as logits."""
    if output == "logits":
        values = torch.full((1, classes, 1, 1), -BACKGROUND_LOGIT)
        values[:, 0] = BACKGROUND_LOGIT if classes > 1 else -BACKGROUND_LOGIT
    else:
        values = torch.zeros(1, classes, 1, 1)
        values[:, 0] = 1.0 if classes > 1 else 0.0
    return values


def _activate(y: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(y) if y.shape[1] == 1 else torch.softmax(y, dim=1)


def export_onnx(model: nn.Module, card: ModelCard, out: str | Path, *, output: ModelOutput = "probability",
                dynamic: bool = True, input: ModelInput = "raw", fixed_input: bool = True) -> Path:
    """Export `model` (eval mode, CPU, float32) to `out` with `card` embedded (and updated); written atomically.

    output: "probability" or "logits"; dynamic: export a graph that computes at any multiple of the network's
    stride where the network allows; input: "raw" (normalisation in the graph) or "standardized";
    fixed_input: declare height = width = the patch size (else symbolic, which Deepness cannot load).
    """
    import onnx

    if output not in ("probability", "logits"):
        raise LmhldError(f"output must be 'probability' or 'logits', got {output!r}")
    if input not in INPUTS:
        raise LmhldError(f"input must be one of {', '.join(INPUTS)}, got {input!r}")
    model = model.eval().to("cpu", torch.float32)
    card.size_multiple = int(getattr(model, "size_multiple", card.size_multiple))
    card.output, card.input = output, input
    graph = _Graph(model, card, output, raw=input == "raw").eval()
    size = card.patch_size - card.patch_size % card.size_multiple or card.size_multiple
    proto = _export_checked(graph, card, size, dynamic)
    card.fixed_input = fixed_input or not card.dynamic_size
    if card.fixed_input:
        card.patch_size = size
        if card.dynamic_size:
            _declare_size(proto, size)
            problem = _check(proto, graph, (2, card.in_channels, size, size), card)
            if problem:  # not expected: only the declared shape changed
                raise LmhldError(f"{card.architecture}: the file declared at {size} px does not hold: {problem}")
    card.deepness_keys = card.runs_in_deepness
    for key, value in card.onnx_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"lmhld_qgis {card.architecture} landslide segmentation ({input} input, {output} output)"
    with atomic_file(out) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)
    return Path(out)


def _export_checked(graph: _Graph, card: ModelCard, size: int, dynamic: bool) -> Any:
    """The graph's ONNX model: at symbolic sizes when `dynamic` and the result holds, else at `size` only."""
    if dynamic:  # any batch and any size that is a multiple of size_multiple
        # torch.export fixes a dimension whose example is 1: trace at two multiples or more.
        traced = max(size, 2 * card.size_multiple)
        proto, problem = _checked_export(graph, card, traced, True)
        if problem:
            warnings.warn(f"{card.architecture}: dynamic-size export does not hold ({problem}); exporting at the "
                          f"fixed size {size}x{size}", stacklevel=3)
        else:
            card.dynamic_size = True
            return proto
    card.dynamic_size = False
    proto, problem = _checked_export(graph, card, size, False)
    if problem:
        raise LmhldError(f"{card.architecture} cannot be exported to ONNX with a dynamic batch: {problem}")
    return proto


def _checked_export(graph: _Graph, card: ModelCard, size: int, spatial: bool) -> tuple[Any, str | None]:
    """Export with a dynamic batch (and size when `spatial`); (model proto, None) if the graph holds, else
    (None, why).

    Some operations trace into index arithmetic fixed to the example's size (built-in adaptive pooling to 3x3 or
    6x6, which models/pspnet.py replaces for that reason): such a graph exports without complaint but fails or is
    wrong at other sizes. So the graph is run at another batch (and a non-square size) than the traced ones and
    compared with torch.
    """
    multiple = card.size_multiple
    shape = (1, card.in_channels, size + multiple, size + 2 * multiple) if spatial else (1, card.in_channels, size,
                                                                                           size)
    example = (torch.zeros(2, card.in_channels, size, size),)
    problems = []
    for name, exporter in (("TorchScript", _export_torchscript), ("torch.export", _export)):
        try:
            proto = exporter(graph, example, spatial=spatial, multiple=multiple)
        except Exception as exc:  # a network whose shapes cannot be symbolic, or an exporter torch no longer has
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # torch.export colours its messages
            problems.append(f"{name}: {type(exc).__name__}: {text.splitlines()[0] if text else ''}")
            continue
        problem = _check(proto, graph, shape, card)
        if problem is None:
            return proto, None
        problems.append(f"{name}: {problem}")
    return None, "; ".join(problems)


def _check_input(shape: tuple[int, ...], card: ModelCard, raw: bool) -> torch.Tensor:
    """Random pixels in the units the graph takes; a raw graph also gets missing pixels (NaN, nodata)."""
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    if raw:
        x = x * torch.tensor(card.safe_std).view(1, -1, 1, 1) + torch.tensor(card.mean).view(1, -1, 1, 1)
        x[:, 0, 1, 2] = float("nan")
        if card.nodata is not None:
            x[:, -1, 3, 1] = card.nodata
    return x


def _check(proto: Any, graph: _Graph, shape: tuple[int, ...], card: ModelCard) -> str | None:
    """None if onnxruntime runs `proto` at `shape` and agrees with torch; else what went wrong."""
    import onnxruntime as ort

    x = _check_input(shape, card, graph.raw)
    with torch.no_grad():
        expected = graph(x).numpy()
    try:
        quiet = ort.SessionOptions()
        quiet.log_severity_level = 4  # the failure is reported in the warning, not as an onnxruntime error line
        session = ort.InferenceSession(proto.SerializeToString(), quiet, providers=["CPUExecutionProvider"])
        got = session.run(None, {"image": x.numpy()})[0]
    except Exception as exc:
        return f"onnxruntime at {shape}: {str(exc).splitlines()[0]}"
    if got.shape != expected.shape:
        return f"output {got.shape} at input {shape}, torch gives {expected.shape}"
    err = float(np.abs(got - expected).max())
    if not err <= 1e-3 * max(1.0, float(np.abs(expected).max())):
        return f"differs from torch by {err:.3g} at input {shape}"
    return None


def _declare_size(proto: Any, size: int) -> None:
    """Declare input and output height and width as `size` (the batch stays symbolic). The intermediate shape
    annotations, in the symbolic sizes of the trace, are dropped: onnxruntime infers them again."""
    for value in (proto.graph.input[0], proto.graph.output[0]):
        for axis in (2, 3):
            dim = value.type.tensor_type.shape.dim[axis]
            dim.Clear()
            dim.dim_value = size
    del proto.graph.value_info[:]


def _export_torchscript(module: nn.Module, example: tuple[torch.Tensor, ...], *, spatial: bool,
                        multiple: int) -> Any:
    """The TorchScript-based exporter: a dynamic batch, and symbolic height and width when `spatial` (the check
    that follows tells whether the traced graph really holds at other sizes)."""
    import onnx

    axes = {0: "batch", 2: "height", 3: "width"} if spatial else {0: "batch"}
    with scratch_dir("onnx") as folder:  # swept if this process is killed: a later run removes it
        path = str(Path(folder) / "model.onnx")
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its deprecation notice: the fallback covers its removal
            torch.onnx.export(module, example, path, input_names=["image"], output_names=["output"],
                              opset_version=OPSET, dynamo=False, dynamic_axes={"image": axes, "output": axes},
                              do_constant_folding=True)
        return onnx.load(path)


def _export(module: nn.Module, example: tuple[torch.Tensor, ...], *, spatial: bool, multiple: int) -> Any:
    """The torch.export-based exporter: a dynamic batch; height and width symbolic multiples of `multiple` (up to
    4096 px) when `spatial`."""
    from torch.export import Dim

    shapes: dict[str, dict[int, object]] = {"x": {0: Dim("batch", min=1, max=1024)}}
    if spatial:
        hk, wk = Dim("hk", min=1, max=4096 // multiple), Dim("wk", min=1, max=4096 // multiple)
        shapes["x"].update({2: multiple * hk, 3: multiple * wk})
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)  # "torchvision is not installed" notices are noise here
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, example, input_names=["image"], output_names=["output"],
                                        opset_version=OPSET, dynamo=True, external_data=False,
                                        dynamic_shapes=shapes, verbose=False, optimize=True)
    finally:
        onnx_log.setLevel(level)
    if program is None:  # only when a file name is given
        raise RuntimeError("torch.onnx.export returned no program")
    return program.model_proto

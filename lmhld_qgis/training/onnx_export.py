"""ONNX export: one self-contained file (no external data), opset 18, dynamic batch/height/width where the network
allows (else the fixed size is recorded in the card), the model card embedded as metadata."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from ..core.atomic import atomic_file
from ..core.errors import LmhldError
from ..core.modelcard import ModelCard

OPSET = 18


class _Head(nn.Module):
    """The network plus its output activation, as the ONNX graph returns it."""

    def __init__(self, net: nn.Module, output: str) -> None:
        super().__init__()
        self.net, self.output = net, output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        if self.output == "logits":
            return y
        return torch.sigmoid(y) if y.shape[1] == 1 else torch.softmax(y, dim=1)


def export_onnx(model: nn.Module, card: ModelCard, out: str | Path, *, output: str = "probability",
                dynamic: bool = True) -> Path:
    """Export `model` (eval mode, CPU, float32) to `out` with `card` embedded; written atomically."""
    import onnx

    if output not in ("probability", "logits"):
        raise LmhldError(f"output must be 'probability' or 'logits', got {output!r}")
    model = model.eval().to("cpu", torch.float32)
    wrapped = _Head(model, output).eval()
    card.size_multiple = int(getattr(model, "size_multiple", card.size_multiple))
    size = card.patch_size - card.patch_size % card.size_multiple or card.size_multiple
    example = (torch.zeros(2, card.in_channels, size, size),)
    card.output = output
    program = None
    if dynamic:  # any batch and any size that is a multiple of size_multiple
        # torch.export fixes a dimension whose example is 1: trace at two multiples or more.
        traced = max(size, 2 * card.size_multiple)
        program, problem = _checked_export(wrapped, (torch.zeros(2, card.in_channels, traced, traced),), True,
                                           card.size_multiple)
        if problem:
            warnings.warn(f"{card.architecture}: dynamic-size export does not hold ({problem}); exporting at the "
                          f"fixed size {size}x{size}", stacklevel=2)
    card.dynamic_size = program is not None
    if program is None:  # any batch, the size of the example only
        program, problem = _checked_export(wrapped, example, False, card.size_multiple)
        if problem:
            raise LmhldError(f"{card.architecture} cannot be exported to ONNX with a dynamic batch: {problem}")
        card.patch_size = size
    proto = program.model_proto
    for key, value in card.onnx_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"lmhld_qgis {card.architecture} landslide segmentation"
    with atomic_file(out) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)
    return Path(out)


def _checked_export(module: nn.Module, example: tuple[torch.Tensor, ...], spatial: bool, multiple: int):
    """Export with a dynamic batch (and size when `spatial`); (program, None) if the graph holds, else (None, why).

    Some operations trace into index arithmetic fixed to the example's size (built-in adaptive pooling to 3x3 or
    6x6, which models/pspnet.py replaces for that reason): such a graph exports without complaint but fails or is
    wrong at other sizes. So the graph is run at another batch (and a non-square size) than the traced ones and
    compared with torch.
    """
    import numpy as np
    import onnxruntime as ort

    try:
        program = _export(module, example, spatial=spatial, multiple=multiple)
    except Exception as exc:  # a network whose shapes cannot be symbolic
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # torch.export colours its messages
        return None, f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
    _, channels, h, w = example[0].shape
    shape = (1, channels, h + multiple, w + 2 * multiple) if spatial else (1, channels, h, w)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = module(x).numpy()
    try:
        quiet = ort.SessionOptions()
        quiet.log_severity_level = 4  # the failure is reported in the warning, not as an onnxruntime error line
        session = ort.InferenceSession(program.model_proto.SerializeToString(), quiet,
                                       providers=["CPUExecutionProvider"])
        got = session.run(None, {"image": x.numpy()})[0]
    except Exception as exc:
        return None, f"onnxruntime at {shape}: {str(exc).splitlines()[0]}"
    if got.shape != expected.shape:
        return None, f"output {got.shape} at input {shape}, torch gives {expected.shape}"
    err = float(np.abs(got - expected).max())
    if not err <= 1e-3 * max(1.0, float(np.abs(expected).max())):
        return None, f"differs from torch by {err:.3g} at input {shape}"
    return program, None


def _export(module: nn.Module, example: tuple[torch.Tensor, ...], *, spatial: bool, multiple: int):
    """A dynamic batch; height and width symbolic multiples of `multiple` (up to 4096 px) when `spatial`."""
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
            return torch.onnx.export(module, example, input_names=["image"], output_names=["output"],
                                     opset_version=OPSET, dynamo=True, external_data=False, dynamic_shapes=shapes,
                                     verbose=False, optimize=True)
    finally:
        onnx_log.setLevel(level)

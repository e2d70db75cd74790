"""ONNX export: one self-contained file (no external data), opset 18, dynamic batch/height/width where the network
allows (else the fixed size is recorded in the card), the model card embedded as metadata."""

from __future__ import annotations

import contextlib
import io
import logging
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
    size = card.patch_size - card.patch_size % card.size_multiple or card.size_multiple
    example = (torch.zeros(2, card.in_channels, size, size),)
    program = None
    card.output = output
    if dynamic:
        try:
            program = _export(wrapped, example, dynamic=True)
            card.dynamic_size = True
        except Exception as exc:  # a network whose shapes cannot be symbolic: fall back to a fixed size
            warnings.warn(f"dynamic-shape export failed ({type(exc).__name__}); exporting at {size}x{size}",
                          stacklevel=2)
    if program is None:
        program = _export(wrapped, example, dynamic=False)
        card.dynamic_size = False
        card.patch_size = size
    proto = program.model_proto
    for key, value in card.onnx_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"lmhld_qgis {card.architecture} landslide segmentation"
    with atomic_file(out) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)
    return Path(out)


def _export(module: nn.Module, example: tuple[torch.Tensor, ...], *, dynamic: bool):
    from torch.export import Dim

    shapes = None
    if dynamic:
        batch = Dim("batch", min=1, max=1024)
        h16, w16 = Dim("h16", min=1, max=256), Dim("w16", min=1, max=256)
        shapes = {"x": {0: batch, 2: 16 * h16, 3: 16 * w16}}
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

"""PSPNet (Zhao et al. 2017): pyramid pooling at four scales over the encoder's stride-8 features, then
upsampling. A Landslide4Sense baseline; built by smp (encoder depth 3 by default, so inputs divide by 8).

Decoder options: `psp_out_channels` (512), `psp_dropout` (0.2), `upsampling` (8).

The pyramid's adaptive average pooling (to 1, 2, 3 and 6 cells) is computed here as two small averaging matrices
built from the input's size, exactly what `nn.AdaptiveAvgPool2d` computes. Traced by torch.export, the built-in
pooling (and smp's `interpolate(mode="area")` export path) turns into indices fixed to the traced size, and the
ONNX graph is wrong at any other size; the matrices keep the graph valid for every size, so PSPNet files are
dynamic like the others.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

from .smp_base import SmpNet


def adaptive_avg_pool2d(x: torch.Tensor, cells: int) -> torch.Tensor:
    """`F.adaptive_avg_pool2d(x, cells)` as `A_h @ x @ A_w^T`, with A built from the symbolic height and width."""
    return _pool_matrix(x.shape[-2], cells, x) @ x @ _pool_matrix(x.shape[-1], cells, x).transpose(0, 1)


def _pool_matrix(length: int, cells: int, like: torch.Tensor) -> torch.Tensor:
    """(cells, length): row i averages [floor(i*L/c), ceil((i+1)*L/c)), PyTorch's adaptive-pooling bins."""
    i = torch.arange(cells, device=like.device).unsqueeze(1)
    j = torch.arange(length, device=like.device).unsqueeze(0)
    start = (i * length) // cells
    end = ((i + 1) * length + cells - 1) // cells
    inside = (j >= start) & (j < end)
    matrix: torch.Tensor = inside.to(like.dtype) / (end - start).to(like.dtype)
    return matrix


@functools.cache  # one class per smp PSPBlock class
def _exportable_psp_block_class(base: type) -> type:
    class ExportablePSPBlock(base):  # type: ignore[misc]  # smp's class, known only at run time (smp is untyped)
        """smp's PSPBlock with the pooling above; same parameters, same state-dict keys."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            height, width = x.shape[2:]
            x = self.pool[1](adaptive_avg_pool2d(x, self.pool_size))
            return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=True)

    return ExportablePSPBlock


class PSPNet(SmpNet):
    ARCH = "pspnet"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from segmentation_models_pytorch.decoders.pspnet.decoder import PSPBlock

        exportable = _exportable_psp_block_class(PSPBlock)
        for module in self.net.decoder.modules():
            if type(module) is PSPBlock:
                module.__class__ = exportable
        if not any(isinstance(m, exportable) for m in self.net.decoder.modules()):
            raise RuntimeError("smp's PSPNet has no PSPBlock any more: update lmhld_qgis/models/pspnet.py")


"""U-Net++ (Zhou et al. 2018): nested, dense skip pathways X(i,j) between encoder and decoder, with optional deep
supervision on the four top nodes X(0,1..4) (their mean is the output, the paper's "accurate" mode)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import DoubleConv, SegmentationNet, unet_encoder, widths, xavier_init


class UNetPlusPlus(SegmentationNet):
    def __init__(self, in_channels: int, num_classes: int = 1, base_width: int = 64,
                 deep_supervision: bool = False) -> None:
        super().__init__(in_channels, num_classes)
        w = widths(base_width)
        self.encoder = unet_encoder(in_channels, w)
        # node (i, j), j >= 1: inputs are X(i,0..j-1) (j * w[i] channels) and up(X(i+1, j-1)) (w[i+1] channels)
        self.nodes = nn.ModuleDict({f"{i}_{j}": DoubleConv(j * w[i] + w[i + 1], w[i])
                                    for j in range(1, 5) for i in range(0, 5 - j)})
        self.deep_supervision = deep_supervision
        self.heads = nn.ModuleList([nn.Conv2d(w[0], num_classes, 1) for _ in range(4 if deep_supervision else 1)])
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        grid: dict[tuple[int, int], torch.Tensor] = {(i, 0): f for i, f in enumerate(self.encode(x))}
        for j in range(1, 5):
            for i in range(0, 5 - j):
                up = F.interpolate(grid[(i + 1, j - 1)], scale_factor=2.0, mode="bilinear", align_corners=False)
                grid[(i, j)] = self.nodes[f"{i}_{j}"](torch.cat([grid[(i, k)] for k in range(j)] + [up], dim=1))
        if not self.deep_supervision:
            out: torch.Tensor = self.heads[0](grid[(0, 4)])
            return out
        outs = [head(grid[(0, j)]) for head, j in zip(self.heads, range(4, 0, -1), strict=True)]
        return outs if self.training else torch.stack(outs).mean(dim=0)

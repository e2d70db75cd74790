"""Res U-Net (Zhang, Liu & Wang 2018, "Road extraction by deep residual U-Net"): pre-activation residual units,
downsampling by stride-2 convolutions, a residual bridge, and residual units in the decoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import ResidualUnit, SegmentationNet, widths, xavier_init


class ResUNet(SegmentationNet):
    def __init__(self, in_channels: int, num_classes: int = 1, base_width: int = 64) -> None:
        super().__init__(in_channels, num_classes)
        w = widths(base_width)
        self.encoder = nn.ModuleList([ResidualUnit(in_channels, w[0], first=True)] +
                                     [ResidualUnit(w[i - 1], w[i], stride=2) for i in range(1, 5)])
        self.decoder = nn.ModuleList([ResidualUnit(w[i + 1] + w[i], w[i]) for i in reversed(range(4))])
        self.head = nn.Conv2d(w[0], num_classes, 1)
        xavier_init(self)

    def input_layer_names(self) -> list[str]:
        return ["encoder.0.body.0", "encoder.0.shortcut.0"]  # the first unit's main path and its shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = self.encode(x)
        x = skips.pop()
        for dec in self.decoder:
            x = dec(torch.cat([F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False), skips.pop()],
                              dim=1))
        out: torch.Tensor = self.head(x)
        return out

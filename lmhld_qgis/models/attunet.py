"""Attention U-Net (Oktay et al. 2018): U-Net whose skip connections pass through additive attention gates
driven by the coarser decoder features."""

from __future__ import annotations

import torch
from torch import nn

from .base import AttentionGate, DoubleConv, SegmentationNet, unet_encoder, widths, xavier_init


class AttentionUNet(SegmentationNet):
    def __init__(self, in_channels: int, num_classes: int = 1, base_width: int = 64) -> None:
        super().__init__(in_channels, num_classes)
        w = widths(base_width)
        self.encoder = unet_encoder(in_channels, w)
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in reversed(range(4))])
        self.gates = nn.ModuleList([AttentionGate(w[i], w[i], max(w[i] // 2, 1)) for i in reversed(range(4))])
        self.decoder = nn.ModuleList([DoubleConv(2 * w[i], w[i]) for i in reversed(range(4))])
        self.head = nn.Conv2d(w[0], num_classes, 1)
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = self.encode(x)
        x = skips.pop()
        for up, gate, dec in zip(self.up, self.gates, self.decoder, strict=True):
            g = up(x)
            x = dec(torch.cat([gate(g, skips.pop()), g], dim=1))
        out: torch.Tensor = self.head(x)
        return out

"""U-Net (Ronneberger et al. 2015): a contracting path of double convolutions and a symmetric expanding path."""

from __future__ import annotations

import torch
from torch import nn

from .base import DoubleConv, SegmentationNet, decode_up, unet_encoder, widths, xavier_init


class UNet(SegmentationNet):
    def __init__(self, in_channels: int, num_classes: int = 1, base_width: int = 64) -> None:
        super().__init__(in_channels, num_classes)
        w = widths(base_width)
        self.encoder = unet_encoder(in_channels, w)
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in reversed(range(4))])
        self.decoder = nn.ModuleList([DoubleConv(2 * w[i], w[i]) for i in reversed(range(4))])
        self.head = nn.Conv2d(w[0], num_classes, 1)
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(decode_up(self.encode(x), self.up, self.decoder))
        return out

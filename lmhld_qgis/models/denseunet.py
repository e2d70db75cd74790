"""Dense U-Net: a U-Net whose units are dense blocks (Huang et al. 2017's DenseNet-BC layers, as in Dense-UNet
for segmentation, Li et al. 2018): every layer in a block sees all earlier feature maps of that block."""

from __future__ import annotations

import torch
from torch import nn

from .base import DenseBlock, SegmentationNet, conv_bn_relu, decode_up, widths, xavier_init


class DenseUNet(SegmentationNet):
    def __init__(self, in_channels: int, num_classes: int = 1, base_width: int = 64,
                 layers_per_block: int = 4) -> None:
        super().__init__(in_channels, num_classes)
        w = widths(base_width)
        stem = nn.Sequential(conv_bn_relu(in_channels, w[0]), DenseBlock(w[0], w[0], layers_per_block))
        down = [nn.Sequential(nn.MaxPool2d(2), DenseBlock(w[i - 1], w[i], layers_per_block)) for i in range(1, 5)]
        self.encoder = nn.ModuleList([stem, *down])
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in reversed(range(4))])
        self.decoder = nn.ModuleList([DenseBlock(2 * w[i], w[i], layers_per_block) for i in reversed(range(4))])
        self.head = nn.Conv2d(w[0], num_classes, 1)
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(decode_up(self.encode(x), self.up, self.decoder))
        return out

"""FCN-8s (Long, Shelhamer & Darrell 2015): a VGG-16 encoder whose fully connected layers become convolutions
(fc6 7x7, fc7 1x1), class scores upsampled by learned transposed convolutions (initialised to bilinear
interpolation) and fused with scores from pool4 and pool3: strides 32 -> 16 -> 8 -> 1. A baseline of both
Landslide4Sense (Table I) and the CAS dataset; smp has no FCN, so it is built here.

`batch_norm=True` (default) adds BatchNorm after each convolution (VGG-16-BN), since the baselines train from
scratch, as Landslide4Sense's did; `batch_norm=False` is the paper's plain VGG-16. Inputs divide by 32.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import SegmentationNet, xavier_init

VGG16_BLOCKS = (2, 2, 3, 3, 3)  # convolutions per block; each block ends with a 2x max-pool


def _conv(cin: int, cout: int, kernel: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    return [*layers, nn.ReLU(inplace=True)]


def _bilinear_(deconv: nn.ConvTranspose2d) -> None:
    """Set a (C, C, k, k) transposed convolution to per-channel bilinear upsampling, as the paper initialises."""
    k = deconv.kernel_size[0]
    centre = (k - 1) / 2 if k % 2 == 1 else k / 2 - 0.5
    f = 1 - torch.abs(torch.arange(k, dtype=torch.float32) - centre) / ((k + 1) // 2)
    kernel = f[:, None] * f[None, :]
    with torch.no_grad():
        deconv.weight.zero_()
        for c in range(min(deconv.in_channels, deconv.out_channels)):
            deconv.weight[c, c] = kernel


class FCN8s(SegmentationNet):
    size_multiple = 32

    def __init__(self, in_channels: int, num_classes: int = 1, base_width: int = 64, fc_channels: int = 4096,
                 batch_norm: bool = True, dropout: float = 0.5) -> None:
        super().__init__(in_channels, num_classes)
        w = [base_width, 2 * base_width, 4 * base_width, 8 * base_width, 8 * base_width]
        blocks, cin = [], in_channels
        for n_convs, cout in zip(VGG16_BLOCKS, w, strict=True):
            layers = []
            for _ in range(n_convs):
                layers += _conv(cin, cout, 3, batch_norm)
                cin = cout
            blocks.append(nn.Sequential(*layers, nn.MaxPool2d(2)))
        self.encoder = nn.ModuleList(blocks)
        self.fc = nn.Sequential(*_conv(w[4], fc_channels, 7, batch_norm), nn.Dropout2d(dropout),
                                *_conv(fc_channels, fc_channels, 1, batch_norm), nn.Dropout2d(dropout))
        self.score_fr = nn.Conv2d(fc_channels, num_classes, 1)
        self.score_pool4 = nn.Conv2d(w[3], num_classes, 1)
        self.score_pool3 = nn.Conv2d(w[2], num_classes, 1)
        self.upscore2 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.upscore8 = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, padding=4, bias=False)
        xavier_init(self)
        for deconv in (self.upscore2, self.upscore_pool4, self.upscore8):
            _bilinear_(deconv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, pool3, pool4, pool5 = self.encode(x)
        score = self.upscore2(self.score_fr(self.fc(pool5))) + self.score_pool4(pool4)
        score = self.upscore_pool4(score) + self.score_pool3(pool3)
        out: torch.Tensor = self.upscore8(score)
        return out

"""UNet 3+ (Huang et al. 2020): full-scale skip connections (every decoder node gathers all encoder scales and all
coarser decoder nodes, each mapped to `cat_channels`) and full-scale deep supervision. The paper's optional
classification-guided module is not included."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import SegmentationNet, conv_bn_relu, unet_encoder, widths, xavier_init


def _resize(x: torch.Tensor, level_from: int, level_to: int) -> torch.Tensor:
    """Move a feature map from one level's scale to another's (max-pool down, bilinear up)."""
    if level_from < level_to:
        k = 2 ** (level_to - level_from)
        return F.max_pool2d(x, k, k)
    if level_from > level_to:
        return F.interpolate(x, scale_factor=float(2 ** (level_from - level_to)), mode="bilinear", align_corners=False)
    return x


class UNet3Plus(SegmentationNet):
    def __init__(self, in_channels: int, num_classes: int = 1, base_width: int = 64, cat_channels: int | None = None,
                 deep_supervision: bool = True) -> None:
        super().__init__(in_channels, num_classes)
        w = widths(base_width)
        cat = cat_channels or w[0]
        up_channels = 5 * cat
        self.encoder = unet_encoder(in_channels, w)
        # decoder level d (3..0) takes: encoder levels 0..d (resized down) and decoder levels d+1..4 (resized up);
        # level 4 of the "decoder" is the encoder bottleneck itself.
        self.branches = nn.ModuleDict()
        for d in range(3, -1, -1):
            for src in range(5):
                cin = w[src] if src <= d or src == 4 else up_channels
                self.branches[f"{d}_{src}"] = conv_bn_relu(cin, cat)
        self.fuse = nn.ModuleList([conv_bn_relu(up_channels, up_channels) for _ in range(4)])  # index = level
        self.deep_supervision = deep_supervision
        self.heads = nn.ModuleList([nn.Conv2d(up_channels if lvl < 4 else w[4], num_classes, 3, padding=1)
                                    for lvl in range(5)])
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        enc = self.encode(x)
        dec: dict[int, torch.Tensor] = {4: enc[4]}
        for d in range(3, -1, -1):
            parts = [self.branches[f"{d}_{src}"](_resize(enc[src] if src <= d else dec[src], src, d))
                     for src in range(5)]
            dec[d] = self.fuse[d](torch.cat(parts, dim=1))
        main: torch.Tensor = self.heads[0](dec[0])
        if not (self.deep_supervision and self.training):
            return main
        return [main] + [_resize(self.heads[lvl](dec[lvl]), lvl, 0) for lvl in range(1, 5)]

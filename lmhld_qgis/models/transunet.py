"""TransUNet (Chen et al. 2021): a CNN encoder (residual stages) down to 1/16, a ViT transformer over the 1/16
feature grid (1x1 patches), and a cascaded upsampler (CUP) with CNN skips.

The learned position embeddings are defined on a reference grid (`img_size / 16`, 224 -> 14 x 14, as the paper)
and resized bilinearly to the grid of each input, so any size that is a multiple of 16 works.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import ResidualUnit, SegmentationNet, conv_bn_relu, widths, xavier_init


class TransformerBlock(nn.Module):
    """Pre-norm ViT block: multi-head self-attention and an MLP, each with a residual connection."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        out: torch.Tensor = x + self.mlp(self.norm2(x))
        return out


class ViTBottleneck(nn.Module):
    """1x1 patch embedding, resizable position embeddings, L transformer blocks, back to a feature map."""

    def __init__(self, cin: int, hidden: int, layers: int, heads: int, mlp_dim: int, grid: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Conv2d(cin, hidden, 1)
        self.pos = nn.Parameter(torch.zeros(1, hidden, grid, grid))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(hidden, heads, mlp_dim, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        n, c, h, w = x.shape
        # always resized (identity at the reference grid), so that exported graphs keep the grid symbolic
        pos = F.interpolate(self.pos, size=(h, w), mode="bilinear", align_corners=False)
        tokens = (x + pos).flatten(2).transpose(1, 2)  # N, HW, C
        encoded: torch.Tensor = self.norm(self.blocks(tokens))
        return encoded.transpose(1, 2).reshape(n, c, h, w)


class TransUNet(SegmentationNet):
    def __init__(self, in_channels: int, num_classes: int = 1, base_width: int = 64, hidden: int = 768,
                 layers: int = 12, heads: int = 12, mlp_dim: int = 3072, img_size: int = 224,
                 dropout: float = 0.1) -> None:
        super().__init__(in_channels, num_classes)
        w = widths(base_width)
        transformer = ViTBottleneck(w[4], hidden, layers, heads, mlp_dim, img_size // 16, dropout)
        self.encoder = nn.ModuleList(
            [nn.Sequential(conv_bn_relu(in_channels, w[0]), conv_bn_relu(w[0], w[0]))] +
            [nn.Sequential(ResidualUnit(w[i - 1], w[i], stride=2), ResidualUnit(w[i], w[i])) for i in range(1, 4)] +
            [nn.Sequential(ResidualUnit(w[3], w[4], stride=2), transformer)])
        self.bridge = conv_bn_relu(hidden, w[4])
        self.decoder = nn.ModuleList([nn.Sequential(conv_bn_relu(w[i + 1] + w[i], w[i]), conv_bn_relu(w[i], w[i]))
                                      for i in reversed(range(4))])
        self.head = nn.Conv2d(w[0], num_classes, 3, padding=1)
        xavier_init(self)
        nn.init.trunc_normal_(transformer.pos, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = self.encode(x)
        x = self.bridge(skips.pop())
        for dec in self.decoder:
            up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = dec(torch.cat([up, skips.pop()], dim=1))
        out: torch.Tensor = self.head(x)
        return out

"""Building blocks shared by the U-Net family, and the interface every network offers to the trainer.

Every network is a `SegmentationNet`: `encoder` is a ModuleList of levels from shallow to deep (part mode freezes
the first k-1 of them), `reset_input_layer` re-initialises (or resizes) the first convolution when a dataset
arrives, and `forward` returns logits (N, num_classes, H, W) for H and W multiples of 16 (a list of logits, main
output first, when deep supervision is on in training mode).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from ..core.errors import LmhldError

DEPTH = 4  # four 2x downsamplings: inputs must be multiples of 16


def _check_input(net: nn.Module, args: tuple[object, ...]) -> None:
    """Refuse an input a network cannot take, naming the rule: 14 bands into a 3-band network, or a 100 px patch
    into one that halves it four times, failed deep inside with torch's "Sizes of tensors must match" (skipped
    while the network is exported or compiled: they see only valid inputs)."""
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        return
    name = type(net).__name__
    if x.dim() != 4:
        raise LmhldError(f"{name} takes a batch shaped (N, bands, height, width); this input is shaped "
                         f"{tuple(x.shape)}: add the batch dimension (x[None]) for one image")
    bands, multiple = int(getattr(net, "in_channels", x.shape[1])), int(getattr(net, "size_multiple", 1))
    if x.shape[1] != bands:
        raise LmhldError(f"{name} was built for {bands} band(s); this input has {x.shape[1]}: give the bands it "
                         "was trained on, in their order")
    if x.shape[-2] % multiple or x.shape[-1] % multiple:
        raise LmhldError(f"{name} takes a height and width that are multiples of {multiple} px; this input is "
                         f"{x.shape[-2]} x {x.shape[-1]} px: pad or crop it (detection pads its tiles itself)")


def xavier_init(module: nn.Module) -> None:
    """Xavier (Glorot) initialisation of conv and linear layers, as the LMHLD paper; norms start at identity."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.LayerNorm | nn.GroupNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class DoubleConv(nn.Sequential):
    """(conv 3x3, BN, ReLU) x 2: the U-Net unit."""

    def __init__(self, cin: int, cout: int, mid: int | None = None) -> None:
        super().__init__(conv_bn_relu(cin, mid or cout), conv_bn_relu(mid or cout, cout))


class ResidualUnit(nn.Module):
    """Pre-activation residual unit (He et al. 2016), as Res U-Net (Zhang et al. 2018): BN-ReLU-conv x 2 + shortcut.

    `first=True` drops the leading BN-ReLU, since the input is the raw image.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, first: bool = False) -> None:
        super().__init__()
        pre = [] if first else [nn.BatchNorm2d(cin), nn.ReLU(inplace=False)]
        self.body = nn.Sequential(*pre, nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                  nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False))
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x) + self.shortcut(x)
        return out


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bottleneck) - BN-ReLU-conv3x3 producing `growth` new channels (DenseNet-BC)."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=False),
                                  nn.Conv2d(cin, 4 * growth, 1, bias=False), nn.BatchNorm2d(4 * growth),
                                  nn.ReLU(inplace=True),
                                  nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class DenseBlock(nn.Module):
    """`layers` densely connected layers, then a 1x1 transition to `cout` channels."""

    def __init__(self, cin: int, cout: int, layers: int = 4, growth: int | None = None) -> None:
        super().__init__()
        growth = growth or max(cout // 4, 4)
        self.layers = nn.Sequential(*[DenseLayer(cin + i * growth, growth) for i in range(layers)])
        self.transition = conv_bn_relu(cin + layers * growth, cout, kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.transition(self.layers(x))
        return out


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al. 2018): the decoder signal `g` weighs the skip features `x`."""

    def __init__(self, g_channels: int, x_channels: int, inter: int) -> None:
        super().__init__()
        self.w_g = nn.Sequential(nn.Conv2d(g_channels, inter, 1), nn.BatchNorm2d(inter))
        self.w_x = nn.Sequential(nn.Conv2d(x_channels, inter, 1), nn.BatchNorm2d(inter))
        self.psi = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(inter, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x * self.psi(self.w_g(g) + self.w_x(x))
        return out


def decode_up(skips: list[torch.Tensor], ups: nn.ModuleList, decoders: nn.ModuleList) -> torch.Tensor:
    """The U-Net expanding path: upsample, concatenate the skip of the same level, decode; deep to shallow."""
    x = skips.pop()
    for up, dec in zip(ups, decoders, strict=True):
        x = dec(torch.cat([skips.pop(), up(x)], dim=1))
    return x


def unet_encoder(in_channels: int, w: list[int]) -> nn.ModuleList:
    """The U-Net contracting path: a double convolution, then (max-pool, double convolution) per level."""
    return nn.ModuleList([DoubleConv(in_channels, w[0])] +
                         [nn.Sequential(nn.MaxPool2d(2), DoubleConv(w[i - 1], w[i])) for i in range(1, DEPTH + 1)])


def widths(base: int) -> list[int]:
    """Channel widths of the five levels (the papers use base 64: 64..1024)."""
    return [base * 2**i for i in range(DEPTH + 1)]


class SegmentationNet(nn.Module):
    """Common interface of the networks (see the module docstring)."""

    encoder: nn.ModuleList
    size_multiple: int = 2**DEPTH  # input height and width must divide by this

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be >= 1, got {in_channels}, {num_classes}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.deep_supervision = False
        self.register_forward_pre_hook(_check_input)

    def input_layer_names(self) -> list[str]:
        """Dotted names of the convolutions that see the image bands (the first one, unless a network says more)."""
        for name, module in self.named_modules():
            if isinstance(module, nn.Conv2d) and module.in_channels == self.in_channels:
                return [name]
        raise RuntimeError("network has no input convolution")

    def input_layer(self) -> nn.Conv2d:
        return self._input_conv(self.input_layer_names()[0])

    def _input_conv(self, name: str) -> nn.Conv2d:
        """The convolution `name` (input_layer_names only lists convolutions)."""
        return cast(nn.Conv2d, self.get_submodule(name))

    def reset_input_layer(self, in_channels: int | None = None) -> None:
        """Replace the input convolution(s) by freshly Xavier-initialised ones (for `in_channels` bands)."""
        names = self.input_layer_names()
        for name in names:
            old = self._input_conv(name)
            # torch types a built Conv2d's kernel_size/stride/padding as tuple[int, ...], its constructor as pairs
            new = nn.Conv2d(in_channels or old.in_channels, old.out_channels,
                            old.kernel_size, old.stride,  # type: ignore[arg-type]
                            old.padding, bias=old.bias is not None).to(old.weight.device)  # type: ignore[arg-type]
            xavier_init(new)
            parent_name, _, attr = name.rpartition(".")
            setattr(self.get_submodule(parent_name) if parent_name else self, attr, new)
        self.in_channels = in_channels or self.in_channels

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Run the encoder; the feature map of every level, shallow to deep (the last is the bottleneck)."""
        features = []
        for level in self.encoder:
            x = level(x)
            features.append(x)
        return features

    def encoder_levels(self) -> list[nn.Module]:
        """Encoder levels, shallow to deep; the input convolution belongs to level 0."""
        return list(self.encoder)

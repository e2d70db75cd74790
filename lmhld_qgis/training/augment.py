"""Normalisation and augmentation of a whole batch on the training device (the GPU when there is one).

A batch arrives as stored (raw band values, a 0/1 mask) and leaves normalised and augmented. Every random choice
comes from generators seeded by (seed, epoch, batch, rank), never from the global RNG, so a resumed run draws the
same augmentations as an uninterrupted one. Policies:
- "none": normalisation only;
- "flips": one of the 8 flips/90-degree rotations per sample (the paper's augmentation);
- "strong": the flips plus, per sample, a per-band sensor gain, scale (zoom in or out, image and mask resampled
  with the same grid), per-band contrast and brightness, Gaussian blur and noise: what changes between scenes,
  sensors and dates, so that a model trained on one area is less surprised by the next.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .relative import RelativeLevels


@dataclass(frozen=True)
class Strength:
    """The ranges of the "strong" policy (chosen to stay plausible for optical imagery)."""

    gain: float = 0.10  # per-band multiplicative sensor gain, 1 +- gain (raw values)
    contrast: float = 0.20  # per-band contrast, 1 +- contrast (normalised values)
    brightness: float = 0.20  # per-band offset, +- brightness standard deviations
    scale: float = 1.25  # zoom factor drawn log-uniformly in [1/scale, scale]
    scale_p: float = 0.5
    blur_p: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.2)  # pixels
    noise_p: float = 0.3
    noise_sigma: float = 0.10  # standard deviations


class BatchAugment:
    """Normalise and augment (N, C, H, W) raw images with their (N, H, W) or (N, 1, H, W) masks on one device."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], policy: str, seed: int,
                 device: torch.device, strength: Strength | None = None,
                 relative: RelativeLevels | None = None) -> None:
        self.mean = torch.tensor(list(mean), dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.policy, self.seed, self.device = policy, seed, device
        self.strength = strength or Strength()
        self.relative = relative or RelativeLevels()

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return self._levels((x.to(self.device, torch.float32) - self.mean) / self.std)

    def _levels(self, x: torch.Tensor) -> torch.Tensor:
        """Relative-level bands lose each patch's level last, after every augmentation, as at detection (training
        patches have no missing pixels)."""
        if not self.relative:
            return x
        return self.relative.apply(x, torch.zeros_like(x[:, :1], dtype=torch.bool))

    def __call__(self, x: torch.Tensor, y: torch.Tensor, key: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised, augmented float32 (image, mask) for the batch identified by `key` (epoch, batch, rank)."""
        mask = y.to(self.device, torch.float32)
        mask = mask if mask.dim() == 4 else mask[:, None]
        x = x.to(self.device, torch.float32)
        if self.policy == "none":
            return self._levels((x - self.mean) / self.std), mask
        cpu, dev = self._generators(key)
        n, c = x.shape[:2]
        strong = self.policy == "strong"
        if strong:
            x = x * (1 + self.strength.gain * (2 * torch.rand(n, c, 1, 1, generator=cpu) - 1)).to(self.device)
        x = (x - self.mean) / self.std
        x, mask = dihedral_batch(x, mask, torch.randint(0, 8, (n,), generator=cpu))
        if not strong:
            return self._levels(x), mask
        x, mask = self._scale(x, mask, cpu)
        x = self._photometric(x, cpu)
        x = self._blur(x, cpu)
        return self._levels(self._noise(x, cpu, dev)), mask

    def _generators(self, key: Sequence[int]) -> tuple[torch.Generator, torch.Generator]:
        seed = _seed_of(self.seed, *key)
        cpu = torch.Generator().manual_seed(seed)
        dev = torch.Generator(device=self.device).manual_seed(seed + 1)
        return cpu, dev

    def _scale(self, x: torch.Tensor, mask: torch.Tensor,
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        s = self.strength
        apply = torch.rand(n, generator=gen) < s.scale_p
        zoom = torch.exp((2 * torch.rand(n, generator=gen) - 1) * math.log(s.scale))
        shift = (2 * torch.rand(n, 2, generator=gen) - 1) * (1 - 1 / zoom).clamp(min=0)[:, None]
        if not bool(apply.any()):
            return x, mask
        zoom = torch.where(apply, zoom, torch.ones_like(zoom))
        shift = torch.where(apply[:, None], shift, torch.zeros_like(shift))
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1 / zoom
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta.to(self.device), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        mask = F.grid_sample(mask, grid, mode="nearest", padding_mode="reflection", align_corners=False)
        return x, mask

    def _photometric(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c = x.shape[:2]
        s = self.strength
        contrast = 1 + s.contrast * (2 * torch.rand(n, c, 1, 1, generator=gen) - 1)
        brightness = s.brightness * (2 * torch.rand(n, c, 1, 1, generator=gen) - 1)
        return x * contrast.to(self.device) + brightness.to(self.device)

    def _blur(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.strength
        apply = torch.rand(n, generator=gen) < s.blur_p
        low, high = s.blur_sigma
        sigma = low + (high - low) * torch.rand(n, generator=gen)
        if not bool(apply.any()):
            return x
        kernels = gaussian_kernels(torch.where(apply, sigma, torch.zeros_like(sigma)), radius=2)  # (n, 5, 5)
        weight = kernels.repeat_interleave(c, dim=0)[:, None].to(self.device)  # (n*c, 1, 5, 5)
        padded = F.pad(x.reshape(1, n * c, h, w), (2, 2, 2, 2), mode="reflect")
        return F.conv2d(padded, weight, groups=n * c).reshape(n, c, h, w)

    def _noise(self, x: torch.Tensor, gen: torch.Generator, dev: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        s = self.strength
        apply = torch.rand(n, generator=gen) < s.noise_p
        sigma = s.noise_sigma * torch.rand(n, generator=gen) * apply
        if not bool(apply.any()):
            return x
        noise = torch.randn(x.shape, generator=dev, device=self.device)
        return x + noise * sigma.to(self.device).view(n, 1, 1, 1)


def _seed_of(*parts: int) -> int:
    """One 63-bit seed from several integers (numpy's SeedSequence mixes them well)."""
    import numpy as np

    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def gaussian_kernels(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """(n, 2r+1, 2r+1) normalised Gaussian kernels; sigma 0 gives the identity kernel."""
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    safe = sigma.clamp(min=1e-3)[:, None]
    g = torch.exp(-(r[None] ** 2) / (2 * safe**2))
    g = g / g.sum(dim=1, keepdim=True)
    return g[:, :, None] * g[:, None, :]


def dihedral_batch(x: torch.Tensor, mask: torch.Tensor, ks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply flip/rotation k (0-7) to sample i of both tensors: k >= 4 flips the width, then k % 4 quarter turns
    (only half turns for non-square patches)."""
    square = x.shape[-1] == x.shape[-2]
    out_x, out_m = x.clone(), mask.clone()
    for k in range(8):
        turns = k % 4 if square else (k % 4) // 2 * 2
        if k == 0 or (turns == 0 and k < 4):
            continue
        idx = (ks == k).nonzero().flatten().to(x.device)
        if idx.numel() == 0:
            continue
        for src, dst in ((x, out_x), (mask, out_m)):
            part = src.index_select(0, idx)
            if k >= 4:
                part = part.flip(-1)
            dst[idx] = torch.rot90(part, turns, dims=(-2, -1))
    return out_x, out_m

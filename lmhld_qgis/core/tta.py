"""Test-time augmentation: a backend that averages the model's probabilities over flips (and 90-degree rotations)
of each square tile, each mapped back before averaging. Costs 4 (flips) or 8 (d4) predictions per tile."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .backends import Backend
from .errors import LmhldError
from .modelcard import ModelCard

TTA_MODES = ("none", "flips", "d4")

Transform = tuple[int, bool]  # (quarter turns, flip left-right first)


def transforms(mode: str) -> list[Transform]:
    """The dihedral transforms a mode averages over (the identity first)."""
    if mode == "flips":  # identity, left-right, up-down (= 2 turns after left-right), both (= 2 turns)
        return [(0, False), (0, True), (2, True), (2, False)]
    if mode == "d4":
        return [(k, flip) for flip in (False, True) for k in range(4)]
    raise LmhldError(f"test-time augmentation must be one of {', '.join(TTA_MODES)}, got {mode!r}")


def _forward(x: NDArray[Any], t: Transform) -> NDArray[Any]:
    turns, flip = t
    if flip:
        x = x[..., ::-1]
    return np.rot90(x, turns, axes=(-2, -1))


def _inverse(y: NDArray[Any], t: Transform) -> NDArray[Any]:
    turns, flip = t
    y = np.rot90(y, -turns, axes=(-2, -1))
    return y[..., ::-1] if flip else y


class TtaBackend:
    """Wraps a backend: same card, `predict` averaged over the mode's transforms."""

    def __init__(self, inner: Backend, mode: str) -> None:
        self.inner = inner
        self.transforms = transforms(mode)
        self.mode = mode
        self.card: ModelCard = inner.card
        self.provider: str = inner.provider

    def predict(self, batch: NDArray[Any]) -> NDArray[Any]:
        if batch.shape[-1] != batch.shape[-2]:
            raise LmhldError(f"test-time augmentation needs square tiles, got {batch.shape[-2:]}")
        total = np.zeros(batch.shape[:1] + batch.shape[2:], np.float32)
        for t in self.transforms:
            total += _inverse(self.inner.predict(np.ascontiguousarray(_forward(batch, t))), t)
        return total / len(self.transforms)


def with_tta(backend: Backend, mode: str) -> Backend:
    """The backend itself for mode "none", else the averaging wrapper."""
    if mode == "none":
        return backend
    return TtaBackend(backend, mode)


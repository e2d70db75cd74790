"""Train/val/test splits whose landslide-pixel proportions agree (LMHLD Table 2: within 1 percentage point).

Two methods share one optimiser over groups of patches:
- "balanced": every patch is its own group (the paper's split). Neighbouring patches can land in different
  splits, so validation and test scores are optimistic where patches touch (spatial leakage).
- "block": patches are grouped in square blocks of `block` x `block` grid cells and whole blocks are assigned,
  so train and test are spatially apart. Fewer, larger units make ratios and proportions harder to meet.

Deterministic for a seed. The counts follow the ratios (largest-remainder rounding at patch level, as close as
whole blocks allow for "block"); when the proportions cannot be brought within the tolerance it fails clearly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import LmhldError

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class SplitResult:
    labels: np.ndarray  # per patch: 0 train, 1 val, 2 test
    counts: dict[str, int]
    proportions: dict[str, float]  # landslide pixels / pixels per split
    spread: float  # max - min proportion over non-empty splits
    method: str

    def summary(self) -> dict:
        return {"method": self.method, "counts": self.counts, "landslide_proportion": self.proportions,
                "max_proportion_difference": self.spread}


def parse_ratios(text: str | Sequence[float]) -> tuple[float, float, float]:
    values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    if len(values) != 3 or any(v < 0 for v in values) or not 0.999 <= sum(values) <= 1.001:
        raise LmhldError(f"split must be three non-negative ratios summing to 1 (train,val,test), got {text}")
    return values[0], values[1], values[2]


def target_counts(n: int, ratios: Sequence[float]) -> np.ndarray:
    """Largest-remainder rounding of n * ratios."""
    raw = np.asarray(ratios, dtype=float) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts


def split_patches(positives: Sequence[int], totals: Sequence[int], *, ratios: Sequence[float] = (0.7, 0.2, 0.1),
                  seed: int = 0, tolerance: float = 0.01, groups: Sequence[int] | None = None,
                  method: str = "balanced") -> SplitResult:
    """Assign patches to train/val/test; `groups` (e.g. spatial blocks) are kept whole."""
    positives = np.asarray(positives, dtype=np.int64)
    totals = np.asarray(totals, dtype=np.int64)
    n = len(positives)
    ratios = np.asarray(parse_ratios(list(ratios)))
    need = int((ratios > 0).sum())
    if n < need:
        raise LmhldError(f"only {n} patch(es) kept; a {'/'.join(f'{r:.0%}' for r in ratios)} split needs at "
                         f"least {need}; lower the minimum landslide fraction, the patch size, or add imagery")
    group_ids = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(group_ids.max()) + 1
    g_count = np.bincount(group_ids, minlength=n_groups)
    g_pos = np.bincount(group_ids, weights=positives, minlength=n_groups)
    g_tot = np.bincount(group_ids, weights=totals, minlength=n_groups)
    if n_groups < need:
        raise LmhldError(f"{n_groups} spatial block(s) cannot fill {need} splits; use a smaller block or the "
                         "balanced split")
    targets = target_counts(n, ratios)
    for k in np.flatnonzero((ratios > 0) & (targets == 0)):  # every requested split gets at least one patch
        targets[int(np.argmax(targets))] -= 1
        targets[k] = 1
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(8 if groups is None else 64):
        labels = _assign(g_count, g_pos, g_tot, targets, rng)
        labels = _improve(labels, g_count, g_pos, g_tot, targets, rng)
        score = _score(labels, g_count, g_pos, g_tot, targets)
        if best is None or score < best[0]:
            best = (score, labels)
        if score[0] == 0 and score[1] <= tolerance / 4:
            break
    labels = best[1][group_ids]
    result = _result(labels, positives, totals, method)
    if result.spread > tolerance:
        raise LmhldError(
            f"cannot split {n} patches ({n_groups} groups) so that landslide proportions agree within "
            f"{tolerance * 100:.1f} points (best: {result.spread * 100:.2f} points, {result.proportions}); "
            + ("use smaller blocks, the balanced split, or a larger --tolerance" if groups is not None
               else "export more patches or allow a larger --tolerance"))
    return result


def _assign(g_count, g_pos, g_tot, targets, rng) -> np.ndarray:
    """Stratified start: groups in order of landslide fraction (random ties), each to the split furthest behind."""
    frac = g_pos / np.maximum(g_tot, 1)
    order = np.lexsort((rng.random(len(frac)), frac))
    labels = np.empty(len(frac), dtype=np.int64)
    filled = np.zeros(3)
    wanted = np.maximum(targets.astype(float), 1e-9)
    for g in order:
        deficit = np.where(targets > 0, (targets - filled) / wanted, -np.inf)
        k = int(np.argmax(deficit + rng.random(3) * 1e-9))
        labels[g] = k
        filled[k] += g_count[g]
    return labels


def _score(labels, g_count, g_pos, g_tot, targets) -> tuple[int, float]:
    counts = np.bincount(labels, weights=g_count, minlength=3)
    pos = np.bincount(labels, weights=g_pos, minlength=3)
    tot = np.bincount(labels, weights=g_tot, minlength=3)
    active = targets > 0
    if (counts[active] == 0).any():
        return (10**9, 1.0)
    props = pos[active] / np.maximum(tot[active], 1)
    return int(np.abs(counts - targets).sum()), float(props.max() - props.min())


def _improve(labels, g_count, g_pos, g_tot, targets, rng, rounds: int = 2000) -> np.ndarray:
    """Random moves and swaps between splits, kept when they lower (count error, proportion spread)."""
    labels = labels.copy()
    score = _score(labels, g_count, g_pos, g_tot, targets)
    n = len(labels)
    if n < 2:
        return labels
    for _ in range(rounds):
        i, j = rng.integers(0, n, size=2)
        if labels[i] == labels[j]:
            k = int(rng.integers(0, 3))
            if targets[k] == 0 or k == labels[i]:
                continue
            trial = labels.copy()
            trial[i] = k
        else:
            trial = labels.copy()
            trial[i], trial[j] = labels[j], labels[i]
        new = _score(trial, g_count, g_pos, g_tot, targets)
        if new < score:
            labels, score = trial, new
        if score[0] == 0 and score[1] < 1e-4:
            break
    return labels


def _result(labels, positives, totals, method) -> SplitResult:
    counts, props = {}, {}
    for k, name in enumerate(SPLIT_NAMES):
        sel = labels == k
        counts[name] = int(sel.sum())
        props[name] = float(positives[sel].sum() / totals[sel].sum()) if sel.any() else float("nan")
    valid = [p for p in props.values() if p == p]
    return SplitResult(labels, counts, props, float(max(valid) - min(valid)), method)


def block_ids(rows: Sequence[int], cols: Sequence[int], patch_size: int, block: int) -> np.ndarray:
    """Spatial block of each patch: grid cells of `block` x `block` patches (per source raster via offsets)."""
    rows = np.asarray(rows) // (patch_size * block)
    cols = np.asarray(cols) // (patch_size * block)
    return rows * 1_000_003 + cols

"""Train/val/test splits whose landslide-pixel proportions agree (LMHLD Table 2: within 1 percentage point).

Two methods share one optimiser over groups of patches:
- "balanced": every patch is its own group (the paper's split). Neighbouring patches can land in different
  splits, so validation and test scores are optimistic where patches touch (spatial leakage).
- "block": patches are grouped in square blocks of `block` x `block` grid cells and whole blocks are assigned,
  so train and test are spatially apart. Fewer, larger units make ratios and proportions harder to meet:
  `split_in_blocks` halves the block until a split fits, so small datasets still get the most spatial split
  they allow.
`train_neighbour_share` measures the leakage either way.

Deterministic for a seed. The counts follow the ratios (largest-remainder rounding at patch level, as close as
whole groups allow); every split with a share gets landslide pixels when the groups allow it; when the
proportions cannot be brought within the tolerance it fails clearly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .errors import LmhldError

SPLIT_NAMES = ("train", "val", "test")
SplitMethod = Literal["balanced", "block"]
SPLIT_METHODS: tuple[SplitMethod, ...] = ("balanced", "block")
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Score = tuple[int, float]


@dataclass
class SplitResult:
    labels: IntArray  # per patch: 0 train, 1 val, 2 test
    counts: dict[str, int]
    proportions: dict[str, float]  # landslide pixels / pixels per split
    spread: float  # max - min proportion over non-empty splits
    method: str
    block: int | None = None  # block side (patches) actually used by the block method

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "counts": self.counts, "landslide_proportion": self.proportions,
                "max_proportion_difference": self.spread}


@dataclass
class _Groups:
    """Per-group sums the optimiser works on."""

    count: FloatArray
    pos: FloatArray
    tot: FloatArray
    targets: IntArray
    total: int  # patches
    n_positive: int  # groups holding landslide pixels
    fixed: int = -1  # the group that stays in training (-1: none)

    @classmethod
    def of(cls, group_ids: IntArray, positives: IntArray, totals: IntArray, targets: IntArray) -> _Groups:
        n_groups = int(group_ids.max()) + 1
        pos = np.bincount(group_ids, weights=positives, minlength=n_groups).astype(np.float64)
        tot = np.bincount(group_ids, weights=totals, minlength=n_groups).astype(np.float64)
        return cls(np.bincount(group_ids, minlength=n_groups).astype(np.float64), pos, tot, targets, len(group_ids),
                   int((pos > 0).sum()))

    @property
    def n(self) -> int:
        return len(self.count)

    @functools.cached_property
    def target_list(self) -> list[int]:
        return [int(t) for t in self.targets]

    @functools.cached_property
    def active(self) -> list[int]:
        """The splits that get patches."""
        return [k for k in range(3) if self.targets[k] > 0]


def parse_ratios(text: str | Sequence[float]) -> tuple[float, float, float]:
    values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    if len(values) != 3 or any(v < 0 for v in values) or not 0.999 <= sum(values) <= 1.001:
        raise LmhldError(f"split must be three non-negative ratios summing to 1 (train,val,test), got {text}")
    return values[0], values[1], values[2]


def target_counts(n: int, ratios: Sequence[float] | FloatArray) -> IntArray:
    """Largest-remainder rounding of n * ratios."""
    raw = np.asarray(ratios, dtype=float) * n
    counts: IntArray = np.floor(raw).astype(np.int64)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - int(counts.sum())]:
        counts[i] += 1
    return counts


def split_patches(positives: Sequence[int] | IntArray, totals: Sequence[int] | IntArray, *,
                  ratios: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0, tolerance: float = 0.01,
                  groups: Sequence[int] | IntArray | None = None, method: str = "balanced",
                  strict: bool = True, train_only: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
                  more_patches: str = "") -> SplitResult:
    """Assign patches to train/val/test; `groups` (e.g. spatial blocks) are kept whole; `train_only` patches stay
    in training (they count towards its size and proportion; validation and test come from the others). Not
    `strict`: the best split is returned even when its proportions differ by more than the tolerance (the caller
    says so). `more_patches`: how the caller's user gets more patches, for the messages that ask for them
    (default: export's)."""
    pos = np.asarray(positives, dtype=np.int64)
    tot = np.asarray(totals, dtype=np.int64)
    n = len(pos)
    ratio_arr = np.asarray(parse_ratios(list(ratios)))
    need = int((ratio_arr > 0).sum())
    if n < need:
        raise LmhldError(f"only {n} patch(es) kept; a {'/'.join(f'{r:.0%}' for r in ratio_arr)} split needs at "
                         f"least {need}; "
                         f"{more_patches or 'lower the minimum landslide fraction, the patch size, or add imagery'}")
    group_ids = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    pinned = np.zeros(n, bool) if train_only is None else np.asarray(train_only, bool)
    if pinned.any():  # one group, never moved
        group_ids = np.unique(np.where(pinned, -1, group_ids), return_inverse=True)[1]  # the pinned group is 0
    n_groups = int(group_ids.max()) + 1
    if n_groups - int(pinned.any()) < need - int(pinned.any() and ratio_arr[0] > 0):
        raise LmhldError(f"{n_groups} spatial block(s) cannot fill {need} splits; use a smaller block or the "
                         "balanced split")
    g = _Groups.of(group_ids, pos, tot, _targets(n, ratio_arr))
    g.fixed = 0 if pinned.any() else -1
    # per patch: 8 tries of 2000 moves (the paper's split, unchanged); groups: fewer, larger units, so 16 tries
    # that stop after 500 moves without a gain
    rng = np.random.default_rng(seed)
    labels = (_best_labels(g, rng, tolerance, tries=8) if groups is None
              else _best_labels(g, rng, tolerance, tries=16, patience=500))[group_ids]
    result = _result(labels, pos, tot, method)
    if strict and result.spread > tolerance:
        raise _unbalanced(result, n_groups, tolerance, groups is not None, more_patches)
    return result


def in_points(tolerance: float) -> str:
    """A tolerance (a share) as the points it means: 0.01 -> "1 point", 0.02 -> "2 points"."""
    return f"{tolerance * 100:g} point{'' if tolerance == 0.01 else 's'}"


def _unbalanced(result: SplitResult, n_groups: int, tolerance: float, grouped: bool,
                more_patches: str = "") -> LmhldError:
    # the tolerance is a fraction (0.01 is the paper's 1 point): name the value that admits this split, since a
    # user reading "points" would otherwise type 5.0 for 5 points
    enough = math.ceil(result.spread * 100 + 1e-9) / 100
    larger = (f"a larger --tolerance (a fraction: --tolerance {enough:.2f} admits these {result.spread * 100:.2f} "
              "points)")
    return LmhldError(
        f"cannot split {len(result.labels)} patches ({n_groups} groups) so that landslide proportions agree within "
        f"{in_points(tolerance)} (--tolerance {tolerance:g}; "
        f"best: {result.spread * 100:.2f} points, "
        f"{result.proportions}); "
        + (f"use smaller blocks, the balanced split, or {larger}" if grouped
           else f"{more_patches or 'export more patches'} or allow {larger}"))


def split_in_blocks(positives: IntArray, totals: IntArray, block_keys: IntArray, rows: IntArray, cols: IntArray,
                    patch_size: int, *, block: int, ratios: Sequence[float], seed: int, tolerance: float,
                    max_count_error: float = 0.2, strict: bool = True,
                    train_only: npt.NDArray[np.bool_] | None = None) -> SplitResult:
    """The block split with the largest block (from `block`, halving down to 1) that fills every split within the
    tolerance and keeps the counts within `max_count_error` of the ratios. `block_keys` separates sources;
    `rows`/`cols` place each patch (pixels). When no block fits the tolerance: fails like `split_patches`, or,
    not `strict`, returns the split whose proportions agree best (a dataset too small to balance)."""
    n = len(positives)
    error: LmhldError | None = None
    best: SplitResult | None = None
    side = max(1, int(block))
    while True:
        groups = block_keys * 10**12 + block_ids(rows, cols, patch_size, side)
        try:
            result = split_patches(positives, totals, ratios=ratios, seed=seed, tolerance=tolerance, groups=groups,
                                   method="block", strict=False, train_only=train_only)
            result.block = side
            off = int(np.abs(np.array(list(result.counts.values())) - _targets(n, np.asarray(ratios))).sum())
            if result.spread <= tolerance and (off <= max(1, max_count_error * n) or side == 1):
                return result
            if best is None or result.spread < best.spread:
                best = result
        except LmhldError as exc:  # too few blocks for the splits
            error = exc
        if side == 1:
            break
        side = max(1, side // 2)
    if best is None:
        assert error is not None
        raise error
    if strict:
        raise _unbalanced(best, len(np.unique(groups)), tolerance, True)
    return best


def train_neighbour_share(rows: IntArray, cols: IntArray, keys: IntArray, labels: IntArray,
                          patch_size: int) -> float:
    """Of the kept grid neighbours (8-connected) of validation and test patches, the share that are training
    patches: how much of what surrounds the held-out data the model trained on. About the train ratio for a
    per-patch split (0.7: neighbours share landslides and context, so held-out scores are optimistic); small for
    a block split, where only block edges touch."""
    cells = {(int(k), int(r) // patch_size, int(c) // patch_size): int(lab)
             for k, r, c, lab in zip(keys, rows, cols, labels, strict=True)}
    links = train = 0
    for (k, r, c), lab in cells.items():
        if lab == 0:
            continue
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                other = cells.get((k, r + dr, c + dc))
                if (dr or dc) and other is not None:
                    links += 1
                    train += other == 0
    return train / links if links else 0.0


def _targets(n: int, ratios: FloatArray) -> IntArray:
    """Counts per split, every requested split getting at least one patch."""
    targets = target_counts(n, ratios)
    for k in np.flatnonzero((ratios > 0) & (targets == 0)):
        targets[int(np.argmax(targets))] -= 1
        targets[k] = 1
    return targets


def _best_labels(g: _Groups, rng: np.random.Generator, tolerance: float, tries: int,
                 patience: int | None = None) -> IntArray:
    best: tuple[Score, IntArray] | None = None
    for _ in range(tries):
        labels = _improve(_assign(g, rng), g, rng, patience=patience)
        score = _score(labels, g)
        if best is None or score < best[0]:
            best = (score, labels)
        if score[0] == 0 and score[1] <= tolerance / 4:
            break
    assert best is not None
    return best[1]


def _assign(g: _Groups, rng: np.random.Generator) -> IntArray:
    """Stratified start: groups in order of landslide fraction (random ties), each to the split furthest behind."""
    frac = g.pos / np.maximum(g.tot, 1)
    order = np.lexsort((rng.random(len(frac)), frac))
    labels = np.empty(len(frac), dtype=np.int64)
    filled = np.zeros(3)
    wanted = np.maximum(g.targets.astype(float), 1e-9)
    if g.fixed >= 0:
        labels[g.fixed] = 0
        filled[0] += g.count[g.fixed]
        order = order[order != g.fixed]
    for i in order:
        deficit = np.where(g.targets > 0, (g.targets - filled) / wanted, -np.inf)
        k = int(np.argmax(deficit + rng.random(3) * 1e-9))
        labels[i] = k
        filled[k] += g.count[i]
    return labels


def _score(labels: IntArray, g: _Groups) -> Score:
    """(count error plus a penalty per split left without landslides, proportion spread): lower is better."""
    sums = [np.bincount(labels, weights=w, minlength=3).tolist() for w in (g.count, g.pos, g.tot)]
    return _score_sums(sums[0], sums[1], sums[2], g)


def _score_sums(counts: list[float], pos: list[float], tot: list[float], g: _Groups) -> Score:
    """`_score` from per-split sums (plain floats: the optimiser calls it some 100,000 times)."""
    targets, active = g.target_list, g.active
    if any(counts[k] == 0 for k in active):
        return (10**9, 1.0)
    props = [pos[k] / max(tot[k], 1) for k in active]
    error = int(sum(abs(counts[k] - targets[k]) for k in range(3)))
    if g.n_positive >= len(active):  # enough landslide groups to give every split some
        error += g.total * sum(1 for k in active if pos[k] == 0)
    return error, float(max(props) - min(props))


def _improve(labels: IntArray, g: _Groups, rng: np.random.Generator, rounds: int = 2000,
             patience: int | None = None) -> IntArray:
    """Random moves and swaps between splits, kept when they lower (count error, proportion spread), for `rounds`
    moves or until `patience` moves in a row gain nothing. Per-split sums are updated by each move's difference
    (exact: they hold whole pixel and patch counts)."""
    labels = labels.copy()
    sums = [np.bincount(labels, weights=w, minlength=3).tolist() for w in (g.count, g.pos, g.tot)]
    score = _score_sums(sums[0], sums[1], sums[2], g)
    if g.n < 2:
        return labels
    columns = [g.count.tolist(), g.pos.tolist(), g.tot.tolist()]
    targets = g.target_list
    last_gain = 0
    for step in range(rounds):
        if patience is not None and step - last_gain > patience:
            break
        i, j = (int(v) for v in rng.integers(0, g.n, size=2))
        if g.fixed in (i, j):
            continue
        a, b = int(labels[i]), int(labels[j])
        if a == b:
            k = int(rng.integers(0, 3))
            if targets[k] == 0 or k == a:
                continue
            moves = [(i, a, k)]
        else:
            moves = [(i, a, b), (j, b, a)]
        trial = [list(col) for col in sums]
        for group, src, dst in moves:
            for col, values in zip(trial, columns, strict=True):
                col[src] -= values[group]
                col[dst] += values[group]
        new = _score_sums(trial[0], trial[1], trial[2], g)
        if new < score:
            sums, score, last_gain = trial, new, step
            for group, _, dst in moves:
                labels[group] = dst
        if score[0] == 0 and score[1] < 1e-4:
            break
    return labels


def _result(labels: IntArray, positives: IntArray, totals: IntArray, method: str) -> SplitResult:
    counts, props = {}, {}
    for k, name in enumerate(SPLIT_NAMES):
        sel = labels == k
        counts[name] = int(sel.sum())
        props[name] = float(positives[sel].sum() / totals[sel].sum()) if sel.any() else float("nan")
    valid = [p for p in props.values() if p == p]
    return SplitResult(labels, counts, props, float(max(valid) - min(valid)), method)


def block_ids(rows: Sequence[int] | IntArray, cols: Sequence[int] | IntArray, patch_size: int,
              block: int) -> IntArray:
    """Spatial block of each patch: grid cells of `block` x `block` patches (per source raster via offsets)."""
    r = np.asarray(rows, dtype=np.int64) // (patch_size * block)
    c = np.asarray(cols, dtype=np.int64) // (patch_size * block)
    return r * 1_000_003 + c

"""Balanced and spatial-block splits: ratios, landslide proportions within 1 point, determinism, clear failure."""

from __future__ import annotations

import numpy as np
import pytest

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.splits import block_ids, split_patches, target_counts


def random_patches(n, seed=0, size=64):
    rng = np.random.default_rng(seed)
    totals = np.full(n, size * size)
    positives = (rng.beta(2, 5, n) * 0.9 * totals + 0.1 * totals).astype(int)
    return positives, totals


def test_target_counts_use_largest_remainder():
    assert target_counts(100, (0.7, 0.2, 0.1)).tolist() == [70, 20, 10]
    assert target_counts(13, (0.7, 0.2, 0.1)).tolist() == [9, 3, 1]
    assert target_counts(13, (0.7, 0.2, 0.1)).sum() == 13


@pytest.mark.parametrize("n", [30, 57, 400, 3000])
def test_counts_follow_ratios_and_proportions_agree(n):
    pos, tot = random_patches(n, seed=n)
    res = split_patches(pos, tot, seed=3)
    assert [res.counts[k] for k in ("train", "val", "test")] == target_counts(n, (0.7, 0.2, 0.1)).tolist()
    assert res.spread <= 0.01
    props = [pos[res.labels == k].sum() / tot[res.labels == k].sum() for k in range(3)]
    assert max(props) - min(props) == pytest.approx(res.spread)


def test_deterministic_for_a_seed():
    pos, tot = random_patches(300)
    a, b, c = (split_patches(pos, tot, seed=s).labels for s in (7, 7, 8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_impossible_balance_fails_clearly():
    with pytest.raises(LmhldError, match=r"cannot split 3 patches .* within 1.0 points"):
        split_patches([400, 2000, 3600], [4096] * 3)
    with pytest.raises(LmhldError, match="needs at least 3"):
        split_patches([400, 500], [4096] * 2)


def test_block_split_keeps_blocks_whole():
    rows, cols = np.meshgrid(np.arange(0, 64 * 40, 64), np.arange(0, 64 * 40, 64), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    pos, tot = random_patches(len(rows), seed=1)
    blocks = block_ids(rows, cols, 64, 4)
    res = split_patches(pos, tot, groups=blocks, method="block", tolerance=0.02)
    for b in np.unique(blocks):
        assert len(set(res.labels[blocks == b].tolist())) == 1
    assert abs(res.counts["train"] / len(rows) - 0.7) < 0.05 and res.spread <= 0.02

"""Balanced and spatial-block splits: ratios, landslide proportions within 1 point, determinism, clear failure."""

from __future__ import annotations

import numpy as np
import pytest

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.splits import (
    block_ids,
    split_in_blocks,
    split_patches,
    target_counts,
    train_neighbour_share,
)


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
    with pytest.raises(LmhldError, match=r"cannot split 3 patches .* within 1 point"):
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


def grid(side: int, size: int = 64):
    rows, cols = np.meshgrid(np.arange(0, size * side, size), np.arange(0, size * side, size), indexing="ij")
    return rows.ravel(), cols.ravel()


def test_block_split_halves_its_blocks_until_a_split_fits():
    # 8 x 8 patches: blocks of 4 give 4 groups, too few to meet 70/20/10 within 20% of the counts
    rows, cols = grid(8)
    pos, tot = random_patches(len(rows), seed=4)
    keys = np.zeros(len(rows), np.int64)
    res = split_in_blocks(pos, tot, keys, rows, cols, 64, block=4, ratios=(0.7, 0.2, 0.1), seed=0, tolerance=0.02)
    assert res.block == 2 and res.spread <= 0.02
    blocks = block_ids(rows, cols, 64, 2)
    for b in np.unique(blocks):
        assert len(set(res.labels[blocks == b].tolist())) == 1
    # two sources never share a block
    both = split_in_blocks(np.concatenate([pos, pos]), np.concatenate([tot, tot]),
                           np.repeat(np.array([0, 1], np.int64), len(rows)), np.concatenate([rows, rows]),
                           np.concatenate([cols, cols]), 64, block=4, ratios=(0.7, 0.2, 0.1), seed=0, tolerance=0.02)
    assert both.block == 4


def test_every_split_gets_landslides_when_the_groups_allow_it():
    # 3 landslide patches among 20 background ones: proportions alone would be met with val and test all
    # background (the tolerance is absolute and proportions are small)
    pos = np.array([300, 250, 280] + [0] * 20)
    tot = np.full(len(pos), 64 * 64)
    res = split_patches(pos, tot, tolerance=0.1)
    assert all((pos[res.labels == k] > 0).any() for k in range(3))


def test_leakage_share_is_the_train_ratio_per_patch_and_small_for_blocks():
    rows, cols = grid(24)
    pos, tot = random_patches(len(rows), seed=2)
    keys = np.zeros(len(rows), np.int64)
    per_patch = split_patches(pos, tot, seed=1)
    blocks = split_in_blocks(pos, tot, keys, rows, cols, 64, block=4, ratios=(0.7, 0.2, 0.1), seed=1,
                             tolerance=0.01)
    leak_patch = train_neighbour_share(rows, cols, keys, per_patch.labels, 64)
    leak_block = train_neighbour_share(rows, cols, keys, blocks.labels, 64)
    assert leak_patch == pytest.approx(0.7, abs=0.06) and leak_block < 0.3


def test_train_only_patches_stay_in_training_and_count_towards_it():
    rng = np.random.default_rng(3)
    positives = rng.integers(0, 400, 100)
    totals = np.full(100, 1024)
    pinned = np.zeros(100, bool)
    pinned[:50] = True  # e.g. windows overlapping a reviewer's negative
    result = split_patches(positives, totals, ratios=(0.7, 0.2, 0.1), seed=0, tolerance=0.05, train_only=pinned)
    assert (result.labels[pinned] == 0).all()
    assert result.counts == {"train": 70, "val": 20, "test": 10}  # the sizes of the whole, from the other 50
    assert result.spread <= 0.05  # the pinned patches count in training's proportion
    with pytest.raises(LmhldError, match="cannot fill 3 splits"):
        split_patches(positives[:3], totals[:3], train_only=[True, True, False])


def test_an_unbalanced_split_names_the_tolerance_that_admits_it():
    """The message spoke of points and told to allow a larger --tolerance, a fraction: a user typed 5.0."""
    positives, totals = np.array([4000, 100, 100, 100]), np.full(4, 4096)  # 4 patches cannot agree within 1 point
    with pytest.raises(LmhldError) as info:
        split_patches(positives, totals, tolerance=0.01)
    message = str(info.value)
    assert "agree within 1 point (--tolerance 0.01; best: " in message
    needed = float(message.split("a fraction: --tolerance ")[1].split()[0])
    assert 0.01 < needed <= 1 and split_patches(positives, totals, tolerance=needed).spread <= needed

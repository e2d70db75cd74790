"""Metrics on hand-computed masks, the empty cases, and the CAS README's DeepLabv3+ satellite row."""

from __future__ import annotations

import numpy as np
import pytest

from lmhld_qgis.core.metrics import Confusion, ObjectCounts
from lmhld_qgis.core.vectorize import label_components


def test_hand_computed_small_masks():
    truth = np.array([[1, 1, 0, 0], [1, 0, 0, 0]])
    pred = np.array([[1, 0, 1, 0], [1, 0, 0, 0]])
    c = Confusion.of(pred, truth)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 4)
    assert c.precision == pytest.approx(2 / 3) and c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3) and c.iou == pytest.approx(0.5)
    assert c.background_iou == pytest.approx(4 / 6) and c.miou == pytest.approx((0.5 + 4 / 6) / 2)
    assert c.oa == pytest.approx(6 / 8)
    assert c.f1_mean_2class == pytest.approx((2 / 3 + 8 / 10) / 2)


def test_micro_average_sums_counts_before_dividing():
    a = Confusion.of(np.array([1, 0]), np.array([1, 1]))
    b = Confusion.of(np.array([1, 1, 1, 1]), np.array([0, 0, 0, 1]))
    total = a + b
    assert (total.tp, total.fp, total.fn) == (2, 3, 1)
    assert total.f1 == pytest.approx(4 / 8)
    assert total.f1 != pytest.approx((a.f1 + b.f1) / 2)


def test_empty_prediction_and_empty_truth():
    nothing = np.zeros((3, 3))
    both_empty = Confusion.of(nothing, nothing)
    assert both_empty.f1 == 1.0 and both_empty.iou == 1.0 and both_empty.precision == 1.0 and both_empty.oa == 1.0
    missed = Confusion.of(nothing, np.eye(3))
    # nothing detected where landslides are: not "perfectly precise" in a summary (a probe's Processing outputs)
    assert missed.recall == 0.0 and missed.f1 == 0.0 and missed.precision == 0.0
    false_alarm = Confusion.of(np.eye(3), nothing)
    assert false_alarm.precision == 0.0 and false_alarm.recall == 1.0 and false_alarm.f1 == 0.0
    assert Confusion.of(np.ones(4), np.ones(4), valid=np.zeros(4)).total == 0


def test_cas_readme_deeplabv3plus_satellite_row():
    # Precision 74.275 %, recall 89.187 % and mIoU 82.397 % fix the confusion matrix up to scale:
    # with tp = 1: fp = 1/P - 1, fn = 1/R - 1; IoU_l = 1 / (1 + fp + fn); IoU_bg = 2 mIoU - IoU_l = tn / (tn + fp + fn).
    p, r, miou = 0.74275, 0.89187, 0.82397
    tp = 10**7
    fp, fn = tp * (1 / p - 1), tp * (1 / r - 1)
    iou_l = tp / (tp + fp + fn)
    iou_bg = 2 * miou - iou_l
    tn = iou_bg * (fp + fn) / (1 - iou_bg)
    c = Confusion(tp, round(fp), round(fn), round(tn))
    assert c.iou * 100 == pytest.approx(68.137, abs=0.01)
    assert c.oa * 100 == pytest.approx(96.881, abs=0.01)
    assert c.f1_mean_2class * 100 == pytest.approx(89.675, abs=0.01)
    assert c.f1 * 100 == pytest.approx(81.05, abs=0.01)  # the landslide-class F1 the papers report


def _flood_components(mask):
    """Independent reference: 4-connected components by flood fill (slow, plain Python)."""
    labels = np.zeros(mask.shape, int)
    n = 0
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start]:
            continue
        n += 1
        stack = [start]
        while stack:
            r, c = stack.pop()
            if 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and mask[r, c] and not labels[r, c]:
                labels[r, c] = n
                stack += [(r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)]
    return labels, n


def test_components_are_4_connected_and_cover_the_mask():
    mask = np.random.default_rng(3).random((40, 57)) > 0.6
    labels, n = label_components(mask)
    ref, n_ref = _flood_components(mask)
    assert n == n_ref > 50 and ((labels > 0) == mask).all()
    assert len(set(zip(labels[mask], ref[mask], strict=True))) == n  # the same partition, label for label
    diagonal = np.eye(4, dtype=bool)
    assert label_components(diagonal)[1] == 4 and label_components(np.zeros((3, 3), bool))[1] == 0


def test_objects_matched_by_covered_share():
    truth = np.zeros((12, 12), bool)
    truth[1:5, 1:5] = True  # 16 px: found (pred covers 8 = 50%)
    truth[8:11, 8:11] = True  # 9 px: missed (pred covers 4 < 4.5)
    pred = np.zeros((12, 12), bool)
    pred[1:3, 1:5] = True  # 8 px, all inside a landslide: correct
    pred[8:10, 8:10] = True  # 4 px, all inside: correct
    pred[0, 11] = True  # a speck: wrong
    c = ObjectCounts.of(pred, truth, match=0.5)
    assert (c.n_inventory, c.n_inventory_detected, c.n_detected, c.n_detected_correct) == (2, 1, 3, 2)
    assert c.inventory_detected == 0.5 and c.detected_correct == pytest.approx(2 / 3)
    assert c.object_f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    strict = ObjectCounts.of(pred, truth, match=0.9)
    assert strict.n_inventory_detected == 0 and strict.n_detected_correct == 2
    # regions below a minimum size are left out before anything is counted (the speck and the 4 px region)
    cleaned = ObjectCounts.of(pred, truth, match=0.5, min_pixels=5)
    assert (cleaned.n_inventory, cleaned.n_inventory_detected, cleaned.n_detected, cleaned.n_detected_correct) == (
        2, 1, 1, 1)
    total = c + ObjectCounts.of(np.zeros((4, 4), bool), np.zeros((4, 4), bool))
    assert total == c  # an empty patch adds nothing
    empty = ObjectCounts()
    assert empty.inventory_detected == 1.0 and empty.detected_correct == 1.0  # nothing to find, nothing claimed
    assert ObjectCounts(n_inventory=3).detected_correct == 0.0  # nothing claimed where there were three to find
    assert set(c.scores()) == {"inventory_detected", "detected_correct", "object_f1", "n_inventory",
                               "n_inventory_detected", "n_detected", "n_detected_correct"}

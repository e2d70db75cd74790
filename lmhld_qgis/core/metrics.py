"""Confusion counts and every score derived from them: one module for training, evaluation and experiments.

Landslide-class precision, recall, F1 and IoU are micro-averaged over all pixels (counts are summed first), as
in the Landslide4Sense and LMHLD papers. `f1_mean_2class` is the CAS README's "F1": the mean of the landslide
and background F1. Empty cases never divide by zero; the convention: a ratio whose denominator is 0 is 1.0 when
there was nothing to get wrong (nothing to find for recall, neither for F1/IoU), and precision is 1.0 without a
prediction only where there was nothing to find either: a model that detects nothing where landslides are is not
"perfectly precise" (0.0, as the Landslide4Sense evaluation gives it) in a batch summary or an experiment table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


def _ratio(num: float, den: float) -> float:
    return 1.0 if den == 0 else num / den


def _precision(correct: int, claimed: int, missed: int) -> float:
    """The share of what was claimed that is right; with nothing claimed, 1.0 only where nothing was missed (a
    model that finds nothing where landslides are is not "perfectly precise")."""
    if claimed == 0:
        return 1.0 if missed == 0 else 0.0
    return correct / claimed


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def of(cls, pred: NDArray[Any], truth: NDArray[Any], valid: NDArray[Any] | None = None) -> Confusion:
        """Counts for boolean-like arrays of the same shape (pixels outside `valid` are ignored)."""
        pred = np.asarray(pred).astype(bool)
        truth = np.asarray(truth).astype(bool)
        if valid is not None:
            valid = np.asarray(valid).astype(bool)
            pred, truth = pred[valid], truth[valid]
        tp = int(np.count_nonzero(pred & truth))
        fp = int(np.count_nonzero(pred & ~truth))
        fn = int(np.count_nonzero(~pred & truth))
        return cls(tp, fp, fn, int(pred.size) - tp - fp - fn)

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return _precision(self.tp, self.tp + self.fp, self.fn)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def iou(self) -> float:
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    @property
    def background_iou(self) -> float:
        return _ratio(self.tn, self.tn + self.fp + self.fn)

    @property
    def background_f1(self) -> float:
        return _ratio(2 * self.tn, 2 * self.tn + self.fp + self.fn)

    @property
    def miou(self) -> float:
        return (self.iou + self.background_iou) / 2

    @property
    def oa(self) -> float:
        return _ratio(self.tp + self.tn, self.total)

    @property
    def f1_mean_2class(self) -> float:
        return (self.f1 + self.background_f1) / 2

    def scores(self) -> dict[str, float | int]:
        """The documented JSON keys: precision, recall, f1, iou, miou, oa, f1_mean_2class, tp, fp, fn, tn."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "iou": self.iou,
                "background_iou": self.background_iou, "miou": self.miou, "oa": self.oa,
                "f1_mean_2class": self.f1_mean_2class, **asdict(self)}


@dataclass
class ObjectCounts:
    """Object-level counts: how many inventory landslides were found and how many detections are landslides.

    An inventory landslide counts as detected when detections cover at least the match share of its area; a
    detection counts as correct when the inventory covers at least that share of its area. Shares follow the
    module's convention (1.0 when there was nothing to find; nothing detected where something was: 0.0 correct).
    """

    n_inventory: int = 0
    n_inventory_detected: int = 0
    n_detected: int = 0
    n_detected_correct: int = 0

    @classmethod
    def of(cls, pred: NDArray[Any], truth: NDArray[Any], match: float = 0.5, valid: NDArray[Any] | None = None,
           min_pixels: int = 0) -> ObjectCounts:
        """Counts for two masks of one patch: objects are their 4-connected components (pixels outside `valid`
        belong to neither). Predicted components below `min_pixels` are dropped first, as detection drops polygons
        below the model's minimum area: the figures then count what a user would be handed, not raw specks."""
        from .vectorize import label_components

        pred = np.asarray(pred).astype(bool)
        truth = np.asarray(truth).astype(bool)
        if valid is not None:
            pred, truth = pred & valid, truth & valid
        pred_labels, n_pred = label_components(pred)
        if min_pixels > 1 and n_pred:  # the small components leave; the others are numbered 1..n again
            keep = np.bincount(pred_labels.ravel(), minlength=n_pred + 1) >= min_pixels
            keep[0] = False
            pred_labels = (np.cumsum(keep) * keep)[pred_labels].astype(pred_labels.dtype)
            pred, n_pred = pred_labels > 0, int(keep.sum())
        truth_labels, n_truth = label_components(truth)
        return cls(n_truth, _covered(truth_labels, n_truth, pred, match), n_pred,
                   _covered(pred_labels, n_pred, truth, match))

    def __add__(self, other: ObjectCounts) -> ObjectCounts:
        return ObjectCounts(self.n_inventory + other.n_inventory,
                            self.n_inventory_detected + other.n_inventory_detected,
                            self.n_detected + other.n_detected, self.n_detected_correct + other.n_detected_correct)

    @property
    def inventory_detected(self) -> float:
        """Share of the inventory's landslides that were detected (object recall)."""
        return _ratio(self.n_inventory_detected, self.n_inventory)

    @property
    def detected_correct(self) -> float:
        """Share of the detections that are landslides (object precision); a model that detects nothing scores
        1.0 only where there was nothing to detect."""
        return _precision(self.n_detected_correct, self.n_detected, self.n_inventory - self.n_inventory_detected)

    @property
    def object_f1(self) -> float:
        r, p = self.inventory_detected, self.detected_correct
        return 0.0 if r + p == 0 else 2 * r * p / (r + p)

    def scores(self) -> dict[str, float | int]:
        """The documented JSON keys: inventory_detected, detected_correct, object_f1 and the four counts."""
        return {"inventory_detected": self.inventory_detected, "detected_correct": self.detected_correct,
                "object_f1": self.object_f1, **asdict(self)}


def _covered(labels: NDArray[Any], n: int, other: NDArray[Any], match: float) -> int:
    """How many of the `n` labelled objects have at least `match` of their pixels inside `other`."""
    if n == 0:
        return 0
    size = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    inside = np.bincount(labels[other].ravel(), minlength=n + 1)[1:]
    return int(np.count_nonzero(inside >= match * size))

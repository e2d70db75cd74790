"""The detection threshold a model card carries, calibrated on the validation split.

Validation counts the landslide and background pixels per probability bin (20 bins of 0.05); from the best
model's counts, the threshold with the highest landslide F1 over the grid 0.05, 0.10, ..., 0.95 is chosen. With
no validation split, fewer than `MIN_LANDSLIDE_PIXELS` landslide pixels in it, or a best F1 no better than calling
every pixel landslide (a model that learnt nothing: its "best" cut would be the lowest, 0.05, written into the card
for every client), the configured value stays, with a note saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BINS = 20
MIN_LANDSLIDE_PIXELS = 1000
NO_BETTER_MARGIN = 0.05  # a best F1 within 5 % of calling everything landslide has learnt nothing to calibrate


@dataclass(frozen=True)
class Calibration:
    threshold: float
    source: str  # "validation" or "default"
    note: str = ""
    f1: float | None = None  # at the threshold, on validation

    def to_dict(self) -> dict[str, object]:
        return {"threshold": self.threshold, "source": self.source, "note": self.note, "f1": self.f1}


def histogram(prob: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(2, BINS) counts: row 0 background pixels, row 1 landslide pixels, by probability bin."""
    bins = (prob.float() * BINS).long().clamp_(0, BINS - 1)
    index = truth.long() * BINS + bins
    return torch.bincount(index.flatten(), minlength=2 * BINS).view(2, BINS).double()


def calibrate(counts: list[float] | None, configured: float) -> Calibration:
    """The F1-best threshold from a validation histogram (flattened (2, BINS) counts), or the configured value."""
    if counts is None:
        return Calibration(configured, "default", "no validation split, so the configured threshold is kept")
    background, landslide = counts[:BINS], counts[BINS:]
    positives = sum(landslide)
    if positives < MIN_LANDSLIDE_PIXELS:
        return Calibration(configured, "default", f"only {int(positives)} landslide pixels in the validation split, "
                                                  f"fewer than the {MIN_LANDSLIDE_PIXELS} needed to calibrate, so the "
                                                  "configured threshold is kept")
    best: tuple[float, float] | None = None
    for j in range(1, BINS):  # threshold j / BINS: pixels of bins >= j are landslide
        tp, fp = sum(landslide[j:]), sum(background[j:])
        fn = positives - tp
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if best is None or f1 > best[1] + 1e-12:
            best = (j / BINS, f1)
    assert best is not None
    everything = 2 * positives / (2 * positives + sum(background))  # the F1 of calling every pixel landslide
    if best[1] <= everything * (1 + NO_BETTER_MARGIN):
        return Calibration(configured, "default", f"the model does no better on the validation split than calling "
                                                  f"every pixel landslide: F1 {best[1]:.4f} at its best threshold "
                                                  f"against {everything:.4f}, so the configured threshold is kept; "
                                                  "train longer or on more data",
                           best[1])
    return Calibration(round(best[0], 4), "validation",
                       f"calibrated on the validation split, where it gives the best F1: {best[1]:.4f}",
                       best[1])

"""Reviewing detections, one at a time: the order, the decisions, the cursor and undo, without QGIS.

The review dock (ui/review_dock.py) drives a ReviewSession and does the writing (inventory, negatives, the
`review` field of the detections layer); the session knows nothing of layers, so it is tested alone. It is built
from the decisions already stored with the layer, which is how a stopped review resumes where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import LmhldError

ACCEPTED, EDITED, REJECTED, SKIPPED = "accepted", "edited", "rejected", "skipped"
DECISIONS = (ACCEPTED, EDITED, REJECTED, SKIPPED)
FINAL = (ACCEPTED, EDITED, REJECTED)  # skipped ones come back once nothing else is left
ORDERS = {"uncertain": "Most uncertain first", "largest": "Largest first", "id": "By id"}
REVIEW_FIELD = "review"  # where the dock stores each decision on the detections layer


@dataclass(frozen=True)
class Detection:
    fid: int  # the feature id in the detections layer
    ident: int | None = None  # its `id` attribute
    area_m2: float | None = None
    mean_prob: float | None = None


@dataclass(frozen=True)
class Step:
    """One decision: which detection, what was decided, and what it was before (None = not yet reviewed)."""

    fid: int
    decision: str
    previous: str | None


def review_order(detections: Iterable[Detection], order: str = "uncertain", threshold: float = 0.5) -> list[int]:
    """Feature ids in review order: closest mean probability to the threshold first, largest first, or by id."""
    items = list(detections)
    keys: dict[str, Callable[[Detection], tuple[float, int]]] = {
        "uncertain": lambda d: (abs(d.mean_prob - threshold) if d.mean_prob is not None else float("inf"), d.fid),
        "largest": lambda d: (-(d.area_m2 or 0.0), d.fid),
        "id": lambda d: (d.ident if d.ident is not None else d.fid, d.fid),
    }
    if order not in keys:
        raise LmhldError(f"review order must be one of {', '.join(ORDERS)}, got {order!r}")
    return [d.fid for d in sorted(items, key=keys[order])]


class ReviewSession:
    """Steps through detections in order; every decision can be undone, last first."""

    def __init__(self, detections: Sequence[Detection], order: str = "uncertain", threshold: float = 0.5,
                 decisions: Mapping[int, str | None] | None = None) -> None:
        self.order = review_order(detections, order, threshold)
        self.detections = {d.fid: d for d in detections}
        self.decisions: dict[int, str] = {}
        for fid, value in (decisions or {}).items():
            if value in DECISIONS and fid in self.detections:
                self.decisions[fid] = value
            elif value not in (None, ""):
                raise LmhldError(f"detection {fid} has an unknown review state {value!r}; expected one of "
                                 f"{', '.join(DECISIONS)} or empty")
        self.history: list[Step] = []
        self._cursor = self._next_from(0)

    @property
    def current(self) -> int | None:
        """The detection under review, or None when every one is accepted, edited or rejected."""
        return None if self._cursor is None else self.order[self._cursor]

    def decision(self, fid: int) -> str | None:
        return self.decisions.get(fid)

    def decide(self, decision: str) -> Step:
        """Record a decision on the current detection and move to the next one."""
        if decision not in DECISIONS:
            raise LmhldError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        fid = self.current
        if fid is None:
            raise LmhldError("every detection is reviewed: nothing to decide")
        step = Step(fid, decision, self.decisions.get(fid))
        self.decisions[fid] = decision
        self.history.append(step)
        self._cursor = self._next_from(self.order.index(fid) + 1)
        return step

    def undo(self) -> Step | None:
        """Take back the last decision of this session; the detection becomes the current one again."""
        if not self.history:
            return None
        step = self.history.pop()
        if step.previous is None:
            self.decisions.pop(step.fid, None)
        else:
            self.decisions[step.fid] = step.previous
        self._cursor = self.order.index(step.fid)
        return step

    def _next_from(self, start: int) -> int | None:
        """The next undecided position from `start` (wrapping), else the next skipped one, else None."""
        n = len(self.order)
        positions = [(start + k) % n for k in range(n)]
        for wanted in (None, SKIPPED):
            for pos in positions:
                if self.decisions.get(self.order[pos]) == wanted:
                    return pos
        return None

    def counts(self) -> dict[str, int]:
        """How many of each decision, how many are left (undecided or skipped), and the total."""
        values = list(self.decisions.values())
        counts = {d: values.count(d) for d in DECISIONS}
        counts["pending"] = len(self.order) - sum(counts[d] for d in FINAL) - counts[SKIPPED]
        counts["done"] = sum(counts[d] for d in FINAL)
        counts["total"] = len(self.order)
        return counts

    def progress_text(self) -> str:
        c = self.counts()
        skipped = f"; {c[SKIPPED]} skipped, to come back" if c[SKIPPED] else ""  # not among the reviewed ones
        return (f"{c['done']} / {c['total']} reviewed ({c[ACCEPTED]} accepted, {c[EDITED]} edited, "
                f"{c[REJECTED]} rejected){skipped}")

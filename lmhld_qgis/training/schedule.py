"""Learning rate as a pure function of the position in the run (stage, epoch, batch), so a resumed or extended
run needs no scheduler state: the rate at any batch is computed, never accumulated.

- exponential (the paper): lr0 x gamma^e per epoch e, counted over all stages as one sequence (LMHLD's part mode
  continues the decay);
- cosine: a linear warm-up over the first `warmup_epochs`, then half a cosine down to `min_lr_ratio` x lr0 at the
  end of the stage's epochs; every stage is a cycle of its own;
- constant: lr0 after the warm-up.

A run extended beyond its planned epochs (`--resume --epochs 80` after 50) gets one more cycle: for cosine a warm
restart (SGDR) that peaks at half the previous cycle's peak and anneals to the new end; exponential simply goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Cycle:
    start: int  # first epoch of the cycle (within the stage)
    end: int  # epoch where it ends (exclusive)
    peak: float  # share of the configured learning rate at its top

    def to_list(self) -> list[float]:
        return [float(self.start), float(self.end), self.peak]

    @classmethod
    def from_list(cls, values: list[float]) -> Cycle:
        return cls(int(values[0]), int(values[1]), float(values[2]))


@dataclass(frozen=True)
class Schedule:
    kind: str  # "cosine" | "exponential" | "constant"
    lr: float
    gamma: float = 0.99
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.01

    def rate(self, cycles: list[Cycle], stage_epoch: int, global_epoch: int, batch: int, batches: int) -> float:
        """The learning rate of batch `batch` (of `batches`) in epoch `stage_epoch` of the stage (`global_epoch`
        over all stages)."""
        if self.kind == "exponential":
            return self.lr * self.gamma**global_epoch
        cycle = _cycle_at(cycles, stage_epoch)
        t = stage_epoch + batch / max(batches, 1)  # fractional epoch
        factor = cycle.peak
        if self.kind == "cosine":
            progress = min(max((t - cycle.start) / max(cycle.end - cycle.start, 1), 0.0), 1.0)
            floor = self.min_lr_ratio * cycle.peak
            factor = floor + (cycle.peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if cycle.start == 0 and self.warmup_epochs > 0:  # only the first cycle warms up
            steps = max(round(self.warmup_epochs * batches), 1)
            factor *= min(1.0, (stage_epoch * batches + batch + 1) / steps)
        return self.lr * factor


def _cycle_at(cycles: list[Cycle], epoch: int) -> Cycle:
    for cycle in cycles:
        if cycle.start <= epoch < cycle.end:
            return cycle
    return cycles[-1]


def plan_cycles(cycles: list[Cycle], done_epochs: int, epochs: int) -> list[Cycle]:
    """The cycles of a stage of `epochs` epochs, of which `done_epochs` are done: the first run has one cycle; a
    run extended past its last cycle's end (or stopped early and given more epochs) gets a warm restart at half
    the peak from where it stands."""
    if not cycles:
        return [Cycle(0, epochs, 1.0)]
    last = cycles[-1]
    if epochs <= last.end and done_epochs < last.end:
        return cycles
    start = min(done_epochs, last.end)
    kept = [c for c in cycles if c.start < start]
    if kept and kept[-1].end != start:
        kept[-1] = Cycle(kept[-1].start, start, kept[-1].peak)
    if epochs <= start:
        return kept or cycles
    return [*kept, Cycle(start, epochs, last.peak * 0.5)]

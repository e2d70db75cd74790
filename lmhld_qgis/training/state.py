"""Where a run stands: the trainer's state as one dataclass, stored in last.pt as a plain dict of primitives and
tensors (so `torch.load(weights_only=True)` reads it).

Version 2 of the stored state; a last.pt written before (version 1: a dict with `best_f1` and a torch scheduler's
state) is read too, the scheduler being replaced by the learning rate computed from the position.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch

from ..core.errors import LmhldError

STATE_VERSION = 2


@dataclass
class TrainState:
    stage: int = 0  # current stage (part mode); 0 otherwise
    epoch: int = 0  # epochs finished in the stage
    batch: int = 0  # batches finished in the current epoch
    loss_sum: float = 0.0  # of the current epoch so far
    count: int = 0
    epoch_seconds: float = 0.0  # spent in the current epoch before an interruption
    best_score: float = -math.inf  # of the stage: validation F1 (or minus the training loss without validation)
    best_epoch: int = 0
    best_val_f1: float = math.nan  # the validation F1 of the best epoch (NaN: not recorded, older runs)
    ranked_by_loss: bool = False  # best.pt follows the training loss: validation too small to rank epochs
    since_best: int = 0  # epochs without a better score (early stopping)
    stopped_early: bool = False
    cycles: list[list[float]] = field(default_factory=list)  # learning-rate cycles of the stage (schedule.Cycle)
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per epoch (metrics.csv)
    forgetting: list[dict[str, Any]] = field(default_factory=list)  # part mode
    calibration: dict[str, Any] = field(default_factory=dict)  # the best model's threshold: threshold, source, note
    config: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 0  # the global batch the run trains with ("auto" resolved; 0: not recorded, older runs)
    data_fingerprint: str = ""  # stages.data_fingerprint of what the run trains on ("": not recorded, older runs)
    optimizer: dict[str, Any] | None = None
    rng: torch.Tensor | None = None

    def start_stage(self, stage: int) -> None:
        """Move on to a new stage (part mode): its own epochs, best score and schedule."""
        self.stage, self.epoch, self.batch = stage, 0, 0
        self.loss_sum, self.count, self.epoch_seconds = 0.0, 0, 0.0
        self.best_score, self.best_epoch, self.since_best, self.stopped_early = -math.inf, 0, 0, False
        self.best_val_f1 = math.nan
        self.cycles, self.optimizer = [], None

    def end_epoch(self) -> None:
        self.epoch += 1
        self.batch, self.loss_sum, self.count, self.epoch_seconds = 0, 0.0, 0, 0.0

    def to_checkpoint(self) -> dict[str, Any]:
        """A plain dict (primitives and tensors only) for last.pt."""
        data = asdict(self)
        data["version"] = STATE_VERSION
        return data

    @classmethod
    def from_checkpoint(cls, data: object, source: str) -> TrainState:
        """The state stored in a last.pt (either version); a file without one gets a clear answer."""
        if not isinstance(data, dict) or "config" not in data:
            raise LmhldError(f"{source} holds weights only, no training state (is it a copy of best.pt?): it "
                             "cannot be resumed. Resume from the last.pt a run writes, or start a new run "
                             "(without --resume, into an empty folder)")
        if data.get("version", 1) > STATE_VERSION:
            raise LmhldError(f"{source} was written by a newer lmhld_qgis (state version {data['version']}); "
                             "upgrade to resume it")
        if data.get("version", 1) == 1:
            data = _from_version_1(data)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _from_version_1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the best score as best_f1 (-1 when none) and a torch scheduler's state."""
    out = {k: v for k, v in data.items() if k not in ("scheduler", "scaler", "model", "best_f1")}
    best = float(data.get("best_f1", -1.0))
    out["best_score"] = -math.inf if best == -1.0 else best
    out["epoch_seconds"] = float(data.get("epoch_seconds", 0.0))
    return out

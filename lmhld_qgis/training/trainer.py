"""The trainer: epochs over stages, validation each epoch, metrics.csv and curves, best.pt / last.pt, and the
final model.onnx with a threshold calibrated on validation.

`last.pt` holds everything a resumed run needs to end with the same weights as an uninterrupted one (weights,
optimiser, RNG, stage/epoch/batch position, history); the learning rate and the augmentations are functions of
that position. It is written at an interval of time or batches, at the end of each stage, and when the user stops
the run; best.pt whenever the validation score improves. Both are written by a background thread.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from .. import __version__
from ..core.atomic import atomic_file, write_text_atomic
from ..core.datasets.base import PatchDataset
from ..core.errors import CancelledError, LmhldError, peer_gone
from ..core.metrics import Confusion
from ..core.modelcard import ModelCard
from ..core.progress import Progress, reader_progress
from ..models import build_model
from ..models.base import SegmentationNet
from ..models.registry import stored_options
from .augment import BatchAugment
from .cache import Arrays, cache_split, memory_budget, writes_pack
from .calibrate import MIN_LANDSLIDE_PIXELS, Calibration, calibrate, histogram
from .checkpoint import HostSnapshot, checkpoint_payload, load_checkpoint, write_checkpoint
from .config import BATCH_SIZE, MEANING, RECIPES, TrainConfig, auto_batch_size, migrate
from .data import BatchSource, epoch_order, make_source, n_chunks, normalisation, shard
from .distributed import all_reduce_sum, barrier, broadcast_buffers, init_from_env, on_main, shutdown
from .finetune import Checkpoint, checkpoint_card, load_initial_weights
from .hardware import Hardware, resolve_device, resolve_hardware
from .losses import LossSpec, landslide_probability, segmentation_loss
from .relative import RelativeLevels, off_by_one
from .relative import choose as choose_relative
from .schedule import Cycle, Schedule, plan_cycles
from .stages import Stage, data_fingerprint, plan_stages, resolution_note
from .state import TrainState
from .writer import BackgroundWriter

__all__ = ["TrainResult", "Trainer", "resolve_device", "train"]

METRIC_COLUMNS = ["stage", "dataset", "epoch", "train_loss", "val_precision", "val_recall", "val_f1", "val_iou",
                  "lr", "seconds"]
# a run's own files before its first last.pt (best.pt is not one: it comes with a last.pt, and is never deleted)
RUN_FILES = ("config.json", "metrics.csv", "curves.png", "forgetting.csv")


@dataclass
class TrainResult:
    """What a run delivered. `best_f1` is the best epoch's validation F1 at `val_threshold` (the configured one,
    by which epochs are compared); `threshold_f1` the F1 at the model's own `threshold` (calibrated on validation),
    what evaluation and detection with model.onnx get: 0.28 at 0.5 beside 0.59 at a calibrated 0.65."""

    out_dir: Path
    best_f1: float
    history: list[dict[str, Any]]
    forgetting: list[dict[str, Any]] = field(default_factory=list)
    onnx: Path | None = None
    threshold: float = 0.5
    threshold_source: str = "default"
    threshold_note: str = ""
    stopped_early: bool = False
    batch_size: int = 0  # the global batch it trained with (the automatic one resolved)
    val_threshold: float = 0.5  # the threshold the validation F1 of each epoch (and best_f1) is measured at
    ranked_by_loss: bool = False  # best.pt is the epoch of lowest training loss (validation too small to rank)
    threshold_f1: float = math.nan  # the validation F1 at `threshold` (the model card's validation_f1)


@dataclass
class StageRun:
    """What one stage trains with."""

    index: int
    stage: Stage
    net: nn.Module  # what the training step runs: the model, wrapped by DDP and/or torch.compile
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    cycles: list[Cycle]
    train: BatchSource
    augment: BatchAugment
    batches_per_epoch: int
    batches_before: int  # batches of the earlier stages (for the progress fraction)


@dataclass
class Validation:
    confusion: Confusion
    counts: list[float]  # probability histogram (calibrate.histogram), flattened


def _millions(count: int) -> str:
    """A parameter count as people say it: 1.9 M, 87 M (transunet keeps its transformer's size at any width)."""
    return f"{count / 1e6:.2g} M" if count < 1e7 else f"{count / 1e6:.0f} M"


def _emit(progress: Progress, **event: Any) -> None:
    handler = getattr(progress, "event", None)
    if handler is not None:
        handler(event)


def _best_f1(state: TrainState) -> float:
    """The validation F1 of the epoch kept as best (NaN without validation), whatever ranked the epochs."""
    if not math.isnan(state.best_val_f1):
        return state.best_val_f1
    rows = [r for r in state.history if r["epoch"] == state.best_epoch]  # a run from before it was recorded
    return float(rows[-1]["val_f1"]) if rows else math.nan


def _f1_at_threshold(state: TrainState) -> float:
    """The validation F1 at the threshold the card carries: the calibration's where it moved the threshold, else
    the best epoch's (measured at the configured one). A card showed 0.0581, the F1 at 0.5, beside its calibrated
    0.55, where validation gave 0.1295."""
    calibration = state.calibration or {}
    if calibration.get("source") == "validation" and calibration.get("f1") is not None:
        return float(calibration["f1"])
    return _best_f1(state)


def as_network(model: object) -> SegmentationNet:
    if not isinstance(model, SegmentationNet):
        raise TypeError(f"{type(model).__name__} is not a SegmentationNet")
    return model


class Trainer:
    def __init__(self, cfg: TrainConfig, out_dir: str | Path, progress: Progress | None = None) -> None:
        cfg.validate()
        # the datasets recorded absolute: the run resumes from any working folder
        self.cfg = replace(cfg, data=[str(Path(d).resolve()) for d in cfg.data])
        self.out = Path(out_dir)
        for data in self.cfg.data:  # a run written into its dataset changes what the dataset holds
            if self.out.resolve().is_relative_to(data):
                raise LmhldError(f"the run folder {self.out} lies inside the dataset {data}, which training only "
                                 "reads: choose a folder beside it")
        self.progress: Progress = reader_progress(progress)
        self.resume_hint = "run the same command with --resume"  # how a stop says to continue (train(): Python's)
        self._small_validation_said: set[int] = set()
        self.dist = init_from_env(resolve_device(cfg.device).type)
        device = resolve_device(cfg.device)
        if self.dist.enabled and device.type == "cuda":
            device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(device)
        self.hw: Hardware = resolve_hardware(cfg, device)
        self.device = device
        self.initial: Checkpoint | None = checkpoint_card(cfg.init_from) if cfg.init_from is not None else None
        # every dataset opened (a fine-tuning run's in its checkpoint's band order): fails before training starts
        self.stages = plan_stages(cfg, list(self.initial[1].bands) if self.initial else None)
        self.fingerprint = data_fingerprint(self.stages)
        for note in [n for s in self.stages for n in (*s.notes, resolution_note(s)) if n]:
            if self.dist.is_main:
                self.progress.warn(note)
        self.norms = [normalisation(s.train) for s in self.stages]
        self.relative = [self._relative_levels(s.train, std) for s, (_, std) in zip(self.stages, self.norms,
                                                                                      strict=True)]
        self.batch_size = self._batch_size()
        self.per_rank_batch = self.batch_size // self.dist.world
        self.loss = LossSpec(cfg.loss, cfg.focal_gamma, cfg.tversky_alpha, cfg.tversky_beta)
        torch.manual_seed(cfg.seed)
        self.fresh = self._build(self.stages[0].in_channels, cfg.model_options)  # also the size probe
        self.size_multiple = int(self.fresh.size_multiple)
        self._check_sizes()
        self.writer = BackgroundWriter()
        self.frozen: list[nn.Module] = []
        self.val_sources: dict[int, BatchSource] = {}
        self.last_saved = time.monotonic()
        self.last_written = (self.out / "last.pt").exists()  # a resumed run's; a new run writes its first with best.pt

    def _batch_size(self) -> int:
        """The global batch: as given, or automatic from the smallest stage's training split (the same on resume:
        the run's config.json keeps "auto" and the patches are the same)."""
        cfg, world = self.cfg, self.dist.world
        smallest = min(self.stages, key=lambda s: len(s.train))
        n_train = len(smallest.train)
        # part mode sizes one batch for every stage from its smallest: said so, or the line reads as stage 1's
        patches = (f"{n_train} training patches" if len(self.stages) == 1 else
                   f"{n_train} training patches in {smallest.name}, the smallest of the {len(self.stages)} stages,")
        if cfg.batch_size != "auto":
            if cfg.batch_size % world:
                raise LmhldError(f"batch size {cfg.batch_size} must be a multiple of the {world} processes (each "
                                 "takes an equal share of a batch)")
            if cfg.batch_size > n_train and self.dist.is_main:  # one step an epoch, and the report says 1000
                whose = (f" (the {cfg.recipe} recipe's)" if cfg.recipe != "default"
                         and RECIPES[cfg.recipe].get("batch_size") == cfg.batch_size else "")
                self.progress.warn(f"batch size {cfg.batch_size}{whose} is larger than the {patches.rstrip(',')}: "
                                   f"each epoch is one step of {n_train}; give --batch-size auto (sized for "
                                   f"several steps an epoch), or at most {max(1, n_train // 4)} for 4 or more")
            return cfg.batch_size
        size = auto_batch_size(n_train, world)
        steps, at_default = math.ceil(n_train / size), math.ceil(n_train / BATCH_SIZE)
        if size < BATCH_SIZE and steps > at_default and self.dist.is_main:  # said where it changes something
            self.progress.info(f"batch size {size} (auto, rather than {BATCH_SIZE}): {patches} "
                               f"make {steps} steps an epoch, where batches of {BATCH_SIZE} would make "
                               f"{at_default}")
        return size

    def _relative_levels(self, ds: PatchDataset, std: list[float]) -> RelativeLevels:
        relative, note = choose_relative(ds, self.cfg.relative_bands, std, self.cfg.relative_surface)
        doubt = off_by_one(ds.band_names, self.cfg.relative_bands)
        if doubt and self.dist.is_main:
            self.progress.warn(doubt)
        if note and self.dist.is_main:
            self.progress.info(note)
        return relative

    def _build(self, in_channels: int, options: dict[str, Any]) -> SegmentationNet:
        return as_network(build_model(self.cfg.model, in_channels, self.cfg.num_classes, **options))

    def _check_sizes(self) -> None:
        """A size the network cannot take fails now, not in the first forward pass."""
        from ..core.datasets.lmhld import LmhldDataset
        from ..core.grid import multiples_around

        m = self.size_multiple
        for stage in self.stages:
            size = stage.train.patch_size
            if size and size % m:
                smaller, larger = multiples_around(size, m)
                exported = all(isinstance(ds, LmhldDataset) for ds in stage.sources or [stage.train])
                fix = (f"export patches of {smaller} or {larger} px" if exported else  # a release is not re-exported
                       f"crop its images and masks alike to {smaller} px (gdal_translate -srcwin 0 0 {smaller} "
                       f"{smaller} in.tif out.tif)")
                raise LmhldError(f"{self.cfg.model} takes sizes that divide by {m}, but {stage.name} has {size} px "
                                 f"patches; {fix}, or choose another network")

    # -- the run ---------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        try:
            return self._fit(resume)
        finally:
            self.writer.close()
            for source in self.val_sources.values():
                source.close()
            shutdown(self.dist)

    def _fit(self, resume: bool) -> TrainResult:
        if self.initial is not None and not (resume and (self.out / "last.pt").exists()):
            note = load_initial_weights(self.fresh, self.initial, self.cfg.model,  # before the folder
                                        list(self.stages[0].train.band_names))
            if self.dist.is_main:
                self.progress.info(note)
        self.initial = None  # its weights are the network's now (or a resumed run's last.pt holds them)
        state, payload = self._begin(resume)
        model = self._initial_model(payload)
        if state.rng is not None:
            torch.set_rng_state(state.rng)
        weights = sum(p.numel() for p in model.parameters())
        self.progress.info(f"training {self.cfg.model} ({_millions(weights)} parameters) on {self.hw.describe()}")
        for k in range(state.stage, len(self.stages)):
            if k != state.stage:  # a new stage (a resumed stage's weights already hold its input layer)
                state.start_stage(k)
                self._prepare_stage(model, k)
                if payload is not None:  # a run resumed from the stage before may have trained this one
                    self._keep_newer_best(state)
            self._run_stage(model, state, k)
        return self._finish(state)

    def _run_stage(self, model: SegmentationNet, state: TrainState, k: int) -> None:
        if state.epoch < self.cfg.epochs and not state.stopped_early:
            try:
                run = self._stage_run(model, state, k)
            except CancelledError:  # while the patches were read
                self._stop(model, state, None)
            try:
                while state.epoch < self.cfg.epochs and not state.stopped_early:
                    self._epoch(run, model, state)
            finally:
                run.train.close()
            self._save_last(model, state, run.optimizer)  # a stage's end: a finished run can be resumed or extended
        if self.cfg.mode == "part":
            self._forgetting_row(model, k, state)

    def _finish(self, state: TrainState) -> TrainResult:
        calibration = state.calibration or {}
        result = TrainResult(self.out, _best_f1(state), _stages_from_one(state.history), state.forgetting,
                             threshold=float(calibration.get("threshold", self._configured_threshold())),
                             threshold_source=str(calibration.get("source", "default")),
                             threshold_note=str(calibration.get("note", "")), stopped_early=state.stopped_early,
                             batch_size=self.batch_size, val_threshold=self._configured_threshold(),
                             ranked_by_loss=state.ranked_by_loss, threshold_f1=_f1_at_threshold(state))
        if self.dist.is_main:
            self._write_metrics(state.history, curves=True)
            self.writer.flush()
            result.onnx = self._export_onnx()
            from ..core.report import training_report_html

            write_text_atomic(self.out / "report.html", training_report_html(self.out, result, self.cfg))
        barrier(self.dist)
        return result

    # -- starting, resuming ----------------------------------------------------------------------------------
    def _begin(self, resume: bool) -> tuple[TrainState, dict[str, Any] | None]:
        last = self.out / "last.pt"
        if resume and last.exists():
            return self._resume_from(last)
        def claim() -> None:
            self._claim_folder(resume)
            write_text_atomic(self.out / "config.json", json.dumps(self.cfg.to_dict(), indent=2))

        on_main(self.dist, claim)
        return TrainState(config=self.cfg.to_dict(), batch_size=self.batch_size,
                          data_fingerprint=self.fingerprint), None

    def _claim_folder(self, resume: bool) -> None:
        """A new run needs an empty folder, or one left by a run that stopped before its first checkpoint."""
        if self.out.exists() and not self.out.is_dir():
            raise LmhldError(f"run folder {self.out} is a file; give a folder for --out")
        if not self.out.exists() or not any(self.out.iterdir()):
            if resume:
                raise LmhldError(f"nothing to resume: {self.out / 'last.pt'} does not exist")
            self.out.mkdir(parents=True, exist_ok=True)
            return
        if (self.out / "best.pt").exists() and not (self.out / "last.pt").exists() and not self._same_as_stored():
            raise LmhldError(f"{self.out} holds best.pt but no last.pt to resume from (the run was stopped while "
                             "writing them) and its config.json is another run's: keep its model (lmhld export-onnx "
                             f"{self.out / 'best.pt'} makes a model file of it) and choose another folder")
        if not restartable(self.out):
            if resume:
                raise LmhldError(f"nothing to resume: {self.out / 'last.pt'} does not exist, and {self.out} holds "
                                 "other files; choose another folder")
            raise LmhldError(f"run folder {self.out} is not empty; pass --resume to continue that run, or choose "
                             "another folder")
        self.progress.info(f"{self.out} holds a run that stopped before its first checkpoint: starting it again")
        clear_run(self.out)

    def _same_as_stored(self) -> bool:
        """Whether the folder's config.json is this run's (the same command run again)."""
        try:
            stored = json.loads((self.out / "config.json").read_text(encoding="utf-8"))
            self._check_same_run(TrainConfig.from_values(migrate(stored)).to_dict())
        except (OSError, ValueError, LmhldError):
            return False
        return True

    def _resume_from(self, last: Path) -> tuple[TrainState, dict[str, Any]]:
        payload = load_checkpoint(last)
        state = TrainState.from_checkpoint(payload.get("training_state"), str(last))
        stored = TrainConfig.from_values(migrate(state.config)).to_dict()  # older runs: their values filled in
        self._check_same_data(state, stored)
        self._check_same_run(stored, paths_checked=bool(state.data_fingerprint))
        state.data_fingerprint = self.fingerprint
        if self.cfg.epochs > int(stored["epochs"]):
            self.progress.info(f"extending the run from {stored['epochs']} to {self.cfg.epochs} epochs")
            state.stopped_early, state.since_best = False, 0
        state.config = self.cfg.to_dict()
        self._keep_batch_size(state)
        self._keep_newer_best(state)
        if self.dist.is_main:
            write_text_atomic(self.out / "config.json", json.dumps(state.config, indent=2))
        if state.stage == len(self.stages) - 1 and (state.epoch >= self.cfg.epochs or state.stopped_early):
            how = (f"stopped early after epoch {state.epoch}" if state.stopped_early else
                   f"{state.epoch} epoch{'' if state.epoch == 1 else 's'}")
            self.progress.info(f"{self.out} holds a finished run ({how}): nothing left to train; writing its model "
                               f"and report again (--epochs above {self.cfg.epochs} extends it)")
        else:
            self.progress.info(f"resuming at stage {state.stage + 1}, epoch {state.epoch + 1}, batch {state.batch}")
        return state, payload

    def _keep_batch_size(self, state: TrainState) -> None:
        """A resumed run keeps the batch it was trained with: the automatic one is a multiple of the number of
        processes, so another number of processes would pick another (9 rather than 8), change the steps of an
        epoch and resume a stopped epoch at the wrong sample."""
        if not state.batch_size:
            state.batch_size = self.batch_size  # a run from before the batch was recorded
        if state.batch_size == self.batch_size:
            return
        if state.batch_size % self.dist.world:
            raise LmhldError(f"this run trains with batches of {state.batch_size} patches, which "
                             f"{self.dist.world} processes cannot share equally: resume it with a number of "
                             f"processes that divides {state.batch_size}")
        self.batch_size, self.per_rank_batch = state.batch_size, state.batch_size // self.dist.world

    def _check_same_data(self, state: TrainState, stored: dict[str, Any]) -> None:
        """A run resumes on the patches it trained on: refused on others (its dataset exported again since, with
        other options), continued on the same ones moved or copied elsewhere (a dataset taken to a GPU machine, an
        experiment folder moved). Runs from before the fingerprint was recorded compare the folders' paths."""
        if not state.data_fingerprint:
            return
        data = ", ".join(self.cfg.data)
        if state.data_fingerprint != self.fingerprint:
            raise LmhldError(f"cannot resume: the patches in {data} are not those the stopped run trained on (the "
                             "dataset was exported again since, or another one given): start a new run in another "
                             "folder, or resume with the dataset it trained on (--data)")
        before = [str(Path(d).resolve()) for d in stored.get("data") or []]
        if before != self.cfg.data:
            self.progress.info(f"the run's dataset has moved ({', '.join(before)} -> {data}): the same patches, "
                               "resuming with them")

    def _check_same_run(self, stored: dict[str, Any], paths_checked: bool = False) -> None:
        """Options that change what the run is are refused; more epochs extend it (single and mix mode).
        `paths_checked`: the datasets were found the same by their content (_check_same_data), wherever they lie."""
        now = self.cfg.to_dict()
        for key in MEANING:
            old, new = stored.get(key), now[key]
            if key == "data" and paths_checked:
                continue
            if key == "data":
                old, new = [str(Path(d).resolve()) for d in old or []], [str(Path(d).resolve()) for d in new]
            if old != new:
                also = ("; detection and evaluation take another threshold without training again (--threshold)"
                        if key == "threshold" else "")
                raise LmhldError(f"cannot resume: {key} differs from the stopped run ({_said(key, stored)} vs "
                                 f"{_said(key, now)}); it fixes what the run is: leave it out (the run's config.json "
                                 f"applies), or start a new run in another folder{also}")
        if self.cfg.epochs < int(stored["epochs"]):
            raise LmhldError(f"cannot resume with fewer epochs than the run planned ({self.cfg.epochs} < "
                             f"{stored['epochs']}); give --epochs {stored['epochs']} or more")
        if self.cfg.epochs > int(stored["epochs"]) and len(self.stages) > 1:
            raise LmhldError("a part-mode run cannot be extended (every stage has the same epochs): start a new run")

    def _initial_model(self, payload: dict[str, Any] | None) -> SegmentationNet:
        if payload is None:
            return self.fresh  # random weights, or the checkpoint's when fine-tuning (_fit)
        card = ModelCard.from_dict(payload["card"])
        model = self._build(card.in_channels, stored_options(self.cfg.model_options))
        model.load_state_dict(payload["state_dict"])
        return model

    # -- a stage ---------------------------------------------------------------------------------------------
    def _prepare_stage(self, model: SegmentationNet, k: int) -> None:
        """Part mode, stage k > 0: re-initialise the input convolution (always, or when the bands change)."""
        stage = self.stages[k]
        if self.cfg.reinit_input == "always" or stage.in_channels != model.in_channels:
            model.reset_input_layer(stage.in_channels)

    def _freeze(self, model: SegmentationNet, k: int) -> None:
        """Stage k freezes the first k encoder levels' parameters (the input convolution stays trainable)."""
        for p in model.parameters():
            p.requires_grad = True
        self.frozen = []
        if self.cfg.mode != "part" or self.cfg.freeze != "progressive" or k == 0:
            return
        levels = model.encoder_levels()
        self.frozen = levels[: min(k, len(levels) - 1)]
        for level in self.frozen:
            for p in level.parameters():
                p.requires_grad = False
        for name in model.input_layer_names():
            for p in model.get_submodule(name).parameters():
                p.requires_grad = True

    def _stage_run(self, model: SegmentationNet, state: TrainState, k: int) -> StageRun:
        cfg, stage = self.cfg, self.stages[k]
        source = self._source(stage.train)  # first: reading the patches may be cancelled
        if self.dist.is_main:
            self.progress.info(f"training patches of {stage.name}: {source.describe()}")
        self._freeze(model, k)
        model.to(self.device)
        if self.hw.channels_last:
            model.to(memory_format=torch.channels_last)
        optimizer = self._optimizer([p for p in model.parameters() if p.requires_grad])
        if state.optimizer:
            optimizer.load_state_dict(state.optimizer)
            state.optimizer = None
        cycles = plan_cycles([Cycle.from_list(c) for c in state.cycles], state.epoch, cfg.epochs)
        state.cycles = [c.to_list() for c in cycles]
        schedule = Schedule(cfg.schedule, cfg.learning_rate, cfg.gamma, cfg.warmup_epochs, cfg.min_lr_ratio)
        before = sum(cfg.epochs * self._batches(s.train) for s in self.stages[:k])
        return StageRun(k, stage, self._wrap(model), optimizer, schedule, cycles, source,
                        BatchAugment(*self.norms[k], cfg.augment, cfg.seed, self.device, relative=self.relative[k]),
                        self._batches(stage.train), before)

    def _batches(self, ds: PatchDataset) -> int:
        """Batches an epoch of `ds` makes on each process (a last batch of one sample joins the one before)."""
        return n_chunks(math.ceil(len(ds) / self.dist.world), self.per_rank_batch)

    def _optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        cfg = self.cfg
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.learning_rate, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        return torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

    def _wrap(self, model: nn.Module) -> nn.Module:
        net = model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            net = DistributedDataParallel(model, device_ids=ids)
        if self.hw.compile:
            return cast(nn.Module, torch.compile(net))
        return net

    def _source(self, ds: PatchDataset, cancellable: bool = True) -> BatchSource:
        """Batches of `ds`, decoded once into the cache where it can be (training/cache.py)."""
        budget = memory_budget(self.cfg.cache_memory_mb, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        cancelled = self.progress.is_cancelled if cancellable else _never

        def load() -> Arrays | None:
            return cache_split(ds, self.cfg.cache, budget, self.hw.decode_threads, cancelled, self.progress.info)

        if self.dist.enabled and writes_pack(ds, self.cfg.cache, budget):  # one writer per node, then the others
            arrays = load() if self.dist.local_rank == 0 else None
            barrier(self.dist)
            if self.dist.local_rank != 0:
                arrays = load()  # the pack is there now: opened, not written
        else:
            arrays = load()
        return make_source(ds, arrays, self.hw.transfer)

    # -- an epoch --------------------------------------------------------------------------------------------
    def _epoch(self, run: StageRun, model: SegmentationNet, state: TrainState) -> None:
        global_epoch = run.index * self.cfg.epochs + state.epoch
        start = time.perf_counter() - state.epoch_seconds
        self._train_epoch(run, model, state, global_epoch)
        lr = run.optimizer.param_groups[0]["lr"]
        val = self._validate(model, run.stage.val, run.index) if run.stage.val is not None else None
        loss_sum, count = all_reduce_sum([state.loss_sum, float(state.count)], self.dist, self.device)
        row = self._row(run, global_epoch, loss_sum / max(count, 1), val, lr, time.perf_counter() - start)
        state.history.append(row)
        state.end_epoch()
        ranks = self._ranks_epochs(run, val)
        improved = self._track_best(model, run, state, row, val, ranks)
        first_best = improved and not self.last_written  # a process killed now must leave a last.pt beside best.pt
        if self.cfg.checkpoint_seconds == 0 or first_best or self._time_to_save():
            self._save_last(model, state, run.optimizer)
        elif self.dist.is_main:
            self._write_metrics(state.history, curves=False)
        scores = (f"validation F1 {row['val_f1']:.4f}, precision {row['val_precision']:.4f}, recall "
                  f"{row['val_recall']:.4f}" if val is not None else "no validation split")
        self.progress.info(f"stage {run.index + 1}/{len(self.stages)} ({run.stage.name}) epoch {state.epoch}/"
                           f"{self.cfg.epochs}: loss {row['train_loss']:.4f}, {scores}"
                           f"{self._best_so_far(state) if improved else ''}")
        _emit(self.progress, event="epoch", **row)
        self._early_stop(state, ranks)
        barrier(self.dist)

    @staticmethod
    def _best_so_far(state: TrainState) -> str:
        """The epoch's mark when best.pt takes it: by validation F1, or by training loss (then a lower F1 than an
        earlier epoch's can be "best", which read as a mistake)."""
        return " (best so far by training loss)" if state.ranked_by_loss else " (best so far)"

    def _row(self, run: StageRun, global_epoch: int, loss: float, val: Validation | None, lr: float,
             seconds: float) -> dict[str, Any]:
        c = val.confusion if val else None
        return {"stage": run.index, "dataset": run.stage.name, "epoch": global_epoch + 1, "train_loss": loss,
                "val_precision": c.precision if c else math.nan, "val_recall": c.recall if c else math.nan,
                "val_f1": c.f1 if c else math.nan, "val_iou": c.iou if c else math.nan, "lr": lr,
                "seconds": seconds}

    def _train_epoch(self, run: StageRun, model: SegmentationNet, state: TrainState, global_epoch: int) -> None:
        order = epoch_order(len(run.stage.train), self.cfg.seed, global_epoch, self.dist.rank, self.dist.world)
        run.net.train()
        for level in self.frozen:
            level.eval()  # frozen levels keep their BatchNorm statistics too
        start = time.perf_counter() - state.epoch_seconds
        meter = LossMeter(state, self.device)
        try:
            for x_raw, y_raw in run.train.batches(order[state.batch * self.per_rank_batch:], self.per_rank_batch):
                if self._stop_asked():
                    meter.flush()
                    state.epoch_seconds = time.perf_counter() - start
                    self._stop(model, state, run.optimizer)
                lr = run.schedule.rate(run.cycles, state.epoch, global_epoch, state.batch, run.batches_per_epoch)
                for group in run.optimizer.param_groups:
                    group["lr"] = lr
                x, y = run.augment(x_raw, y_raw, (global_epoch, state.batch, self.dist.rank))
                meter.add(self._step(run, x, y), len(x))
                state.batch += 1
                self._after_batch(run, model, state, global_epoch, meter, start)
        except RuntimeError as exc:
            if self.dist.enabled and peer_gone(exc):
                meter.flush()  # the batches stepped; the one whose exchange failed was not, and is trained again
                state.epoch_seconds = time.perf_counter() - start
                self._save_when_peer_gone(model, state, run.optimizer)
            raise
        meter.flush()

    def _save_when_peer_gone(self, model: SegmentationNet, state: TrainState,
                             optimizer: torch.optim.Optimizer) -> None:
        """Another process of a multi-process run ended (killed by the out-of-memory killer) while this one trained:
        rank 0 saves last.pt at the last batch every process stepped (the failed exchange stepped none), so that
        --resume loses one batch rather than up to checkpoint_seconds of training."""
        if not self.dist.is_main:
            return
        self._save_last(model, state, optimizer)
        self.writer.flush()
        self.progress.info(f"another process ended at stage {state.stage + 1}, epoch {state.epoch + 1}, batch "
                           f"{state.batch}; last.pt saved there in {self.out}")

    def _step(self, run: StageRun, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.hw.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.hw.amp):
            try:
                out = run.net(x)
            except ValueError as exc:
                if "more than 1 value per channel" not in str(exc):
                    raise
                raise LmhldError(f"a batch of {len(x)} patch(es) of {x.shape[-1]} px per process reaches the "
                                 "network's deepest level as a single pixel, where BatchNorm cannot train: give at "
                                 "least 2 patches per process (--batch-size), or larger patches") from exc
        loss = segmentation_loss(out, y, self.loss)
        run.optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        run.optimizer.step()
        return loss.detach()

    def _after_batch(self, run: StageRun, model: SegmentationNet, state: TrainState, global_epoch: int,
                     meter: LossMeter, start: float) -> None:
        done = run.batches_before + state.epoch * run.batches_per_epoch + state.batch
        total = sum(self.cfg.epochs * self._batches(s.train) for s in self.stages)
        self.progress.set_fraction(done / total)
        _emit(self.progress, event="batch", stage=run.index, epoch=global_epoch + 1, batch=state.batch,
              batches=run.batches_per_epoch, loss=meter.last, fraction=done / total)
        every, seconds = self.cfg.checkpoint_every, self.cfg.checkpoint_seconds
        due = (every > 0 and state.batch % every == 0) or (seconds > 0 and self._time_to_save())
        if due and state.batch < run.batches_per_epoch:
            meter.flush()
            state.epoch_seconds = time.perf_counter() - start
            self._save_last(model, state, run.optimizer)

    def _stop_asked(self) -> bool:
        asked = self.progress.is_cancelled()
        if self.dist.enabled:  # every rank stops at the same batch
            asked = all_reduce_sum([float(asked)], self.dist, self.device)[0] > 0
        return asked

    def _stop(self, model: SegmentationNet, state: TrainState, optimizer: torch.optim.Optimizer | None) -> None:
        """Save last.pt at the current batch (and wait for it), then end the run with a truthful message."""
        self._save_last(model, state, optimizer)
        self.writer.flush()
        raise CancelledError(f"training stopped at stage {state.stage + 1}, epoch {state.epoch + 1}, batch "
                             f"{state.batch}; last.pt saved in {self.out}: {self.resume_hint} to continue"
                             + self._stale_model_note())

    def _stale_model_note(self) -> str:
        """What a run that ends without writing model.onnx says when the folder's model.onnx (an earlier, finished
        run's) is older than best.pt: detection with that file would not use the best model the folder holds."""
        onnx, best = self.out / "model.onnx", self.out / "best.pt"
        if onnx.is_file() and best.is_file() and best.stat().st_mtime_ns > onnx.stat().st_mtime_ns:
            return ("; model.onnx there is still the earlier run's model and best.pt is newer: export best.pt to "
                    "ONNX (lmhld export-onnx) to detect with it now")
        return ""

    def _track_best(self, model: SegmentationNet, run: StageRun, state: TrainState, row: dict[str, Any],
                    val: Validation | None, ranks: bool) -> bool:
        """Best-by-validation (when validation `ranks` epochs, else by training loss): best.pt (with its
        calibrated threshold) only when the score improves."""
        score = row["val_f1"] if ranks else -row["train_loss"]
        state.ranked_by_loss = not ranks
        if not score > state.best_score:
            state.since_best += 1
            return False
        state.best_score, state.best_epoch, state.since_best = score, row["epoch"], 0
        state.best_val_f1 = float(row["val_f1"])
        state.calibration = self._calibration(val).to_dict()
        if self.dist.is_main:  # with what a resumed run needs to know it (_keep_newer_best)
            self._write_later("best.pt", checkpoint_payload(model, self._card(run.index, state), {
                "epoch": row["epoch"], "val_f1": row["val_f1"], "stage": run.index, "score": score,
                "calibration": dict(state.calibration)}))
        return True

    def _keep_newer_best(self, state: TrainState) -> None:
        """A run stopped or killed after a better best.pt than its last.pt knows of (last.pt is written every
        checkpoint_seconds, best.pt at each better epoch) resumes with best.pt's score to beat: it started from
        last.pt's, and its second epoch replaced the best model (epoch 10, F1 0.99) by a worse one (0.95)."""
        path = self.out / "best.pt"
        if not path.exists():
            return
        saved = load_checkpoint(path).get("training_state")
        if not isinstance(saved, dict) or "score" not in saved or saved.get("stage") != state.stage:
            return  # another stage's, or a best.pt from before the score was stored
        if int(saved["epoch"]) <= state.best_epoch:
            return
        state.best_score, state.best_epoch, state.since_best = float(saved["score"]), int(saved["epoch"]), 0
        state.best_val_f1 = float(saved.get("val_f1", math.nan))
        state.calibration = dict(saved.get("calibration") or {})
        f1 = "" if math.isnan(state.best_val_f1) else f" (validation F1 {state.best_val_f1:.4f})"
        self.progress.info(f"best.pt holds epoch {state.best_epoch}{f1}, later than last.pt: it is kept unless "
                           "the resumed run trains a better one")

    def _ranks_epochs(self, run: StageRun, val: Validation | None) -> bool:
        """Whether validation holds enough landslide pixels to rank epochs (the rule that calibrates the
        threshold). On a handful of patches its F1 is noise: the first epoch's near-random model can stay "best"
        and early stopping ends the run there. Then epochs are ranked by the training loss and nothing stops
        early (said once per stage)."""
        if val is None:
            return False
        positives = val.confusion.tp + val.confusion.fn
        if positives >= MIN_LANDSLIDE_PIXELS:
            return True
        if run.index not in self._small_validation_said:
            self._small_validation_said.add(run.index)
            self.progress.warn(f"validation of {run.stage.name} holds {positives} landslide pixels, fewer than the "
                               f"{MIN_LANDSLIDE_PIXELS} needed to rank epochs, so best.pt follows the training loss "
                               "and early stopping is off; export more validation patches to use them")
        return False

    def _early_stop(self, state: TrainState, ranks: bool) -> None:
        patience = self.cfg.early_stopping
        if patience and ranks and state.since_best >= patience and state.epoch < self.cfg.epochs:
            state.stopped_early = True
            self.progress.info(f"early stopping: no better validation F1 for {patience} epochs (best "
                               f"{state.best_score:.4f} at epoch {state.best_epoch})")

    # -- validation ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _validate(self, model: SegmentationNet, ds: PatchDataset, k: int,
                  norm: tuple[list[float], list[float]] | None = None) -> Validation:
        """Landslide-class confusion and probability histogram over the whole split (shards summed over ranks)."""
        broadcast_buffers(model, self.dist)  # every shard scored by the model rank 0 saves
        model.eval()
        plain = BatchAugment(*(norm or self.norms[k]), "none", 0, self.device, relative=self.relative[k])
        source = self.val_sources.get(id(ds))
        if source is None:
            source = self.val_sources[id(ds)] = self._source(ds, cancellable=False)  # small; a stop waits
        threshold = self._configured_threshold()
        counts = torch.zeros(4 + 2 * 20, dtype=torch.float64, device=self.device)
        for x_raw, y_raw in source.batches(shard(len(ds), self.dist.rank, self.dist.world), self.per_rank_batch):
            x, y = plain(x_raw, y_raw, ())
            if self.hw.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.hw.amp):
                out = model(x)
            prob, truth = landslide_probability(out), y[:, 0] > 0.5
            pred = prob >= threshold if self.cfg.num_classes == 1 else prob > 0.5
            confusion = torch.stack([(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum(),
                                     (~pred & ~truth).sum()]).double()
            counts += torch.cat([confusion, histogram(prob, truth).flatten()])
        totals = all_reduce_sum(counts.tolist(), self.dist, self.device)
        tp, fp, fn, tn = (int(v) for v in totals[:4])
        return Validation(Confusion(tp, fp, fn, tn), totals[4:])

    def _configured_threshold(self) -> float:
        return 0.5 if self.cfg.threshold == "auto" else float(self.cfg.threshold)

    def _calibration(self, val: Validation | None) -> Calibration:
        if self.cfg.threshold != "auto":
            return Calibration(float(self.cfg.threshold), "default", "as configured")
        return calibrate(val.counts if val else None, 0.5)

    def _forgetting_row(self, model: SegmentationNet, k: int, state: TrainState) -> None:
        """After stage k: F1 on the validation split of every dataset seen so far."""
        if len(state.forgetting) > k:
            return
        row: dict[str, Any] = {"after_stage": k + 1, "trained_on": self.stages[k].name}
        why: dict[str, str] = {}  # what a nan in forgetting.csv means, said in the log
        for j, stage in enumerate(self.stages[: k + 1]):
            if stage.val is None:
                row[stage.name], why[stage.name] = math.nan, "n/a: no validation split"
            elif stage.in_channels != model.in_channels:
                row[stage.name] = math.nan
                why[stage.name] = (f"n/a: its {stage.in_channels} bands do not fit this stage's {model.in_channels}-"
                                   "band input layer")
            else:
                row[stage.name] = self._validate(model, stage.val, j).confusion.f1
        state.forgetting.append(row)
        if self.dist.is_main:
            names = [s.name for s in self.stages]
            write_text_atomic(self.out / "forgetting.csv",
                              _csv(state.forgetting, ["after_stage", "trained_on", *names]))
            self.progress.info(f"after stage {k + 1}/{len(self.stages)}, validation F1 on each dataset trained so "
                               "far (a drop is forgetting): "
                               + ", ".join(f"{n} {why.get(n) or format(row[n], '.3f')}" for n in names[: k + 1]))

    # -- outputs ---------------------------------------------------------------------------------------------
    def _card(self, k: int, state: TrainState) -> ModelCard:
        stage = self.stages[k]
        mean, std = self.norms[k]
        relative_bands, relative_scale, relative_surface, relative_rough = self.relative[k].to_card()
        calibration = state.calibration or {}
        areas = [a for s in self.stages[: k + 1] if (a := s.min_landslide_area_m2) is not None]
        large = [a for s in self.stages[: k + 1] if (a := s.large_landslide_area_m2) is not None]
        return ModelCard(self.cfg.model, stage.in_channels, self.cfg.num_classes,
                         stored_options(self.cfg.model_options), size_multiple=self.size_multiple,
                         bands=list(stage.train.band_names), patch_size=int(stage.train.patch_size or 128),
                         resolution_m=stage.train.resolution_m, mean=list(mean), std=list(std),
                         relative_bands=relative_bands, relative_scale=relative_scale,
                         relative_surface=relative_surface, relative_rough=relative_rough,
                         threshold=float(calibration.get("threshold", self._configured_threshold())),
                         threshold_source=str(calibration.get("source", "default")),
                         min_area_m2=min(areas) if areas else 0.0, nodata=stage.train.nodata,
                         input_divisor=list(stage.train.input_divisor or []),
                         large_landslide_area_m2=max(large) if large else None,
                         training_dataset=" -> ".join(s.name for s in self.stages[: k + 1]), version=__version__,
                         validation_f1=None if math.isnan(f1 := _f1_at_threshold(state)) else round(float(f1), 4))

    def _time_to_save(self) -> bool:
        return time.monotonic() - self.last_saved >= self.cfg.checkpoint_seconds

    def _save_last(self, model: SegmentationNet, state: TrainState,
                   optimizer: torch.optim.Optimizer | None) -> None:
        """Hand last.pt (a snapshot taken now) and the metrics to the writer thread; without an optimizer (a
        stage not started), the optimiser state the run resumed with is kept."""
        self.last_saved, self.last_written = time.monotonic(), True
        if not self.dist.is_main:
            return
        kept = state.optimizer
        state.rng = torch.get_rng_state()
        if optimizer is not None:
            state.optimizer = optimizer.state_dict()
        payload = checkpoint_payload(model, self._card(state.stage, state), state.to_checkpoint())
        state.optimizer = kept
        self._write_later("last.pt", payload)
        self._write_metrics(state.history, curves=True)

    def _write_later(self, name: str, payload: HostSnapshot) -> None:
        path = self.out / name
        self.writer.submit(name, lambda: _discard(write_checkpoint(path, payload.wait())))

    def _write_metrics(self, history: list[dict[str, Any]], curves: bool) -> None:
        rows = _stages_from_one(history)
        out = self.out

        def write() -> None:
            write_text_atomic(out / "metrics.csv", _csv(rows, METRIC_COLUMNS))
            if curves:
                from ..core.report import training_curves_png

                with atomic_file(out / "curves.png") as tmp:
                    tmp.write_bytes(training_curves_png(rows))

        self.writer.submit("metrics+curves" if curves else "metrics", write)

    def _export_onnx(self) -> Path | None:
        from .checkpoint import model_from_checkpoint
        from .onnx_export import export_onnx

        try:
            model, card = model_from_checkpoint(self.out / "best.pt")
            return export_onnx(model, card, self.out / "model.onnx")
        except Exception as exc:  # keep the run: best.pt is still there and `lmhld export-onnx` can retry
            self.progress.warn(f"ONNX export failed ({type(exc).__name__}: {exc}); best.pt is kept"
                               + self._stale_model_note())
            return None


def _discard(_: object) -> None:
    pass


def _never() -> bool:
    return False


class LossMeter:
    """The epoch's loss sum in the state, without a GPU synchronisation at every batch (one in 16 on CUDA)."""

    def __init__(self, state: TrainState, device: torch.device) -> None:
        self.state, self.every = state, 1 if device.type == "cpu" else 16
        self.pending: list[tuple[torch.Tensor, int]] = []
        self.last = math.nan  # the latest loss known on the host (for progress)

    def add(self, loss: torch.Tensor, n: int) -> None:
        self.pending.append((loss, n))
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        for loss, n in self.pending:
            self.last = float(loss)
            self.state.loss_sum += self.last * n
            self.state.count += n
        self.pending.clear()


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def restartable(run_dir: Path) -> bool:
    """True for a folder left by a run that stopped before its first checkpoint: its config.json, files the run
    writes before last.pt, and hidden temporaries or locks; nothing else (no user file, no finished run). Also
    one killed between its first best.pt and the last.pt that follows it (an epoch's work, which refused every
    rerun and stalled an experiment): best.pt stays, until the new run's first epoch replaces it."""
    names = [p.name for p in run_dir.iterdir()]
    if "config.json" not in names or "last.pt" in names:
        return False
    return all(n in RUN_FILES or n == "best.pt" or _temporary(n) for n in names)


def _temporary(name: str) -> bool:
    return name.endswith(".lock") or (name.startswith(".") and ".part" in name)


def clear_run(run_dir: Path) -> None:
    """Remove what a run that stopped before its first checkpoint left (not the locks of a live writer)."""
    for p in run_dir.iterdir():
        ours = p.name in RUN_FILES[1:] or (_temporary(p.name) and not p.name.endswith(".lock"))
        if ours and p.is_file():
            p.unlink()


def train(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = False,
          progress: Progress | None = None) -> TrainResult:
    """Train as `cfg` says into the run folder `out_dir` (see the module docstring).

    Called from Python (a notebook, a script) where Ctrl-C or the notebook's interrupt would raise wherever the
    run stands, the first one stops it after the current batch with last.pt saved there, as the command does:
    CancelledError says so (resume with `resume=True`); a second interrupts at once.

    The run seeds torch's random generators from `cfg.seed`; the caller's generator states are given back
    afterwards, so a script's own random draws do not change because it trained a model in between."""
    import signal
    import threading

    in_use = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []  # type: ignore[no-untyped-call]
    with torch.random.fork_rng(devices=in_use):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            from .signals import stop_on_signals

            with stop_on_signals(reader_progress(progress)) as stoppable:
                trainer = Trainer(cfg, out_dir, stoppable)
                trainer.resume_hint = "call train again with resume=True"
                return trainer.fit(resume)
        return Trainer(cfg, out_dir, progress).fit(resume)


def _said(key: str, options: dict[str, Any]) -> str:
    """An option's value in a message: a learning rate left to the optimizer is its number, not None."""
    from .config import default_lr

    value = options.get(key)
    if key == "lr" and value is None:
        return f"{default_lr(str(options.get('optimizer')))} (the default)"
    return repr(value)


def _stages_from_one(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history as users see it (metrics.csv, TrainResult.history): stages counted from 1, as the log counts them
    ("stage 2/3"); the run's state counts from 0."""
    return [{**row, "stage": int(row["stage"]) + 1} for row in history]

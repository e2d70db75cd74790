"""The trainer: epochs over stages, validation each epoch, metrics.csv and curves, best.pt / last.pt, and the
final model.onnx. `last.pt` holds everything a resumed run needs to end with the same weights as an
uninterrupted one (weights, optimiser, scheduler, RNG, stage/epoch/batch position, history)."""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from .. import __version__
from ..core.atomic import atomic_file, write_text_atomic
from ..core.errors import CancelledError, LmhldError
from ..core.metrics import Confusion
from ..core.modelcard import ModelCard
from ..core.progress import NullProgress, Progress
from ..models import build_model
from ..models.registry import stored_options
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import ResumableSampler, TensorDataset, normalisation, shard
from .distributed import all_reduce_sum, barrier, init_from_env, shutdown
from .losses import landslide_prediction, segmentation_loss
from .stages import plan_stages

METRIC_COLUMNS = ["stage", "dataset", "epoch", "train_loss", "val_precision", "val_recall", "val_f1", "val_iou",
                  "lr", "seconds"]


@dataclass
class TrainResult:
    out_dir: Path
    best_f1: float
    history: list[dict[str, Any]]
    forgetting: list[dict[str, Any]] = field(default_factory=list)
    onnx: Path | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LmhldError("device cuda was asked for but torch sees no GPU; use --device auto or cpu")
    return torch.device(name)


def _emit(progress: Progress, **event: Any) -> None:
    handler = getattr(progress, "event", None)
    if handler is not None:
        handler(event)


class Trainer:
    def __init__(self, cfg: TrainConfig, out_dir: str | Path, progress: Progress | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.out = Path(out_dir)
        self.progress = progress or NullProgress()
        self.device = resolve_device(cfg.device)
        self.dist = init_from_env(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        self.stages = plan_stages(cfg)  # opens every dataset: fails before training starts
        self.norms = [normalisation(s.train) for s in self.stages]
        if cfg.batch_size % self.dist.world:
            raise LmhldError(f"batch size {cfg.batch_size} must divide by the {self.dist.world} processes")
        self.per_rank_batch = cfg.batch_size // self.dist.world
        self.amp = cfg.amp == "bf16" or (cfg.amp == "auto" and self.device.type == "cuda")
        probe = build_model(cfg.model, self.stages[0].in_channels, cfg.num_classes, **cfg.model_options)
        self.size_multiple = int(probe.size_multiple)
        for stage in self.stages:  # a size the network cannot take fails now, not in the first forward pass
            size = stage.train.patch_size
            if size and size % self.size_multiple:
                raise LmhldError(f"{cfg.model} takes sizes that divide by {self.size_multiple}, but {stage.name} has "
                                 f"{size} px patches; export patches of "
                                 f"{size - size % self.size_multiple or self.size_multiple} or "
                                 f"{size + self.size_multiple - size % self.size_multiple} px, or choose another "
                                 "network")

    # ----------------------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        try:
            return self._fit(resume)
        finally:
            shutdown(self.dist)

    def _fit(self, resume: bool) -> TrainResult:
        cfg = self.cfg
        state = self._start_state(resume)
        torch.manual_seed(cfg.seed)
        model = self._build_for_stage(state)
        if "rng" in state:
            torch.set_rng_state(state["rng"])
        total_batches = sum(cfg.epochs * math.ceil(len(s.train) / cfg.batch_size) for s in self.stages)
        for k in range(state["stage"], len(self.stages)):
            stage = self.stages[k]
            if k != state["stage"]:  # a new stage (a resumed stage's weights already hold its input layer)
                state.update(stage=k, epoch=0, batch=0, best_f1=-1.0, optimizer=None, scheduler=None)
                self._prepare_stage(model, k)
            self._freeze(model, k)
            model.to(self.device)
            if cfg.channels_last:
                model.to(memory_format=torch.channels_last)
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer, scheduler = self._optimizer(params, k * cfg.epochs)
            if state.get("optimizer"):
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
            net = self._wrap(model)
            tds = TensorDataset(stage.train, *self.norms[k], cfg.augment, cfg.seed)
            sampler = ResumableSampler(tds, self.dist.world, self.dist.rank, cfg.seed)
            for epoch in range(state["epoch"], cfg.epochs):
                global_epoch = k * cfg.epochs + epoch
                t0 = time.perf_counter() - state.get("epoch_seconds", 0.0)
                loss_sum, count = self._train_epoch(net, model, tds, sampler, optimizer, scheduler, state, k, epoch,
                                                    global_epoch, total_batches)
                lr = optimizer.param_groups[0]["lr"]
                scheduler.step()
                scores = self._evaluate(model, stage.val, k) if stage.val is not None else None
                loss_sum, count = all_reduce_sum([loss_sum, count], self.dist, self.device)
                row = {"stage": k, "dataset": stage.name, "epoch": global_epoch + 1,
                       "train_loss": loss_sum / max(count, 1),
                       "val_precision": scores.precision if scores else math.nan,
                       "val_recall": scores.recall if scores else math.nan,
                       "val_f1": scores.f1 if scores else math.nan, "val_iou": scores.iou if scores else math.nan,
                       "lr": lr, "seconds": time.perf_counter() - t0}
                state["history"].append(row)
                f1 = row["val_f1"] if scores else -row["train_loss"]
                state.update(epoch=epoch + 1, batch=0, loss_sum=0.0, count=0, epoch_seconds=0.0)
                if self.dist.is_main:
                    if f1 > state["best_f1"]:
                        state["best_f1"] = f1
                        save_checkpoint(self.out / "best.pt", model, self._card(k), {"epoch": global_epoch + 1,
                                                                                     "val_f1": f1})
                    self._save_last(model, optimizer, scheduler, state)
                    self._write_metrics(state["history"])
                self.progress.info(f"stage {k + 1}/{len(self.stages)} ({stage.name}) epoch {epoch + 1}/{cfg.epochs}: "
                                   f"loss {row['train_loss']:.4f}, val F1 {row['val_f1']:.4f}, "
                                   f"P {row['val_precision']:.4f}, R {row['val_recall']:.4f}")
                _emit(self.progress, event="epoch", **row)
                barrier(self.dist)
            state["optimizer"] = state["scheduler"] = None
            if cfg.mode == "part":
                self._forgetting_row(model, k, state)
        result = TrainResult(self.out, state["best_f1"], state["history"], state["forgetting"])
        if self.dist.is_main:
            result.onnx = self._export_onnx()
            from ..core.report import training_report_html

            write_text_atomic(self.out / "report.html", training_report_html(self.out, result, self.cfg))
        barrier(self.dist)
        return result

    # ----------------------------------------------------------------------------------------------------------
    def _start_state(self, resume: bool) -> dict[str, Any]:
        fresh = {"stage": 0, "epoch": 0, "batch": 0, "best_f1": -1.0, "history": [], "forgetting": [],
                 "loss_sum": 0.0, "count": 0, "model": None, "optimizer": None, "scheduler": None,
                 "epoch_seconds": 0.0, "config": self.cfg.to_dict()}
        last = self.out / "last.pt"
        if not resume:
            if self.dist.is_main and self.out.exists() and any(self.out.iterdir()):
                raise LmhldError(f"run folder {self.out} is not empty; pass --resume to continue that run, or "
                                 "choose another folder")
            if self.dist.is_main:
                self.out.mkdir(parents=True, exist_ok=True)
                write_text_atomic(self.out / "config.json", __import__("json").dumps(self.cfg.to_dict(), indent=2))
            return fresh
        if not last.exists():
            raise LmhldError(f"nothing to resume: {last} does not exist")
        payload = load_checkpoint(last)
        state = payload["training_state"]
        for key in ("model", "mode", "data", "epochs", "model_options"):
            if state["config"].get(key) != self.cfg.to_dict()[key]:
                raise LmhldError(f"cannot resume: {key} differs from the stopped run "
                                 f"({state['config'].get(key)!r} vs {self.cfg.to_dict()[key]!r})")
        state["model"] = {"card": payload["card"], "state_dict": payload["state_dict"]}
        self.progress.info(f"resuming at stage {state['stage'] + 1}, epoch {state['epoch'] + 1}, "
                           f"batch {state['batch']}")
        return state

    def _build_for_stage(self, state: dict[str, Any]) -> nn.Module:
        cfg = self.cfg
        if state["model"]:
            card = ModelCard.from_dict(state["model"]["card"])
            model = build_model(cfg.model, card.in_channels, cfg.num_classes, **stored_options(cfg.model_options))
            model.load_state_dict(state["model"]["state_dict"])
            return model
        return build_model(cfg.model, self.stages[0].in_channels, cfg.num_classes, **cfg.model_options)

    def _prepare_stage(self, model: nn.Module, k: int) -> None:
        """Part mode, stage k > 0: re-initialise the input convolution (always, or when the bands change)."""
        stage = self.stages[k]
        if self.cfg.reinit_input == "always" or stage.in_channels != model.in_channels:
            model.reset_input_layer(stage.in_channels)

    def _freeze(self, model: nn.Module, k: int) -> None:
        """Stage k freezes the first k encoder levels' parameters (the input convolution stays trainable)."""
        for p in model.parameters():
            p.requires_grad = True
        self.frozen: list[nn.Module] = []
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

    def _optimizer(self, params, epochs_done: int):
        cfg = self.cfg
        lr = cfg.learning_rate * cfg.gamma**epochs_done
        if cfg.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
        return opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.gamma)

    def _wrap(self, model: nn.Module) -> nn.Module:
        if not self.dist.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def _loader(self, dataset, sampler=None, shuffle_free_indices=None) -> DataLoader:
        data = dataset if shuffle_free_indices is None else Subset(dataset, shuffle_free_indices)
        return DataLoader(data, batch_size=self.per_rank_batch, sampler=sampler, num_workers=self.cfg.workers,
                          generator=torch.Generator().manual_seed(self.cfg.seed),  # leaves the global RNG alone
                          pin_memory=self.device.type == "cuda", persistent_workers=False)

    def _train_epoch(self, net, model, tds, sampler, optimizer, scheduler, state, k, epoch, global_epoch,
                     total_batches) -> tuple[float, float]:
        cfg = self.cfg
        tds.set_epoch(global_epoch)
        sampler.set_epoch(global_epoch)
        sampler.skip = state["batch"] * self.per_rank_batch
        net.train()
        for level in getattr(self, "frozen", []):
            level.eval()  # frozen levels keep their BatchNorm statistics too
        loss_sum, count = state.get("loss_sum", 0.0), state.get("count", 0)
        batches_per_epoch = math.ceil(len(tds) / cfg.batch_size)
        batch = state["batch"]
        batches_before = (sum(cfg.epochs * math.ceil(len(s.train) / cfg.batch_size) for s in self.stages[:k])
                          + epoch * batches_per_epoch)  # batches of earlier stages and epochs, for progress
        epoch_start = time.perf_counter() - state.get("epoch_seconds", 0.0)
        for x, y in self._loader(tds, sampler):
            if self.progress.is_cancelled():
                state.update(batch=batch, loss_sum=loss_sum, count=count,
                             epoch_seconds=time.perf_counter() - epoch_start)
                if self.dist.is_main:
                    self._save_last(model, optimizer, scheduler, state)
                raise CancelledError(f"training stopped at stage {k + 1}, epoch {epoch + 1}, batch {batch}; "
                                     "last.pt kept: run again with --resume to continue")
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                out = net(x)
            loss = segmentation_loss(out, y, cfg.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(x)
            count += len(x)
            batch += 1
            done = batches_before + batch
            self.progress.set_fraction(done / total_batches)
            _emit(self.progress, event="batch", stage=k, epoch=global_epoch + 1, batch=batch,
                  batches=batches_per_epoch, loss=float(loss.detach()), fraction=done / total_batches)
            if cfg.checkpoint_every and batch % cfg.checkpoint_every == 0 and batch < batches_per_epoch:
                state.update(batch=batch, loss_sum=loss_sum, count=count,
                             epoch_seconds=time.perf_counter() - epoch_start)
                if self.dist.is_main:
                    self._save_last(model, optimizer, scheduler, state)
        return loss_sum, count

    @torch.no_grad()
    def _evaluate(self, model: nn.Module, ds, k: int, norm=None) -> Confusion:
        """Landslide-class confusion over the whole split (shards summed over ranks)."""
        model.eval()
        mean, std = norm or self.norms[k]
        tds = TensorDataset(ds, mean, std, augment=False, seed=0)
        counts = torch.zeros(4, dtype=torch.float64, device=self.device)
        for x, y in self._loader(tds, shuffle_free_indices=shard(len(tds), self.dist.rank, self.dist.world)):
            x = x.to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                out = model(x)
            pred = landslide_prediction(out, self.cfg.threshold)
            truth = y[:, 0].to(self.device) > 0.5
            counts += torch.stack([(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum(),
                                   (~pred & ~truth).sum()]).double()
        tp, fp, fn, tn = all_reduce_sum(counts.tolist(), self.dist, self.device)
        return Confusion(int(tp), int(fp), int(fn), int(tn))

    def _forgetting_row(self, model: nn.Module, k: int, state: dict[str, Any]) -> None:
        """After stage k: F1 on the validation split of every dataset seen so far."""
        if len(state["forgetting"]) > k:
            return
        row: dict[str, Any] = {"after_stage": k + 1, "trained_on": self.stages[k].name}
        for j, stage in enumerate(self.stages[: k + 1]):
            if stage.val is None or stage.in_channels != model.in_channels:
                row[stage.name] = math.nan
            else:
                row[stage.name] = self._evaluate(model, stage.val, j).f1
        state["forgetting"].append(row)
        if self.dist.is_main:
            names = [s.name for s in self.stages]
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=["after_stage", "trained_on", *names], restval="")
            writer.writeheader()
            writer.writerows(state["forgetting"])
            write_text_atomic(self.out / "forgetting.csv", buf.getvalue())
            self.progress.info("forgetting (val F1 per dataset): " + ", ".join(
                f"{n} {row[n]:.3f}" for n in names[: k + 1]))

    def _card(self, k: int) -> ModelCard:
        stage = self.stages[k]
        mean, std = self.norms[k]
        return ModelCard(self.cfg.model, stage.in_channels, self.cfg.num_classes,
                         stored_options(self.cfg.model_options), size_multiple=self.size_multiple,
                         bands=list(stage.train.band_names), patch_size=int(stage.train.patch_size or 128),
                         resolution_m=stage.train.resolution_m, mean=list(mean), std=list(std),
                         threshold=self.cfg.threshold, nodata=stage.train.nodata,
                         training_dataset=" -> ".join(s.name for s in self.stages[: k + 1]), version=__version__)

    def _save_last(self, model, optimizer, scheduler, state: dict[str, Any]) -> None:
        training_state = {k: v for k, v in state.items() if k != "model"}
        training_state.update(optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                              rng=torch.get_rng_state(), scaler=None)
        save_checkpoint(self.out / "last.pt", model, self._card(state["stage"]), training_state)

    def _write_metrics(self, history: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        writer.writerows(history)
        write_text_atomic(self.out / "metrics.csv", buf.getvalue())
        from ..core.report import training_curves_png

        with atomic_file(self.out / "curves.png") as tmp:
            tmp.write_bytes(training_curves_png(history))

    def _export_onnx(self) -> Path | None:
        from .checkpoint import model_from_checkpoint
        from .onnx_export import export_onnx

        try:
            model, card = model_from_checkpoint(self.out / "best.pt")
            return export_onnx(model, card, self.out / "model.onnx")
        except Exception as exc:  # keep the run: best.pt is still there and `lmhld export-onnx` can retry
            self.progress.warn(f"ONNX export failed ({type(exc).__name__}: {exc}); best.pt is kept")
            return None


def train(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = False,
          progress: Progress | None = None) -> TrainResult:
    """Train as `cfg` says into the run folder `out_dir` (see the module docstring)."""
    return Trainer(cfg, out_dir, progress).fit(resume)


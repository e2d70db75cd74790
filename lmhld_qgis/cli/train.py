"""`lmhld train`: single, mix or part training; also what torchrun and the QGIS child process run."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ..core.modelcard import RELATIVE_SURFACES
from .argtypes import non_negative_float, non_negative_int, positive_float, positive_int, probability
from .launch import launches_workers


def _auto_or(parse: Any) -> Any:
    """An argparse type that takes "auto" or what `parse` takes."""

    def parse_value(text: str) -> Any:
        return "auto" if text == "auto" else parse(text)

    parse_value.__name__ = f"'auto' or {parse.__name__}"
    return parse_value


def relative_bands(text: str) -> list[int] | str:
    """--relative-bands: "auto", "none", or 1-based input bands ("4" or "4,5") -> 0-based positions."""
    if text in ("auto", "none"):
        return "auto" if text == "auto" else []
    try:
        bands = [int(v) for v in text.split(",")]
    except ValueError:
        bands = []
    if not bands or any(b < 1 for b in bands):
        raise argparse.ArgumentTypeError(f"expected auto, none or 1-based band numbers such as 4 or 4,5; got {text!r}")
    return [b - 1 for b in bands]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a network (single, mix or part mode)",
                       description="Train one of the U-Net family networks or a baseline on exported datasets (or "
                                   "Landslide4Sense, CAS, image/mask folders). Several GPUs: --processes N "
                                   "(or torchrun --nproc-per-node N -m lmhld_qgis train ...). A run continues with "
                                   "--resume (from its config.json: `lmhld train --out RUN --resume --epochs 80` "
                                   "extends a finished run to 80 epochs).")
    from ..models.registry import BASELINE_NAMES, UNET_NAMES

    p.add_argument("--model", help=f"{', '.join(UNET_NAMES)} (default unet); baselines: {', '.join(BASELINE_NAMES)}")
    p.add_argument("--model-option", action="append", metavar="KEY=VALUE",
                   help="network option (repeat): encoder=resnet50, encoder_weights=resnet50.pth, "
                        "deep_supervision=true, ...")
    p.add_argument("--data", action="append", help="dataset folder (repeat; the order is part mode's order)")
    p.add_argument("--mode", choices=("single", "mix", "part"),
                   help="single (default): one dataset; mix: several of one patch size together; part: one after "
                        "the other, in --data order")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--config", help="TOML or YAML file with any option of the [train] table")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in RUN_DIR from last.pt (its options come from RUN_DIR/config.json)")
    recipe = p.add_argument_group("recipe (what the run is)")
    recipe.add_argument("--recipe", choices=("default", "paper"),
                        help="default: AdamW, warm-up + cosine, strong augmentation, early stopping, calibrated "
                             "threshold; paper: SGD 1e-2, exponential 0.99, flips/rotations, 50 epochs")
    recipe.add_argument("--epochs", type=positive_int,
                        help="epochs, per stage in part mode (default 50, with early stopping after 10 without a "
                             "better validation F1; hours on a CPU for a large dataset: --epochs 5 for a first look)")
    recipe.add_argument("--batch-size", type=_auto_or(positive_int),
                        help="global batch size; auto (default): 16, or fewer (down to 4) when the training split "
                             "is small, so that an epoch makes 20 steps where the patches allow it")
    recipe.add_argument("--width", type=positive_int, help="base width of the network (model option base_width)")
    recipe.add_argument("--optimizer", choices=("sgd", "adam", "adamw"))
    recipe.add_argument("--lr", type=positive_float, help="peak learning rate")
    recipe.add_argument("--weight-decay", type=non_negative_float)
    recipe.add_argument("--schedule", choices=("cosine", "exponential", "constant"))
    recipe.add_argument("--warmup-epochs", type=non_negative_float)
    recipe.add_argument("--loss", choices=("bce_dice", "bce", "ce", "focal", "tversky", "focal_tversky"))
    recipe.add_argument("--augment", choices=("strong", "flips", "none"))
    recipe.add_argument("--no-augment", action="store_true", help="same as --augment none")
    recipe.add_argument("--early-stopping", type=non_negative_int, metavar="EPOCHS",
                        help="stop after this many epochs without a better validation F1 (0: never)")
    recipe.add_argument("--threshold", type=_auto_or(probability),
                        help="detection threshold in the model card; auto: F1-best on the validation split")
    recipe.add_argument("--relative-bands", type=relative_bands, metavar="auto|none|BANDS",
                        help="bands (1-based, e.g. 4) whose level each patch loses, as a DSM/DEM should: the network "
                             "sees relief, not altitude; auto (default): bands named as elevation or whose level "
                             "varies between patches far more than within them")
    recipe.add_argument("--relative-surface", choices=("auto", *RELATIVE_SURFACES),
                        help="what those bands lose per patch: ground: the plane through the pixels that are not "
                             "canopy (a DSM with trees, in metres: 0 is the ground, scars lie below it); plane: "
                             "its best-fit plane (the hillslope goes, local relief stays); level: its level only "
                             "(models before planes); auto (default): ground for pixels of 2 m or finer, else "
                             "plane")
    recipe.add_argument("--seed", type=non_negative_int)
    recipe.add_argument("--init-from", metavar="CHECKPOINT|RUN_DIR",
                        help="fine-tune: start from a trained network (its best.pt, or a run folder) instead of "
                             "random weights; same --model and size; a few epochs at a lower --lr (e.g. 3e-4)")
    hw = p.add_argument_group("hardware (free to change on --resume)")
    hw.add_argument("--device", help="auto, cpu, cuda, cuda:1")
    hw.add_argument("--processes", type=positive_int, metavar="N",
                    help="train in N processes on this machine, one per GPU (DDP, PyTorch's torchrun engine; on "
                         "CPUs they share the cores); several machines: torchrun on each")
    hw.add_argument("--amp", choices=("auto", "bf16", "off"), help="bf16 autocast (auto: on CUDA)")
    hw.add_argument("--workers", type=_auto_or(non_negative_int),
                    help="DataLoader processes when patches are not cached (auto: from the cores on CUDA)")
    hw.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                    help="channels-last memory format (default: on CUDA)")
    hw.add_argument("--pin-memory", action=argparse.BooleanOptionalAction, default=None,
                    help="pinned host memory for copies to the GPU (default: on CUDA)")
    hw.add_argument("--persistent-workers", action=argparse.BooleanOptionalAction, default=None,
                    help="keep DataLoader workers between epochs (default: when there are workers)")
    hw.add_argument("--cache", choices=("auto", "memory", "pack", "off"),
                    help="decode patches once: in memory, or a memory-mapped pack next to the dataset (auto: "
                         "memory when it fits --cache-memory-mb)")
    hw.add_argument("--cache-memory-mb", type=non_negative_int, help="memory the cache may use (0: a quarter of "
                                                                     "the available memory)")
    hw.add_argument("--compile", action="store_true", default=None, help="torch.compile the network")
    hw.add_argument("--checkpoint-every", type=non_negative_int, metavar="BATCHES",
                    help="also save last.pt every N batches")
    hw.add_argument("--checkpoint-seconds", type=non_negative_float,
                    help="save last.pt when this long has passed since the last save (300; 0: every epoch); "
                         "also with the run's first best.pt")
    p.add_argument("--progress-json", action="store_true", help="machine-readable progress on stdout (for QGIS)")
    p.set_defaults(run=run, unlocked=lambda args: launches_workers(args.processes))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = ("model", "data", "mode", "recipe", "epochs", "batch_size", "optimizer", "lr", "weight_decay",
             "schedule", "warmup_epochs", "loss", "augment", "early_stopping", "threshold", "relative_bands",
             "relative_surface", "seed", "init_from",
             "device", "amp",
             "workers", "channels_last", "pin_memory", "persistent_workers", "cache", "cache_memory_mb", "compile",
             "checkpoint_every", "checkpoint_seconds")
    values = {name: getattr(args, name) for name in names}
    if args.no_augment:
        values["augment"] = "none"
    if args.init_from is not None:  # recorded absolute: the run resumes from anywhere
        values["init_from"] = str(Path(args.init_from).resolve())
    return values


def run(args: argparse.Namespace) -> int:
    import os

    from ..core.errors import CancelledError
    from ..training.config import load_config, parse_model_options, resume_config
    from ..training.signals import stop_on_signals
    from ..training.trainer import train
    from .failures import outputs_in_place, say_once
    from .progress import BarProgress, JsonProgress

    if launches_workers(args.processes):  # the workers lock, log and write; this process waits for them
        from .launch import launch

        return launch(args.processes, getattr(args, "argv", None) or sys.argv[1:], args.out)
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:  # a worker (of this launcher or torchrun's)
        from .launch import end_with_launcher

        end_with_launcher()
    overrides = _overrides(args)
    cfg = resume_config(args.out, args.config, overrides) if args.resume else load_config(args.config, overrides)
    if args.width:
        cfg.model_options = {**cfg.model_options, "base_width": args.width}
    cfg.model_options = {**cfg.model_options, **parse_model_options(args.model_option)}
    rank = int(os.environ.get("RANK", "0"))
    progress: BarProgress | JsonProgress
    if args.progress_json:
        progress = JsonProgress(quiet=rank != 0)
    else:
        progress = BarProgress("train", enabled=None if rank == 0 else False, quiet=rank != 0)
    try:
        with stop_on_signals(progress) as stoppable:
            result = train(cfg, args.out, resume=args.resume, progress=stoppable)
    except CancelledError as exc:  # every process of a multi-process run stops: said once per machine
        say_once(f"lmhld train: {exc}")
        return 130
    except KeyboardInterrupt:
        say_once(f"lmhld train: interrupted at once; {args.out} keeps the last.pt saved before (if any): run again "
                 "with --resume to continue from it")
        return 130
    finally:
        progress.close()
    outputs_in_place()
    if rank == 0:
        summary = {"event": "done", "out": str(result.out_dir), "best_f1": result.best_f1,
                   "onnx": str(result.onnx) if result.onnx else None, "threshold": result.threshold,
                   "threshold_source": result.threshold_source, "stopped_early": result.stopped_early}
        if math.isnan(result.best_f1):
            best = "no validation split: best.pt is the epoch of lowest training loss"
        elif result.ranked_by_loss:
            best = (f"best.pt is the epoch of lowest training loss (validation too small to rank epochs), its "
                    f"validation F1 {result.best_f1:.4f} at threshold {result.val_threshold:g}")
        else:
            best = f"best validation F1 {result.best_f1:.4f} at threshold {result.val_threshold:g}"
        print(json.dumps(summary) if args.progress_json else
              f"{best}; model threshold {result.threshold:g}: {result.threshold_note or result.threshold_source}; "
              f"run folder {result.out_dir} (metrics.csv, curves.png, best.pt, last.pt, model.onnx, report.html)")
    return 0

"""`lmhld train`: single, mix or part training; also what torchrun and the QGIS child process run."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a network (single, mix or part mode)",
                       description="Train one of the U-Net family networks or a baseline on exported datasets (or "
                                   "Landslide4Sense, CAS, image/mask folders). Several GPUs: torchrun "
                                   "--nproc_per_node N -m lmhld_qgis train ...")
    from ..models.registry import BASELINE_NAMES, UNET_NAMES

    p.add_argument("--model", help=f"{', '.join(UNET_NAMES)}; baselines: {', '.join(BASELINE_NAMES)}")
    p.add_argument("--model-option", action="append", metavar="KEY=VALUE",
                   help="network option (repeat): encoder=resnet50, encoder_weights=resnet50.pth, "
                        "deep_supervision=true, ...")
    p.add_argument("--data", action="append", help="dataset folder (repeat; the order is part mode's order)")
    p.add_argument("--mode", choices=("single", "mix", "part"))
    p.add_argument("--epochs", type=int, help="epochs (per stage in part mode)")
    p.add_argument("--batch-size", type=int, help="global batch size (16)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--config", help="TOML or YAML file with any option of the [train] table")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from last.pt")
    p.add_argument("--optimizer", choices=("sgd", "adam"))
    p.add_argument("--lr", type=float)
    p.add_argument("--loss", choices=("bce_dice", "bce", "ce"))
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--amp", choices=("auto", "bf16", "off"))
    p.add_argument("--workers", type=int)
    p.add_argument("--width", type=int, help="base width of the network (model option base_width)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--checkpoint-every", type=int, help="also save last.pt every N batches")
    p.add_argument("--progress-json", action="store_true", help="machine-readable progress on stdout (for QGIS)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os

    from ..training.config import load_config, parse_model_options
    from ..training.trainer import train
    from .progress import BarProgress, JsonProgress

    overrides = {"model": args.model, "data": args.data, "mode": args.mode, "epochs": args.epochs,
                 "batch_size": args.batch_size, "optimizer": args.optimizer, "lr": args.lr, "loss": args.loss,
                 "seed": args.seed, "device": args.device, "amp": args.amp, "workers": args.workers,
                 "checkpoint_every": args.checkpoint_every,
                 "augment": False if args.no_augment else None, "channels_last": True if args.channels_last else None}
    cfg = load_config(args.config, overrides)
    if args.width:
        cfg.model_options = {**cfg.model_options, "base_width": args.width}
    cfg.model_options = {**cfg.model_options, **parse_model_options(args.model_option)}
    rank = int(os.environ.get("RANK", "0"))
    if args.progress_json:
        progress = JsonProgress()
    else:
        progress = BarProgress("train", enabled=None if rank == 0 else False, quiet=rank != 0)
    try:
        result = train(cfg, args.out, resume=args.resume, progress=progress)
    finally:
        progress.close()
    if rank == 0:
        summary = {"event": "done", "out": str(result.out_dir), "best_f1": result.best_f1,
                   "onnx": str(result.onnx) if result.onnx else None}
        print(json.dumps(summary) if args.progress_json else
              f"best validation F1 {result.best_f1:.4f}; run folder {result.out_dir} "
              f"(metrics.csv, curves.png, best.pt, last.pt, model.onnx, report.html)")
    return 0

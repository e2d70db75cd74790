"""Training throughput: end-to-end `lmhld train` (the public `train()` with default options: cache, on-device
augmentation, validation, checkpoints, metrics) over a whole epoch, as a ratio to the bare training step on
batches already on the device, per network.

For each network: images/s of the in-memory step (same loss, optimiser, autocast and memory format as the
trainer; batches normalised once and held on the device), then a real run of `--epochs` epochs; an epoch's wall
time is taken between the trainer's epoch events (so it holds validation, checkpoint hand-over and metrics), and
the last epoch is reported (the first holds the cache fill and warm-up). Overhead = epoch time minus the same
batches' in-memory steps and validation forward passes. Start-up (call to first batch) and the end (last epoch to
return: ONNX export, report) are printed too.

Usage:
  python bench/bench_train.py --device cuda                   # every network at the papers' width, 256 px
  python bench/bench_train.py --device cpu --networks unet --width 16 --patch 64 --threads 1
  python bench/bench_train.py --overhead                      # the 25-patch per-epoch overhead check
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class Clock:
    """A Progress that notes when each epoch ends and when the first batch ran."""

    start: float = field(default_factory=time.perf_counter)
    first_batch: float | None = None
    epochs: list[float] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def set_fraction(self, fraction: float) -> None:
        pass

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.messages.append("warning: " + message)

    def is_cancelled(self) -> bool:
        return False

    def event(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        if data["event"] == "batch" and self.first_batch is None:
            self.first_batch = now
        if data["event"] == "epoch":
            self.epochs.append(now)


def make_dataset(base: Path, patch: int, patches: int) -> Path:
    """An exported dataset of about `patches` training patches (generated scene, 4 bands uint16)."""
    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.synthetic import make_scene

    side = max(4 * patch, int(math.sqrt(patches / 0.7 / 0.6) * patch) + patch)
    per_patch = max(1, patch * patch // 2048)  # the generated landslides are ~12 px across: more in larger patches
    scene = make_scene(base / "scene", width=side, height=side, seed=3,
                       n_landslides=max(20, per_patch * side * side // (patch * patch)))
    return export_patches([scene.raster], scene.inventory, base / "ds",
                          ExportOptions(patch_size=patch, min_fraction=0.02, tolerance=0.05)).out_dir


def trim_split(ds_dir: Path, split: str, n: int) -> None:
    """Keep the first n patches of a split (an exact dataset size for the overhead check)."""
    path = ds_dir / "splits" / f"{split}.txt"
    ids = path.read_text().split()
    path.write_text("\n".join(ids[:n]) + "\n")


def in_memory_rates(name: str, options: dict[str, Any], ds_dir: Path, batch: int, steps: int,
                    device: torch.device, amp: bool, channels_last: bool) -> tuple[float, float]:
    """(training images/s, validation images/s) of the bare step on batches already on the device."""
    from lmhld_qgis.core.datasets import open_dataset
    from lmhld_qgis.models import build_model
    from lmhld_qgis.training.augment import BatchAugment
    from lmhld_qgis.training.cache import decode_to_memory
    from lmhld_qgis.training.data import normalisation
    from lmhld_qgis.training.losses import segmentation_loss

    ds = open_dataset(ds_dir, "train")
    arrays = decode_to_memory(ds, 4)
    norm = BatchAugment(*normalisation(ds), "none", 0, device)
    n = min(batch * 4, len(ds))
    x, y = norm(torch.from_numpy(arrays.images[:n].astype("float32")), torch.from_numpy(arrays.masks[:n]), ())
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, n - batch + 1, batch)]
    torch.manual_seed(0)
    model = build_model(name, ds.num_bands, **options).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def train_step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(xb)
        loss = segmentation_loss(out, yb, "bce_dice")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def eval_step(xb: torch.Tensor, _: torch.Tensor) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            model(xb)

    def rate(step: Any, train: bool) -> float:
        model.train(train)
        for xb, yb in batches[:2]:
            step(xb, yb)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        for i in range(steps):
            step(*batches[i % len(batches)])
        sync(device)
        return steps * batch / (time.perf_counter() - t0)

    return rate(train_step, True), rate(eval_step, False)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def end_to_end(name: str, options: dict[str, Any], ds_dir: Path, out: Path, args: argparse.Namespace) -> Clock:
    from lmhld_qgis.training.config import TrainConfig
    from lmhld_qgis.training.trainer import train

    cfg = TrainConfig(model=name, model_options=options, data=[str(ds_dir)], epochs=args.epochs,
                      batch_size=args.batch, device=args.device, compile=args.compile, early_stopping=0)
    clock = Clock()
    train(cfg, out, progress=clock)
    clock.epochs.append(time.perf_counter())  # the end of the run (after export and report)
    return clock


def network_options(name: str, width: int) -> dict[str, Any]:
    from lmhld_qgis.models.registry import UNET_NAMES

    if name in UNET_NAMES:
        return {"base_width": width}
    if name == "fcn8s":
        return {"base_width": width}
    return {}  # smp baselines at their papers' settings (ResNet encoders)


def bench_network(name: str, ds_dir: Path, work: Path, args: argparse.Namespace) -> dict[str, float]:
    from lmhld_qgis.core.datasets import open_dataset
    from lmhld_qgis.training.hardware import resolve_device

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    options = network_options(name, args.width)
    train_rate, val_rate = in_memory_rates(name, options, ds_dir, args.batch, args.steps, device, cuda, cuda)
    clock = end_to_end(name, options, ds_dir, work / f"run_{name}", args)
    n_train, n_val = len(open_dataset(ds_dir, "train")), len(open_dataset(ds_dir, "val"))
    epoch = clock.epochs[-2] - clock.epochs[-3]  # the last epoch (between the last two epoch events)
    in_memory = n_train / train_rate + n_val / val_rate
    startup = (clock.first_batch or 0) - clock.start - args.batch / train_rate  # less the first step itself
    return {"train_img_s": train_rate, "infer_img_s": val_rate, "e2e_img_s": n_train / epoch,
            "ratio": n_train / epoch / train_rate,
            "epoch_s": epoch, "overhead_s": epoch - in_memory, "startup_s": startup,
            "end_s": clock.epochs[-1] - clock.epochs[-2], "n_train": n_train, "n_val": n_val}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--networks", default="all", help="comma-separated names, or all")
    parser.add_argument("--width", type=int, default=64, help="base width of the U-Nets and FCN-8s (papers: 64)")
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--patches", type=int, default=256, help="training patches (about)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="in-memory steps timed")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--dataset", type=Path, help="an exported dataset to train on instead of generating one "
                        "(a GPU host without GDAL: export here, copy it there)")
    parser.add_argument("--overhead", action="store_true",
                        help="the per-epoch overhead check: 25 training patches (and 7 validation), U-Net")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from lmhld_qgis.models.registry import MODEL_NAMES

    names = list(MODEL_NAMES) if args.networks == "all" else args.networks.split(",")
    if args.overhead:
        names = names if args.networks != "all" else ["unet"]
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        work = Path(tmp)
        ds_dir = args.dataset or make_dataset(work, args.patch, 40 if args.overhead else args.patches)
        if args.overhead:
            trim_split(ds_dir, "train", 25)
            trim_split(ds_dir, "val", 7)
        device = args.device
        patch = json.loads((ds_dir / "dataset.json").read_text())["patch_size"]
        print(f"device {device}, patches {patch} px, batch {args.batch}, epochs {args.epochs}, width "
              f"{args.width}, torch {torch.__version__}, threads {torch.get_num_threads()}"
              f"{', compiled' if args.compile else ''}")
        print("| network | in-memory step img/s | `lmhld train` img/s (whole epoch) | ratio | epoch s | overhead "
              "s/epoch | start-up s | export+report s | inference img/s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in names:
            r = bench_network(name, ds_dir, work, args)
            print(f"| {name} | {r['train_img_s']:.3g} | {r['e2e_img_s']:.3g} | **{r['ratio']:.2f}** | "
                  f"{r['epoch_s']:.2f} | {r['overhead_s']:.3f} | {r['startup_s']:.1f} | {r['end_s']:.1f} | "
                  f"{r['infer_img_s']:.3g} |",
                  flush=True)
        print(f"({r['n_train']} training and {r['n_val']} validation patches)")


if __name__ == "__main__":
    main()

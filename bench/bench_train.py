"""Training input pipeline: images per second through the real data pipeline (GeoTIFF patches read, normalised,
augmented, batched by the DataLoader) as a ratio to the same training steps on tensors already in memory.

Usage: python bench/bench_train.py [--width 16] [--steps 40] [--workers 0] [--device auto] [--amp auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="auto", choices=("auto", "bf16", "off"))
    args = parser.parse_args()
    from torch.utils.data import DataLoader

    from lmhld_qgis.core.datasets import open_dataset
    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.synthetic import make_scene
    from lmhld_qgis.models import build_model
    from lmhld_qgis.training.data import TensorDataset, normalisation
    from lmhld_qgis.training.losses import segmentation_loss
    from lmhld_qgis.training.trainer import resolve_device

    device = resolve_device(args.device)
    amp = args.amp == "bf16" or (args.amp == "auto" and device.type == "cuda")
    with tempfile.TemporaryDirectory() as tmp:
        scene = make_scene(Path(tmp) / "s", width=2048, height=2048, n_landslides=500, seed=3)
        ds_dir = export_patches([scene.raster], scene.inventory, Path(tmp) / "ds",
                                ExportOptions(patch_size=64, min_fraction=0.05, tolerance=0.05)).out_dir
        ds = open_dataset(ds_dir, "train")
        tds = TensorDataset(ds, *normalisation(ds), augment=True, seed=0)
        loader = DataLoader(tds, batch_size=args.batch, shuffle=True, num_workers=args.workers, drop_last=True,
                            pin_memory=device.type == "cuda")
        model = build_model("unet", 4, base_width=args.width).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(x, y):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = model(x)
            loss = segmentation_loss(out, y, "bce_dice")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def run(batches) -> float:
            n, t0 = 0, time.perf_counter()
            for x, y in batches:
                step(x.to(device, non_blocking=True), y.to(device, non_blocking=True))
                n += len(x)
                if n >= args.steps * args.batch:
                    break
            if device.type == "cuda":
                torch.cuda.synchronize()
            return n / (time.perf_counter() - t0)

        def loop():
            while True:
                yield from loader

        memory = [next(iter(loader)) for _ in range(4)]
        memory = [(x.to(device), y.to(device)) for x, y in memory]
        run(iter(memory * 2))  # warm-up
        pipeline = run(loop())
        in_memory = run(iter(memory * (args.steps // len(memory) + 1)))
    print(f"training U-Net width {args.width}, 64 px patches, batch {args.batch}, {device.type}"
          f"{' bf16' if amp else ''}, workers {args.workers}: real pipeline {pipeline:.1f} img/s, tensors in memory "
          f"{in_memory:.1f} img/s; ratio {pipeline / in_memory:.2f}")


if __name__ == "__main__":
    main()

"""Training recipes on an unseen generated area: train on area A, detect on area B (another generated scene) as
it is, with a sensor shift (per-band gain and offset) and with a strong shift (larger gain and offset, blur and
noise), and report pixel precision, recall and F1 per recipe variant, within a CPU budget.

Generated scenes are easy (bright blobs on vegetation); they show the direction of a change, not real-scene
quality (see docs/quality.md for real data).

Usage: python bench/bench_recipes.py [--epochs 12] [--width 16] [--threads 1] [--variants paper,default,...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS: dict[str, dict[str, Any]] = {
    "paper": {"recipe": "paper"},
    "default": {},
    "default_flips": {"augment": "flips"},
    "default_focal": {"loss": "focal"},
    "default_tversky": {"loss": "tversky"},
}


def shifted(raster: Path, out: Path, gain: list[float], offset: list[float], blur: float, noise: float) -> Path:
    """The raster as another sensor or date would see it: gain and offset per band, optional blur and noise."""
    import rasterio
    from scipy.ndimage import gaussian_filter

    with rasterio.open(raster) as src:
        data = src.read().astype(np.float64)
        profile, names = src.profile, src.descriptions
    valid = data > 0
    if blur:
        data = np.stack([gaussian_filter(band, blur) for band in data])
    data = data * np.array(gain)[:, None, None] + np.array(offset)[:, None, None]
    data += np.random.default_rng(5).normal(0, noise, data.shape) if noise else 0
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(np.where(valid, np.clip(data, 1, 65535), 0).astype(np.uint16))
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name or "")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from lmhld_qgis.core.evaluate import evaluate_scene
    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.synthetic import make_scene
    from lmhld_qgis.training.config import TrainConfig
    from lmhld_qgis.training.trainer import train

    with tempfile.TemporaryDirectory(prefix="bench_recipes_") as tmp:
        base = Path(tmp)
        a = make_scene(base / "a", width=768, height=768, n_landslides=110, seed=21, name="a")
        b = make_scene(base / "b", width=768, height=768, n_landslides=110, seed=22, name="b", noise=260.0)
        scenes = {"B": b.raster,
                  "B, sensor shift": shifted(b.raster, base / "b_shift.tif", [0.85, 1.12, 0.9, 1.18],
                                             [60, -40, 80, -120], 0.0, 0.0),
                  "B, strong shift": shifted(b.raster, base / "b_strong.tif", [0.7, 1.3, 0.75, 1.35],
                                             [150, -100, 200, -300], 1.0, 120.0)}
        ds = export_patches([a.raster], a.inventory, base / "ds",
                            ExportOptions(patch_size=64, name="a", min_fraction=0.1, tolerance=0.05)).out_dir
        print(f"U-Net width {args.width}, {args.epochs} epochs, 64 px patches of generated area A; torch "
              f"{torch.__version__}, threads {torch.get_num_threads()}")
        print("| variant | train s | threshold | " + " | ".join(f"{n}: P / R / F1" for n in scenes) + " |")
        print("|---|---:|---:|" + "---:|" * len(scenes))
        for name in args.variants.split(","):
            cfg = TrainConfig.from_values({**VARIANTS[name], "model": "unet", "model_options": {
                "base_width": args.width}, "data": [str(ds)], "epochs": args.epochs, "seed": 0})
            t0 = time.perf_counter()
            result = train(cfg, base / f"run_{name}")
            seconds = time.perf_counter() - t0
            cells = []
            for raster in scenes.values():
                m = evaluate_scene(result.onnx, raster, b.inventory)
                cells.append(f"{m['precision']:.3f} / {m['recall']:.3f} / **{m['f1']:.3f}**")
            print(f"| {name} | {seconds:.0f} | {result.threshold:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

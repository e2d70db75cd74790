"""Detection: (1) end-to-end throughput with overlap 0 as a ratio to the bare model on the same tiles (target
>= 0.9): interleaved runs, the best of each (the machine may be shared), and one run split into its parts; (2) peak
memory for a scene 8 times larger as a ratio to the smaller one (target <= 1.2), each in a fresh process, with
GDAL's block cache capped at 16 and at 64 MB; (3) the cost of the default overlap (25%) against its theoretical
(tile/stride)^2. The model is an untrained U-Net whose head is biased so that its mask is sparse (as a trained
model's); polygons below 50 m2 are dropped. `--provider cuda` measures onnxruntime's CUDA provider (and torch on
CUDA with `--models onnx,pt`).

Usage: python bench/bench_detect.py [--width 32] [--tile 256] [--provider cuda] [--models onnx,pt] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

MEMORY_CHILD = textwrap.dedent("""
    import json, sys
    from lmhld_qgis.core.detect import DetectOptions, detect
    raster, model, out = sys.argv[1:4]
    r = detect(raster, model, out + ".gpkg", out + ".tif", DetectOptions(overlap=0.25, batch_size=4, min_area_m2=50))
    # VmHWM: the peak since exec (ru_maxrss survives exec and would report the parent's peak)
    peak_rss_mb = lambda: next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print(json.dumps({"peak_rss_mb": peak_rss_mb(),
                      "windows": r.n_windows, "seconds": r.seconds}))
""")


def export_model(path: Path, width: int, tile: int) -> Path:
    """An untrained U-Net whose head is biased so that its mask is sparse (as a trained model's): .onnx, or a .pt
    checkpoint when `path` ends in .pt."""
    import torch

    from lmhld_qgis.core.modelcard import ModelCard
    from lmhld_qgis.models import build_model
    from lmhld_qgis.training.checkpoint import save_checkpoint
    from lmhld_qgis.training.onnx_export import export_onnx

    torch.manual_seed(0)
    net = build_model("unet", 4, base_width=width).eval()
    with torch.no_grad():  # untrained: bias the head so the mask is sparse, like a trained model's, not speckle
        net.head.bias.fill_(-4.0)
    card = ModelCard("unet", 4, model_options={"base_width": width}, bands=["blue", "green", "red", "nir"],
                     patch_size=tile, resolution_m=3.0, mean=[600, 900, 750, 2800], std=[400, 300, 450, 500])
    if path.suffix == ".pt":
        return save_checkpoint(path, net, card)
    return export_onnx(net, card, path)


def normalised_tiles(backend, raster: Path, tile: int) -> list[np.ndarray]:
    """The scene's tiles, read and normalised beforehand (what the bare model is timed on)."""
    import rasterio

    from lmhld_qgis.core.grid import covering_windows

    mean = np.asarray(backend.card.mean, np.float32)[:, None, None]
    std = np.asarray(backend.card.std, np.float32)[:, None, None]
    with rasterio.open(raster) as src:
        wins = covering_windows(src.height, src.width, tile, tile)
        return [(src.read(window=w.to_rasterio()).astype(np.float32) - mean) / std for w in wins]


def bare_model_seconds(backend, tiles: list[np.ndarray], batch: int) -> float:
    """The model alone on the same tiles, in the same batches."""
    t0 = time.perf_counter()
    for i in range(0, len(tiles), batch):
        backend.predict(np.stack(tiles[i:i + batch]))
    return time.perf_counter() - t0


class TimedBackend:
    """Wraps a backend to time its predictions inside a detection run (where the rest of the time goes)."""

    def __init__(self, inner) -> None:
        self.inner, self.card, self.provider = inner, inner.card, inner.provider
        self.seconds, self.first, self.last = 0.0, None, None

    def predict(self, x: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        self.first = self.first or t
        y = self.inner.predict(x)
        self.last = time.perf_counter()
        self.seconds += self.last - t
        return y


def throughput(model: Path, raster: Path, tmp: Path, args: argparse.Namespace) -> None:
    """Bare model and end-to-end detection, interleaved `repeat` times (the best of each, as the machine may be
    shared), then one profiled run that splits the end-to-end time."""
    from lmhld_qgis.core.backends import load_backend
    from lmhld_qgis.core.detect import DetectOptions, detect

    backend = load_backend(model, args.provider)
    tiles = normalised_tiles(backend, raster, args.tile)
    options = DetectOptions(overlap=0.0, batch_size=args.batch, provider=args.provider, min_area_m2=50)
    backend.predict(np.stack(tiles[:args.batch]))  # warm-up
    detect(raster, model, tmp / "warm.gpkg", options=options)
    bare, e2e = [], []
    for k in range(args.repeat):
        bare.append(bare_model_seconds(backend, tiles, args.batch))
        t0 = time.perf_counter()
        result = detect(raster, model, tmp / f"o{k}.gpkg", tmp / f"p{k}.tif", options)
        e2e.append(time.perf_counter() - t0)
    n = len(tiles)
    pairs = ", ".join(f"{b / e:.3f}" for b, e in zip(bare, e2e, strict=True))
    print(f"throughput, overlap 0, {n} tiles of {args.tile} px, batch {args.batch}, {model.suffix} on "
          f"{result.provider} (U-Net width {args.width}): bare model {n / min(bare):.2f} tiles/s, end-to-end (read, "
          f"normalise, infer, blend, write, overviews, polygons) {n / min(e2e):.2f} tiles/s; ratio of the best runs "
          f"{min(bare) / min(e2e):.3f} (target >= 0.9); ratio per interleaved pair {pairs}")
    timed = TimedBackend(backend)
    t0 = time.perf_counter()
    detect(raster, timed, tmp / "t.gpkg", tmp / "t.tif", options)
    total = time.perf_counter() - t0
    print(f"  one run split: {total:.2f} s = before the first batch {timed.first - t0:.2f} s + inference "
          f"{timed.seconds:.2f} s + waiting between batches {timed.last - timed.first - timed.seconds:.2f} s + after "
          f"the last batch (last rows, overviews, polygons) {t0 + total - timed.last:.2f} s; bare model "
          f"{min(bare):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=32, help="U-Net base width of the benchmark model")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--side", type=int, default=2048, help="scene side for the throughput test")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved bare / end-to-end pairs")
    parser.add_argument("--provider", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--models", default="onnx", help="comma-separated: onnx (onnxruntime), pt (torch)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    args = parser.parse_args()
    from lmhld_qgis.core.synthetic import make_scene

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scene = make_scene(tmp / "s", width=args.side, height=args.side, n_landslides=200, seed=1)
        for kind in args.models.split(","):
            model = export_model(tmp / f"m.{kind}", args.width, args.tile)
            throughput(model, scene.raster, tmp, args)
        model = tmp / "m.onnx"
        overlap_cost(scene.raster, model if model.exists() else export_model(model, args.width, args.tile), tmp, args)
        if not args.no_memory:
            memory_peaks(tmp)


def overlap_cost(raster: Path, model: Path, tmp: Path, args: argparse.Namespace) -> None:
    """Time of the default 25% overlap against no overlap, beside the theoretical (tile/stride)^2."""
    from lmhld_qgis.core.detect import DetectOptions, detect

    seconds, results = [], []
    for overlap in (0.0, 0.25):
        t0 = time.perf_counter()
        results.append(detect(raster, model, tmp / f"ov{overlap}.gpkg", tmp / f"ov{overlap}.tif",
                              DetectOptions(overlap=overlap, batch_size=args.batch, provider=args.provider,
                                            min_area_m2=50)))
        seconds.append(time.perf_counter() - t0)
    r0, r25 = results
    print(f"default overlap 25%: {r25.n_windows} windows vs {r0.n_windows}; time x{seconds[1] / seconds[0]:.2f} "
          f"against theoretical (tile/stride)^2 = x{(args.tile / r25.stride) ** 2:.2f} (window count "
          f"x{r25.n_windows / r0.n_windows:.2f}, more at the edges where the last window is shifted)")


def memory_peaks(tmp: Path) -> None:
    """Peak memory of detection on scenes of 8 times the pixels, each in a fresh process, at two GDAL caches."""
    from lmhld_qgis.core.synthetic import make_scene

    small_model = export_model(tmp / "small.onnx", 4, 128)
    shapes = {"8x taller": (2048, 8192), "4x wider, 2x taller": (8192, 2048)}
    scenes = {label: make_scene(tmp / f"mem{i}", width=w, height=h, n_landslides=int(w * h / 20000), seed=2,
                                noise=60.0).raster
              for i, (label, (w, h)) in enumerate({"base 2048x1024": (2048, 1024), **shapes}.items())}
    for cache in ("16", "64"):  # GDAL's block cache fills up to its cap on bigger scenes: show both caps
        env = dict(os.environ, GDAL_CACHEMAX=cache)
        peaks = {}
        for label, raster in scenes.items():
            out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(raster), str(small_model),
                                  str(tmp / f"mem_{len(peaks)}_{cache}")], capture_output=True, text=True,
                                 check=True, env=env)
            peaks[label] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]
        base = peaks.pop("base 2048x1024")
        print(f"peak memory, GDAL_CACHEMAX {cache} MB: base 2048x1024 {base:.0f} MB; "
              + "; ".join(f"{k} {v:.0f} MB, ratio {v / base:.2f}" for k, v in peaks.items())
              + " (8x the pixels each; target <= 1.2)")


if __name__ == "__main__":
    main()

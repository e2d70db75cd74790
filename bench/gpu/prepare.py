"""Prepare the GPU session's kit here (where GDAL is): the datasets and the wheels a GPU host without GDAL needs.

Writes .gpu/ (git-ignored; about 46 MB, under the 64 MiB a device call carries):
  .gpu/data/bench   24 training, 8 validation, 4 test patches of 256 px (bench_train's generated scene), which
                    bench/gpu/replicate.py copies there to 1,024 + 128 for the throughput table
  .gpu/data/dsm64   a 0.5 m-like RGB + DSM-with-trees dataset, 64 px (the ground surface, resume, part mode)
  .gpu/data/dsm32   another area at 32 px (part mode's second stage)
  .gpu/wheels       rasterio (it bundles its own GDAL) and what the host lacks, for its Python 3.12

Usage: .venv/bin/python bench/gpu/prepare.py, then run bench/gpu/check.sh there with .gpu carried.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
KIT = ROOT / ".gpu"
WHEELS = ["rasterio==1.4.3", "affine==3.0.1", "cligj==0.7.2", "click-plugins==1.1.1.2",
          "segmentation-models-pytorch==0.6.0"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def trimmed_copy(src: Path, dst: Path, counts: dict[str, int]) -> None:
    """The first `counts[split]` patches of each split of an exported dataset, with its dataset.json."""
    for sub in ("img", "mask", "splits"):
        (dst / sub).mkdir(parents=True)
    shutil.copy(src / "dataset.json", dst / "dataset.json")
    for split, n in counts.items():
        ids = (src / "splits" / f"{split}.txt").read_text().split()[:n]
        (dst / "splits" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for patch in ids:
            for sub in ("img", "mask"):
                shutil.copy(src / sub / f"{patch}.tif", dst / sub / f"{patch}.tif")


def main() -> None:
    from bench_train import make_dataset

    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.synthetic import make_scene

    if KIT.exists():
        shutil.rmtree(KIT)
    with tempfile.TemporaryDirectory(prefix="gpu_kit_") as tmp:
        work = Path(tmp)
        trimmed_copy(make_dataset(work, 256, 256), KIT / "data" / "bench", {"train": 24, "val": 8, "test": 4})
        for i, (patch, seed) in enumerate(((64, 5), (32, 6))):
            scene = make_scene(work / f"dsm{i}", width=640, height=640, n_landslides=60, seed=seed,
                               elevation=1200.0 + 300 * i, canopy=18.0)
            export_patches([scene.raster], scene.inventory, KIT / "data" / f"dsm{patch}",
                           ExportOptions(patch_size=patch, bands=[1, 2, 3, 5], min_fraction=0.05, tolerance=0.1))
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(KIT / "wheels"),
                    *WHEELS], check=True)
    size = sum(p.stat().st_size for p in KIT.rglob("*") if p.is_file()) / 2**20
    print(f"{KIT}: {size:.0f} MB; on the GPU host: bash bench/gpu/check.sh (carry .gpu)")


if __name__ == "__main__":
    main()

"""Small generated datasets (exported from synthetic scenes) for training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmhld_qgis.core.export import ExportOptions, export_patches
from lmhld_qgis.core.synthetic import make_scene


def _area(base: Path, name: str, seed: int, size: int, bands=None, side: int = 384, n: int = 70) -> Path:
    scene = make_scene(base / f"scene_{name}", width=side, height=side, n_landslides=n, seed=seed)
    return export_patches([scene.raster], scene.inventory, base / name,
                          ExportOptions(patch_size=size, name=name, min_fraction=0.05, bands=bands,
                                        tolerance=0.05, seed=seed)).out_dir


@pytest.fixture(scope="session")
def areas(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("areas")
    return {"a32": _area(base, "a32", 1, 32), "b32": _area(base, "b32", 2, 32),
            "c64": _area(base, "c64", 3, 64, side=512, n=90), "rgb32": _area(base, "rgb32", 4, 32, bands=[1, 2, 3])}

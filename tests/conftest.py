"""Shared fixtures: the real data in ../shared/data, a staged plugin, and a qgis_process runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmhld_qgis.core.terms import speak

from .helpers import ROOT, SHARED_DATA

speak("flags")  # the tests read the core's messages as the command line and QGIS do; test_terms.py as Python's

QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real reference data not found at {SHARED_DATA} (clone with ../shared beside the project)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def kaikoura(shared_data: Path) -> Path:
    """Two real Sentinel-2 change scenes side by side (10 m, EPSG:32759) with their landslide shapefiles."""
    path = shared_data / "kaikoura"
    if not (path / "diff_landslide_70.tif").exists():
        pytest.skip(f"{path} is missing from ../shared/data")
    return path


@pytest.fixture(scope="session")
def colombia_inventory(shared_data: Path) -> Path:
    path = shared_data / "inventory" / "colombia_landslides.gpkg"
    if not path.exists():
        pytest.skip(f"{path} is missing from ../shared/data")
    return path


@pytest.fixture
def lmhld_provider(qgis_processing):
    """Make sure the lmhld provider is registered (the plugin load/unload test removes it)."""
    from processing.core.Processing import Processing
    from qgis.core import QgsApplication

    Processing.initialize()
    from lmhld_qgis.processing.provider import LmhldProvider

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("lmhld")
    if provider is None:
        provider = LmhldProvider()
        registry.addProvider(provider)
        _KEEP_ALIVE.append(provider)  # a provider whose Python wrapper dies is removed from the registry
    return provider


_KEEP_ALIVE: list = []


class QgisProcess:
    """Runs /usr/bin/qgis_process.bin with the plugin installed from the zip `make package` builds."""

    def __init__(self, base: Path) -> None:
        import zipfile

        sys.path.insert(0, str(ROOT / "tools"))
        from package import build_zip

        self.plugins = base / "plugins"
        with zipfile.ZipFile(build_zip(base / "lmhld_qgis.zip")) as zf:
            zf.extractall(self.plugins)  # what QGIS's "Install from ZIP" does
        self.profile = base / "profile"
        ini = self.profile / "profiles" / "default" / "QGIS" / "QGIS3.ini"
        ini.parent.mkdir(parents=True, exist_ok=True)
        ini.write_text("[PythonPlugins]\nlmhld_qgis=true\n")
        site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        self.env = dict(os.environ, QGIS_PLUGINPATH=str(self.plugins), QGIS_CUSTOM_CONFIG_PATH=str(self.profile),
                        QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(site))

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(QGIS_PROCESS), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def run_algorithm(self, alg: str, **params) -> tuple[subprocess.CompletedProcess, dict | None]:
        args = ["run", alg, "--json", "--"] + [f"{k}={v}" for k, v in params.items()]
        proc = self.run(*args)
        try:
            start = proc.stdout.index("{")
            return proc, json.loads(proc.stdout[start:])
        except ValueError:
            return proc, None


@pytest.fixture(scope="session")
def qgis_process(tmp_path_factory) -> QgisProcess:
    if not QGIS_PROCESS.exists():
        pytest.skip("qgis_process.bin not installed (run make setup)")
    return QgisProcess(tmp_path_factory.mktemp("qgis_process"))


@pytest.fixture(scope="session")
def small_onnx_model(tmp_path_factory) -> Path:
    """An untrained 4-band U-Net (width 4) exported with a full model card: fast, for plumbing tests."""
    import torch

    from lmhld_qgis.core.modelcard import ModelCard
    from lmhld_qgis.models import build_model
    from lmhld_qgis.training.onnx_export import export_onnx

    torch.manual_seed(0)
    model = build_model("unet", 4, base_width=4).eval()
    card = ModelCard("unet", 4, model_options={"base_width": 4}, bands=["blue", "green", "red", "nir"],
                     patch_size=64, resolution_m=3.0, mean=[600.0, 900.0, 750.0, 2800.0],
                     std=[400.0, 300.0, 450.0, 500.0], threshold=0.5)
    return export_onnx(model, card, tmp_path_factory.mktemp("model") / "small.onnx")


def _area(base: Path, name: str, seed: int, size: int, bands=None, side: int = 384, n: int = 70) -> Path:
    """An exported dataset from a generated scene (small, learnable; the paper's recipe keeps it small and fast to
    train on: the export recipes are tested in tests/core/test_export_recipes.py)."""
    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(base / f"scene_{name}", width=side, height=side, n_landslides=n, seed=seed)
    return export_patches([scene.raster], scene.inventory, base / name,
                          ExportOptions(patch_size=size, name=name, min_fraction=0.05, bands=bands,
                                        tolerance=0.05, seed=seed, recipe="paper")).out_dir


@pytest.fixture(scope="session")
def areas(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("areas")
    return {"a32": _area(base, "a32", 1, 32), "b32": _area(base, "b32", 2, 32),
            "c64": _area(base, "c64", 3, 64, side=512, n=90), "rgb32": _area(base, "rgb32", 4, 32, bands=[1, 2, 3])}


_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session, exitstatus) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """Leave with pytest's own exit status once everything is reported: Qt and QGIS objects destroyed during the
    interpreter's finalization, after exitQgis(), can crash the process after the summary (a segfault that would
    turn a green run red and says nothing about the code under test)."""
    if _EXIT_STATUS in config.stash and not hasattr(sys, "_called_from_pytester"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[_EXIT_STATUS])

"""Rules of the house: the method (core, models, training) never imports qgis or PyQt, and core is the bottom layer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .helpers import ROOT

QGIS_FREE = ("core", "models", "training", "cli", "workflows")
FORBIDDEN = ("qgis", "PyQt5", "PyQt6", "processing")
ABOVE_CORE = ("training", "models", "cli", "processing", "workflows")  # layers core must not reach up into
ABOVE_CORE_PACKAGES = [["lmhld_qgis", layer] for layer in ABOVE_CORE]


def test_core_sources_do_not_import_qgis():
    offenders = []
    for part in QGIS_FREE:
        for path in (ROOT / "lmhld_qgis" / part).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders


def _imported_modules(source: str, module_path: Path) -> list[str]:
    """Every module that `source` (the file at `module_path` under ROOT) imports, as an absolute dotted name;
    relative imports are resolved against its package, and `from pkg import name` also yields pkg.name (name may
    be a submodule)."""
    package = list(module_path.with_suffix("").parts[:-1])
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            found += [module, *(f"{module}.{a.name}" for a in node.names)]
    return found


def test_core_does_not_import_the_layers_above_it():
    offenders = []
    for path in (ROOT / "lmhld_qgis" / "core").rglob("*.py"):
        rel = path.relative_to(ROOT)
        offenders += [f"{rel}: {m}" for m in _imported_modules(path.read_text(), rel)
                      if m.split(".")[:2] in ABOVE_CORE_PACKAGES]
    assert not offenders


def test_the_layer_rule_sees_relative_imports():
    """The check above would pass vacuously if it misread `from ..training import x`; make sure it does not."""
    code = "from ...training.checkpoint import x\nfrom ... import models\nimport lmhld_qgis.cli\nfrom .. import grid\n"
    assert _imported_modules(code, Path("lmhld_qgis/core/datasets/probe.py")) == [
        "lmhld_qgis.training.checkpoint", "lmhld_qgis.training.checkpoint.x", "lmhld_qgis", "lmhld_qgis.models",
        "lmhld_qgis.cli", "lmhld_qgis.core", "lmhld_qgis.core.grid"]


def test_lazy_backends_name_real_classes():
    """core.backends reaches the torch backend by name; the name must stay right when code moves."""
    from lmhld_qgis.core.backends import LAZY_BACKENDS

    for target in set(LAZY_BACKENDS.values()):
        module, _, attribute = target.partition(":")
        path = ROOT / Path(*module.split(".")).with_suffix(".py")
        classes = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)}
        assert attribute in classes, target


def test_importing_the_core_loads_neither_qgis_nor_torch():
    code = ("import sys, lmhld_qgis, lmhld_qgis.core.inventory, lmhld_qgis.cli;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('qgis','PyQt5','torch','onnxruntime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

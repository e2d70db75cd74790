"""Rules of the house: the method (core, models, training) never imports qgis or PyQt."""

from __future__ import annotations

import ast
import subprocess
import sys

from .helpers import ROOT

QGIS_FREE = ("core", "models", "training", "cli")
FORBIDDEN = ("qgis", "PyQt5", "PyQt6", "processing")


def test_core_sources_do_not_import_qgis():
    offenders = []
    for part in QGIS_FREE:
        for path in (ROOT / "lmhld_qgis" / part).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders


def test_importing_the_core_loads_neither_qgis_nor_torch():
    code = ("import sys, lmhld_qgis, lmhld_qgis.core.inventory, lmhld_qgis.cli;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('qgis','PyQt5','torch','onnxruntime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

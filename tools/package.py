"""Build the installable plugin: a zip whose top folder is lmhld_qgis/ with metadata.txt inside it.

The tests install this very zip for qgis_process (tests/conftest.py), as QGIS's "Install from ZIP" would.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lmhld_qgis"
EXCLUDE_DIRS = {"__pycache__"}


def plugin_files() -> list[tuple[Path, str]]:
    """(source file, path inside the plugin folder) for everything the plugin ships."""
    files = [(ROOT / "metadata.txt", "lmhld_qgis/metadata.txt"), (ROOT / "LICENSE", "lmhld_qgis/LICENSE")]
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and not EXCLUDE_DIRS.intersection(path.parts) and path.suffix not in {".pyc", ".pyo"}:
            files.append((path, f"lmhld_qgis/{path.relative_to(PACKAGE).as_posix()}"))
    return [(src, arc) for src, arc in files if src.exists()]


def build_zip(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for src, arc in plugin_files():
            zf.write(src, arc)
    tmp.replace(out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "lmhld_qgis.zip")
    out = build_zip(parser.parse_args().out)
    print(f"plugin zip: {out} ({out.stat().st_size / 1024:.0f} KiB)")

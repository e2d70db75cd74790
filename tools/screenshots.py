"""`make screenshots`: every dialog of the plugin, and the map with detection results, as a user sees them in the
real QGIS desktop (plugin installed from its zip into a fresh profile, 1280x800 screen, under Xvfb).

Writes screenshots/*.png and screenshots/report.json (per dialog: its size, and whether a horizontal scroll bar
shows). A person looks at them; so should whoever changes a dialog.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def prepare(work: Path, model: Path | None) -> Path:
    """A scene, its inventory and a small trained model (a few epochs: the map should show real detections)."""
    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.synthetic import make_scene

    data = work / "data"
    if not (data / "scene.tif").exists():
        make_scene(data, width=768, height=768, n_landslides=110, seed=5, name="scene")
    if model is None:
        model = work / "run" / "model.onnx"
        if not model.exists():
            from lmhld_qgis.training.config import TrainConfig
            from lmhld_qgis.training.trainer import train

            dataset = export_patches([data / "scene.tif"], data / "scene_inventory.gpkg", work / "dataset",
                                     ExportOptions(patch_size=64, min_fraction=0.05, tolerance=0.05, overwrite=True))
            cfg = TrainConfig(model="unet", data=[str(dataset.out_dir)], epochs=6, batch_size=8,
                              model_options={"base_width": 8}, optimizer="adam")
            train(cfg, work / "run")
    return model


def main() -> int:
    from desktop import DesktopProfile, build_plugin_zip, desktop_env, run_desktop

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "screenshots")
    parser.add_argument("--model", type=Path, help="an ONNX model to detect with (default: train a small one)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model = prepare(args.work, args.model)
    profile = DesktopProfile(args.work / "profiles")
    profile.install(build_plugin_zip(args.work / "lmhld_qgis.zip"))
    proc = run_desktop(profile, ROOT / "tools" / "screenshots_in_qgis.py", timeout=600, env=desktop_env({
        "LMHLD_DESKTOP_OUT": str(args.out), "LMHLD_DESKTOP_DATA": str(args.work / "data"),
        "LMHLD_SCREENSHOT_MODEL": str(model)}))
    report = args.out / "report.json"
    if not report.exists():
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        return 1
    result = json.loads(report.read_text())
    for name, facts in result.get("dialogs", {}).items():
        print(f"{name}: {facts}")
    print(f"screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

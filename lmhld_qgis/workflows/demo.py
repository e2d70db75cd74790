"""A first run out of the box: every stage on generated data, on the CPU, in a few minutes.

The scenes and inventories are synthetic (bare-soil blobs on vegetation, made by `core.synthetic`), and every
file says so; they show the workflow, not a real event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import LmhldError
from ..core.progress import NullProgress, Progress, SubProgress


@dataclass
class DemoResult:
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)


def run_demo(out_dir: str | Path, *, epochs: int = 6, model: str = "unet", width: int = 16,
             progress: Progress | None = None, overwrite: bool = False) -> DemoResult:
    """Generate, analyse, export, train, detect (and evaluate) into `out_dir`.

    The folder is built in place (its files record their paths) and removed again if the demo fails or is
    cancelled; an existing folder is replaced only with `overwrite` and only when an earlier demo wrote it."""
    from ..core.atomic import fresh_dir

    with fresh_dir(out_dir, overwrite=overwrite) as out:
        return _run_demo(out, epochs=epochs, model=model, width=width, progress=progress or NullProgress())


def _run_demo(out: Path, *, epochs: int, model: str, width: int, progress: Progress) -> DemoResult:
    from ..core.atomic import write_text_atomic
    from ..core.detect import DetectOptions, detect
    from ..core.export import ExportOptions, export_patches
    from ..core.inventory import analyse_inventory
    from ..core.report import inventory_html, write_json
    from ..core.synthetic import make_scene
    from ..training.config import TrainConfig
    from ..training.trainer import train

    r = DemoResult(out)

    progress.info("1/5 generating a synthetic training scene and its inventory (not real imagery)")
    training_scene = make_scene(out / "data", width=1536, height=1536, n_landslides=260, seed=11, name="training_scene")
    event_scene = make_scene(out / "data", width=1024, height=1024, n_landslides=120, seed=12, name="event_scene",
                             nodata_box=(0, 0, 160, 240))
    r.files.update(training_scene=training_scene.raster, training_inventory=training_scene.inventory,
                   event_scene=event_scene.raster, event_inventory=event_scene.inventory)
    progress.set_fraction(0.05)

    progress.info("2/5 analysing the inventory: landslide areas in pixels and patch sizes")
    report = analyse_inventory(training_scene.inventory, raster=training_scene.raster)
    write_json(out / "analysis.json", report.to_json())
    write_text_atomic(out / "analysis.html", inventory_html(report))
    r.files.update(analysis_json=out / "analysis.json", analysis_html=out / "analysis.html")
    patch = report.recommended_patch_sizes[1]
    r.facts["recommended_patch_sizes"] = report.recommended_patch_sizes
    progress.set_fraction(0.1)

    progress.info(f"3/5 exporting {patch} px training patches (the median's recommendation)")
    exported = export_patches([training_scene.raster], training_scene.inventory, out / "dataset",
                              ExportOptions(patch_size=patch, name="demo-area", sensor="synthetic",
                                            tolerance=0.02), progress=SubProgress(progress, 0.1, 0.2))
    r.files.update(dataset=exported.out_dir, footprints=exported.out_dir / "patches.gpkg")
    r.facts["patches"] = exported.counts

    progress.info(f"4/5 training {model} (width {width}) for {epochs} epochs on the CPU")
    cfg = TrainConfig(model=model, model_options={"base_width": width}, data=[str(exported.out_dir)],
                      epochs=epochs, batch_size=16, optimizer="adam", lr=3e-3, seed=0)
    result = train(cfg, out / "run", progress=SubProgress(progress, 0.2, 0.85))
    if result.onnx is None:
        raise LmhldError("the demo's ONNX export failed; see the warnings above")
    r.files.update(run=out / "run", model=result.onnx, curves=out / "run" / "curves.png")
    r.facts["best_val_f1"] = round(result.best_f1, 4)

    progress.info("5/5 detecting landslides on a second (event) scene")
    det = detect(event_scene.raster, result.onnx, out / "landslides.gpkg", out / "probability.tif",
                 DetectOptions(min_area_m2=50.0, fill_holes_m2=100.0), progress=SubProgress(progress, 0.85, 0.97))
    r.files["landslides"] = det.polygons
    if det.probability is not None:  # always: detect was given a probability path
        r.files["probability"] = det.probability
    r.facts.update(polygons=det.n_polygons, provider=det.provider)
    try:
        from ..core.evaluate import evaluate_scene

        scores = evaluate_scene(result.onnx, event_scene.raster, event_scene.inventory,
                                error_map=out / "errors.tif", json_out=out / "evaluation.json")
        r.files.update(evaluation=out / "evaluation.json", error_map=out / "errors.tif")
        r.facts["scene_f1"] = round(scores["f1"], 4)
    except ImportError:  # evaluation not available in this build
        pass
    write_json(out / "demo.json", {"files": {k: str(v) for k, v in r.files.items()}, "facts": r.facts,
                                   "note": "all data here is synthetic (generated by lmhld_qgis)"})
    progress.set_fraction(1.0)
    return r


def demo_summary(r: DemoResult) -> str:
    f = r.files
    lines = [f"demo finished in {r.out_dir} (all data synthetic)",
             f"  recommended patch sizes (Q1, Q2, Q3): {r.facts['recommended_patch_sizes']}",
             f"  patches per split: {r.facts['patches']}; best validation F1 {r.facts['best_val_f1']}",
             f"  {r.facts['polygons']} landslide polygons detected on {r.facts['provider']}"]
    if "scene_f1" in r.facts:
        lines.append(f"  whole-scene F1 against the event inventory: {r.facts['scene_f1']}")
    lines += ["", "outputs:"] + [f"  {k:18s} {v}" for k, v in f.items()]
    lines += ["", "open in QGIS: drag event_scene.tif, probability.tif and landslides.gpkg (styled) onto the map;",
              "  add dataset/patches.gpkg to see the training patches; open analysis.html and run/report.html in a",
              "  browser. Or, in QGIS: Processing toolbox > LMHLD landslide detection."]
    return "\n".join(lines)


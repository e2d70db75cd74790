"""Quality on real data: the default pipeline (analyse -> export -> train -> detect -> evaluate) run through the
public Python API on training areas and unseen test areas named in a TOML file, reported per test area as pixel
precision, recall, F1 and IoU and as object-level figures (polygons written, share of the inventory's landslides
detected, share of the detections that are landslides), in report.md and report.json.

Usage: python bench/bench_quality.py bench/kaikoura.toml [--out DIR] [--run NAME] [--set train.epochs=2]

The TOML file names the areas (a raster and its inventory, paths relative to the file, or a generated scene:
`synthetic = {...}` holds options of core.synthetic.make_scene, plus `shift`: another area's look of that
strength, core.synthetic.area_domain) and the runs (`train_on`
areas -> `test_on` areas), and holds option tables that go unchanged to the public API: [analyse] (fraction,
candidates, quartile), [export] (core.export.ExportOptions), [train] (training.config.TrainConfig), [detect]
(core.detect.DetectOptions), [evaluate] (match). A run may override any of them in its own tables. Seeds are
fixed by the file (`seed`), so the same command gives the same figures on the same machine and versions.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import subprocess
import sys
import time
import tomllib
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("analyse", "export", "train", "detect", "evaluate")
ANALYSE_KEYS = {"fraction", "candidates", "quartile"}
QUARTILES = {"q1": 0, "q2": 1, "median": 1, "q3": 2}


@dataclass(frozen=True)
class Area:
    """A labelled scene: a raster and its landslide inventory."""

    name: str
    raster: Path
    inventory: Path
    layer: str | None = None
    synthetic: dict[str, Any] | None = None  # options of core.synthetic.make_scene: a generated area


@dataclass
class RunSpec:
    """Train on `train` areas, detect and evaluate on `test` areas (and on the training areas, as 'seen')."""

    name: str
    train: list[str]
    test: list[str]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # section -> overrides of the file's tables


@dataclass
class QualityConfig:
    name: str
    path: Path
    seed: int
    areas: dict[str, Area]
    runs: list[RunSpec]
    options: dict[str, dict[str, Any]]  # section -> options for the public API
    description: str = ""

    def options_for(self, run: RunSpec, section: str) -> dict[str, Any]:
        return {**self.options.get(section, {}), **run.options.get(section, {})}


class ConfigError(ValueError):
    """A quality configuration that cannot run, with what to fix."""


def _area(name: str, table: dict[str, Any], base: Path) -> Area:
    if "synthetic" in table:  # generated into the output folder by generate_areas()
        return Area(name, Path(), Path(), None, dict(table["synthetic"]))
    missing = {"raster", "inventory"} - set(table)
    if missing:
        raise ConfigError(f"area {name!r} lacks {sorted(missing)} (or a synthetic = {{...}} table)")
    return Area(name, (base / table["raster"]).resolve(), (base / table["inventory"]).resolve(), table.get("layer"))


def generate_areas(cfg: QualityConfig, out: Path, only: list[str] | None = None) -> None:
    """Write the generated areas (core.synthetic.make_scene with the area's options) into `out`/areas: those the
    runs named in `only` use (every run's when None)."""
    from lmhld_qgis.core.synthetic import area_domain, make_scene

    used = {a for r in cfg.runs if not only or r.name in only for a in (*r.train, *r.test)}
    for name, area in list(cfg.areas.items()):
        if area.synthetic is not None and name in used:
            options = dict(area.synthetic)
            if "shift" in options:  # another area's look: illumination, gain, haze, vegetation, shading
                options["domain"] = area_domain(int(options.get("seed", 0)), float(options.pop("shift")),
                                                str(options.get("preset", "easy")))
            scene = make_scene(out / "areas", name=name, **options)
            cfg.areas[name] = Area(name, scene.raster, scene.inventory, None, area.synthetic)


def _run(table: dict[str, Any], areas: dict[str, Area]) -> RunSpec:
    name = str(table.get("name", ""))
    train, test = list(table.get("train_on", [])), list(table.get("test_on", []))
    if not name or not train or not test:
        raise ConfigError(f"each [[runs]] entry needs name, train_on and test_on (area names); got {table}")
    unknown = [a for a in train + test if a not in areas]
    if unknown:
        raise ConfigError(f"run {name!r} names unknown area(s) {unknown}; known: {sorted(areas)}")
    return RunSpec(name, train, test, {s: dict(table.get(s, {})) for s in SECTIONS if s in table})


def load_config(path: Path, overrides: Sequence[str] = ()) -> QualityConfig:
    """Read the TOML file; `overrides` are `section.key=value` strings (value in TOML syntax) applied to every run."""
    data = tomllib.loads(path.read_text())
    for item in overrides:
        _apply_override(data, item)
    base = path.resolve().parent
    areas = {n: _area(n, t, base) for n, t in data.get("areas", {}).items()}
    runs = [_run(t, areas) for t in data.get("runs", [])]
    if not runs:
        raise ConfigError(f"{path} defines no [[runs]]")
    options = {s: dict(data.get(s, {})) for s in SECTIONS}
    return QualityConfig(str(data.get("name", path.stem)), path, int(data.get("seed", 0)), areas, runs, options,
                         str(data.get("description", "")))


def _apply_override(data: dict[str, Any], item: str) -> None:
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not (parts == ["seed"] or (len(parts) >= 2 and parts[0] in SECTIONS)):
        raise ConfigError(f"--set {item!r}: expected seed=N or SECTION.KEY=VALUE with SECTION in {SECTIONS}")
    parsed = tomllib.loads(f"v = {value}")["v"] if value.strip() else ""
    table = data
    for part in parts[:-1]:
        table = table.setdefault(part, {})
    table[parts[-1]] = parsed


# --- the pipeline, through the public API -------------------------------------------------------------------------


def analyse_step(areas: list[Area], options: dict[str, Any]) -> dict[str, Any]:
    """Landslide areas of the training inventories in pixels, and the patch size their quartiles recommend."""
    import numpy as np

    from lmhld_qgis.core.inventory import (
        DEFAULT_CANDIDATES,
        DEFAULT_FRACTION,
        AreaStats,
        analyse_inventory,
        recommend_patch_sizes,
    )

    unknown = set(options) - ANALYSE_KEYS
    if unknown:
        raise ConfigError(f"[analyse] has unknown key(s) {sorted(unknown)}; known: {sorted(ANALYSE_KEYS)}")
    fraction = float(options.get("fraction", DEFAULT_FRACTION))
    candidates = [int(c) for c in options.get("candidates", DEFAULT_CANDIDATES)]
    reports = [analyse_inventory(a.inventory, layer=a.layer, rasters=[a.raster], fraction=fraction,
                                 candidates=candidates) for a in areas]
    areas_px = np.concatenate([r.areas_px for r in reports])
    stats = AreaStats.of(areas_px)
    sizes = recommend_patch_sizes((stats.q1, stats.median, stats.q3), fraction, candidates)
    quartile = str(options.get("quartile", "q2"))
    return {"n_landslides": int(areas_px.size), "area_px": stats.__dict__, "recommended_patch_sizes": sizes,
            "quartile": quartile, "patch_size": sizes[QUARTILES[quartile]]}


def export_step(areas: list[Area], options: dict[str, Any], patch_size: int, seed: int, out: Path) -> list[Path]:
    """One dataset folder per training area (mix-mode training takes them together)."""
    from lmhld_qgis.core.export import ExportOptions, export_patches

    _check_keys("export", options, ExportOptions)
    folders = []
    for area in areas:
        opts = ExportOptions(**{"patch_size": patch_size, "seed": seed, "name": area.name, **options})
        report = export_patches([area.raster], area.inventory, out / f"dataset_{area.name}", opts, layer=area.layer)
        folders.append(report.out_dir)
    return folders


def train_step(datasets: list[Path], options: dict[str, Any], seed: int, out: Path) -> dict[str, Any]:
    from lmhld_qgis.training.config import TrainConfig
    from lmhld_qgis.training.trainer import train

    _check_keys("train", options, TrainConfig)
    mode = "single" if len(datasets) == 1 else "mix"
    cfg = TrainConfig(**{"mode": mode, "seed": seed, "device": "cpu", **options, "data": [str(d) for d in datasets]})
    t0 = time.perf_counter()
    result = train(cfg, out)
    if result.onnx is None:
        raise RuntimeError(f"training in {out} wrote no model.onnx")
    return {"model": result.onnx, "best_val_f1": result.best_f1, "epochs": len(result.history),
            "seconds": time.perf_counter() - t0, "config": cfg.to_dict()}


def evaluate_step(model: Path, area: Area, detect_options: dict[str, Any], match: float, out: Path) -> dict[str, Any]:
    from lmhld_qgis.core.detect import DetectOptions
    from lmhld_qgis.core.evaluate import evaluate_scene

    _check_keys("detect", detect_options, DetectOptions)
    t0 = time.perf_counter()
    result = evaluate_scene(model, area.raster, area.inventory, error_map=out / f"errors_{area.name}.tif",
                            polygons_out=out / f"landslides_{area.name}.gpkg", prob_out=out / f"prob_{area.name}.tif",
                            json_out=out / f"evaluation_{area.name}.json", match=match,
                            options=DetectOptions(**detect_options))
    return {**result, "seconds": time.perf_counter() - t0}


def _check_keys(section: str, options: dict[str, Any], cls: type) -> None:
    known = {f.name for f in fields(cls)}
    unknown = set(options) - known
    if unknown:
        raise ConfigError(f"[{section}] has unknown key(s) {sorted(unknown)} for {cls.__name__}; known: "
                          f"{sorted(known)}")


def run_one(cfg: QualityConfig, spec: RunSpec, out: Path) -> dict[str, Any]:
    """analyse -> export -> train -> detect + evaluate on every test area (and on the training areas, as seen)."""
    train_areas = [cfg.areas[a] for a in spec.train]
    analysis = analyse_step(train_areas, cfg.options_for(spec, "analyse"))
    export_opts = cfg.options_for(spec, "export")
    patch = int(export_opts.pop("patch_size", analysis["patch_size"]))
    datasets = export_step(train_areas, export_opts, patch, cfg.seed, out)
    trained = train_step(datasets, cfg.options_for(spec, "train"), cfg.seed, out / "run")
    match = float(cfg.options_for(spec, "evaluate").get("match", 0.5))
    detect_opts = cfg.options_for(spec, "detect")
    areas = [(a, "unseen") for a in spec.test] + [(a, "seen") for a in spec.train]
    evaluations = {f"{name} ({role})": {"area": name, "role": role,
                                        **evaluate_step(trained["model"], cfg.areas[name], detect_opts, match, out)}
                   for name, role in areas}
    return {"analysis": analysis, "patch_size": patch, "datasets": [_dataset_facts(d) for d in datasets],
            "training": {k: v for k, v in trained.items() if k != "model"}, "model": str(trained["model"]),
            "evaluations": evaluations}


def _dataset_facts(folder: Path) -> dict[str, Any]:
    card = json.loads((folder / "dataset.json").read_text())
    return {"folder": str(folder), "counts": card.get("counts"), "dropped": card.get("dropped"),
            "landslide_proportion": card.get("landslide_proportion")}


def run_benchmark(cfg: QualityConfig, out: Path, only: list[str] | None = None) -> dict[str, Any]:
    """Every run of the file (or those named in `only`); a failed run is reported, not hidden."""
    from lmhld_qgis.core.errors import LmhldError

    runs = [r for r in cfg.runs if not only or r.name in only]
    if only and len(runs) != len(only):
        raise ConfigError(f"--run {only}: the file's runs are {[r.name for r in cfg.runs]}")
    results: dict[str, Any] = {}
    for spec in runs:
        t0 = time.perf_counter()
        run_dir = out / _slug(spec.name)
        try:
            results[spec.name] = {"status": "ok", **run_one(cfg, spec, run_dir)}
        except Exception as exc:  # the benchmark reports the pipeline's failure as its figure
            results[spec.name] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            if not isinstance(exc, LmhldError):  # a defect, not a refusal: the developer needs where it happened
                traceback.print_exc()
        results[spec.name].update(seconds=time.perf_counter() - t0, folder=str(run_dir))
        print(f"[{spec.name}] {results[spec.name]['status']} in {results[spec.name]['seconds']:.0f} s", flush=True)
    return results


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name.replace("->", "-to-"))


# --- the report ----------------------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import onnxruntime
    import torch
    from osgeo import gdal

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain")),
            "python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "gdal": gdal.__version__, "machine": f"{platform.machine()}, {_cpu_count()} CPU(s)",
            "torch_threads": torch.get_num_threads()}


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0))


def command_line(config: Path, out: Path, runs: list[str] | None, overrides: list[str]) -> str:
    """The command that reproduces this report, from the repository root."""
    config = config.resolve()
    shown = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
    argv = [str(shown), "--out", str(out)]
    for name in runs or []:
        argv += ["--run", name]
    for item in overrides:
        argv += ["--set", item]
    return f"cd {shlex.quote(str(ROOT))} && PYTHONPATH=. .venv/bin/python bench/bench_quality.py " + shlex.join(argv)


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


ROW_KEYS = ("precision", "recall", "f1", "iou", "n_detected", "n_inventory", "inventory_detected",
            "detected_correct", "object_f1")


def markdown(report: dict[str, Any]) -> str:
    """The report people read: one row per (run, area), then what each run trained on."""
    lines = [f"# Quality benchmark: {report['name']}", "", report.get("description", ""), "",
             f"Reproduce: `{report['command']}`", "",
             f"Environment: {', '.join(f'{k} {v}' for k, v in report['environment'].items())}.", "",
             "| run | area | pixel P | pixel R | pixel F1 | IoU | polygons | inventory | detected share | "
             "correct share | object F1 | raw F1 | dropped | val F1 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, run in report["runs"].items():
        if run["status"] != "ok":
            lines.append(f"| {name} | **failed**: {run['error']} |" + " |" * 12)
            continue
        for label, ev in run["evaluations"].items():
            cells = [_num(ev.get(k)) for k in ROW_KEYS] + [_num(ev.get("raw", {}).get("f1")),
                                                           _num(sum(ev.get("dropped", {}).values()))]
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + f" | {_num(run['training']['best_val_f1'])} |")
    lines += ["", "Pixel and object figures are those of the polygons as delivered; raw F1: the probability cut "
              "before the post-processing; dropped: polygons the post-processing removed. Object rule: "
              + _object_rule(report), "", "## Runs", ""]
    for name, run in report["runs"].items():
        lines.append(f"- **{name}** ({run['seconds']:.0f} s): " + _run_summary(run))
    return "\n".join(lines) + "\n"


def _object_rule(report: dict[str, Any]) -> str:
    for run in report["runs"].values():
        for ev in run.get("evaluations", {}).values():
            return str(ev.get("object_rule", ""))
    return ""


def _run_summary(run: dict[str, Any]) -> str:
    if run["status"] != "ok":
        return f"failed: {run['error']}"
    from lmhld_qgis.core.inventory import describe_patch_sizes
    from lmhld_qgis.core.patch_windows import describe_kept
    from lmhld_qgis.core.postprocess import PostProcess

    a, t = run["analysis"], run["training"]
    data = "; ".join(f"{Path(d['folder']).name} {describe_kept(d['counts'], {})}" for d in run["datasets"])
    first = next(iter(run["evaluations"].values()))
    post, context = first.get("postprocess", {}), first.get("context", "off")
    cleaning = f"; {PostProcess(**post).describe()}" if post else ""
    return (f"{a['n_landslides']} training landslides (median {a['area_px']['median']:.1f} px), recommended patch "
            f"sizes {describe_patch_sizes(a['recommended_patch_sizes'])}, used {run['patch_size']} px; patches "
            f"{data}; {t['config']['model']} width {t['config']['model_options'].get('base_width', 'default')}, "
            f"{t['epochs']} epochs in {t['seconds']:.0f} s{cleaning}; context pass: {context}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path, nargs="?", default=ROOT / "bench" / "kaikoura.toml",
                        help="TOML file naming areas and runs (default: bench/kaikoura.toml)")
    parser.add_argument("--out", type=Path, help="output folder (default /tmp/lmhld-quality/<name>-<time>)")
    parser.add_argument("--run", action="append", help="only this run (repeat)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override an option for every run, e.g. train.epochs=2 (value in TOML syntax)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.set)
    except (ConfigError, tomllib.TOMLDecodeError, OSError) as exc:
        print(f"bench_quality: {args.config}: {exc}", file=sys.stderr)
        return 2
    missing = [str(p) for a in cfg.areas.values() if a.synthetic is None for p in (a.raster, a.inventory)
               if not p.exists()]
    if missing:
        print(f"bench_quality: data not found: {', '.join(missing)}", file=sys.stderr)
        return 0 if not argv else 2  # `make bench` (no arguments) without ../shared/data: nothing to measure
    out = args.out or Path("/tmp/lmhld-quality") / f"{_slug(cfg.name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and any(out.iterdir()):
        print(f"bench_quality: output folder {out} is not empty; choose another --out", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    generate_areas(cfg, out, args.run)
    report: dict[str, Any] = {"name": cfg.name, "description": cfg.description, "config": str(cfg.path.resolve()),
                              "command": command_line(args.config, out, args.run, args.set),
                              "environment": environment(), "seed": cfg.seed, "options": cfg.options,
                              "runs": run_benchmark(cfg, out, args.run)}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "report.md").write_text(markdown(report))
    print(markdown(report))
    print(f"report: {out / 'report.md'}, {out / 'report.json'}")
    return 0 if all(r["status"] == "ok" for r in report["runs"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

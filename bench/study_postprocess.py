"""Which post-processing turns a model's probabilities into a clean inventory? Measured, not guessed.

Reads the probability rasters a quality benchmark wrote (bench/bench_quality.py: prob_<area>.tif beside each
area's inventory) and scores cleaning variants on each: the plain cut, specks dropped below a minimum area,
hysteresis (seeds at the threshold grown into a lower one), a 3 x 3 opening or closing of the mask, and smoothed
probabilities; alone and combined with the minimum area. Pixel precision, recall and F1 and object figures (regions
kept, share of the inventory's landslides found, share of the regions that are landslides, the 50% rule of
core.metrics.ObjectCounts) per area, as one Markdown table.

With --detect it runs detection again on each run's model with the options this branch offers (the defaults,
hysteresis, test-time augmentation) and scores the delivered polygons through core.evaluate.evaluate_scene.

Usage: python bench/study_postprocess.py REPORT_DIR [REPORT_DIR ...] [--threshold 0.5] [--detect]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from lmhld_qgis.core.metrics import Confusion, ObjectCounts
from lmhld_qgis.core.vectorize import label_components

Variant = Callable[[np.ndarray, np.ndarray, float], np.ndarray]  # (prob, valid, threshold) -> mask


def _shift_stack(mask: np.ndarray) -> list[np.ndarray]:
    """The mask and its 4 neighbours' values (a 3 x 3 cross), edges padded with False."""
    p = np.pad(mask, 1)
    return [p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]]


def erode(mask: np.ndarray) -> np.ndarray:
    return np.logical_and.reduce(_shift_stack(mask))


def dilate(mask: np.ndarray) -> np.ndarray:
    return np.logical_or.reduce(_shift_stack(mask))


def smooth(prob: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (reflected edges)."""
    radius = max(1, round(3 * sigma))
    x = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    p = np.pad(prob, radius, mode="reflect")
    rows = sum(k[i] * p[i:i + prob.shape[0], :] for i in range(k.size))
    return sum(k[i] * rows[:, i:i + prob.shape[1]] for i in range(k.size))


def drop_small(mask: np.ndarray, min_px: int) -> np.ndarray:
    labels, n = label_components(mask)
    if n == 0 or min_px <= 1:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_px
    keep[0] = False
    return keep[labels]


def hysteresis(prob: np.ndarray, valid: np.ndarray, high: float, low: float) -> np.ndarray:
    labels, n = label_components((prob >= low) & valid)
    seeded = np.zeros(n + 1, bool)
    seeded[np.unique(labels[(prob >= high) & valid])] = True
    seeded[0] = False
    return seeded[labels]


def variants(min_px: int) -> dict[str, Variant]:
    """Name -> mask maker; `min_px` is the minimum area the combined variants use."""
    def cut(p: np.ndarray, v: np.ndarray, t: float) -> np.ndarray:
        return (p >= t) & v

    return {
        "cut": cut,
        f"min area {min_px} px": lambda p, v, t: drop_small(cut(p, v, t), min_px),
        "min area 2 px": lambda p, v, t: drop_small(cut(p, v, t), 2),
        "hysteresis (low = t/2)": lambda p, v, t: hysteresis(p, v, t, t / 2),
        f"hysteresis t/2 + min area {min_px} px": lambda p, v, t: drop_small(hysteresis(p, v, t, t / 2), min_px),
        "opening 3x3": lambda p, v, t: dilate(erode(cut(p, v, t))) & v,
        "closing 3x3": lambda p, v, t: erode(dilate(cut(p, v, t))) & v,
        f"closing + min area {min_px} px": lambda p, v, t: drop_small(erode(dilate(cut(p, v, t))) & v, min_px),
        "smoothed (sigma 1)": lambda p, v, t: cut(smooth(np.where(v, p, 0), 1.0), v, t),
        f"smoothed + min area {min_px} px": lambda p, v, t: drop_small(cut(smooth(np.where(v, p, 0), 1.0), v, t),
                                                                     min_px),
    }


def load_area(prob_path: Path, inventory: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability, valid pixels and the rasterized inventory on the probability's grid."""
    import rasterio

    from lmhld_qgis.core.grid import Window
    from lmhld_qgis.core.rasterize import InventoryBurner
    from lmhld_qgis.core.vector import read_polygons, srs_from_wkt

    with rasterio.open(prob_path) as src:
        prob = src.read(1)
        t = src.transform
        burner = InventoryBurner(read_polygons(inventory), srs_from_wkt(src.crs.to_wkt(), "raster"),
                                 (t.a, t.b, t.c, t.d, t.e, t.f))
        truth = burner.burn(Window(0, 0, src.height, src.width)).astype(bool)
        burner.close()
    return prob, prob >= 0, truth


def score(mask: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    pixels = Confusion.of(mask, truth, valid)
    objects = ObjectCounts.of(mask, truth & valid, 0.5)
    return {"P": pixels.precision, "R": pixels.recall, "F1": pixels.f1, "regions": objects.n_detected,
            "found": objects.inventory_detected, "correct": objects.detected_correct, "obj F1": objects.object_f1,
            "single px": int(np.count_nonzero(np.bincount(label_components(mask)[0].ravel())[1:] == 1))}


class Area(NamedTuple):
    label: str
    probability: Path
    raster: Path
    inventory: Path
    model: Path
    tile: int


def areas_of(report_dir: Path) -> list[Area]:
    """Every area a quality report evaluated, with the files its run wrote."""
    report = json.loads((report_dir / "report.json").read_text())
    config = report["config"]
    out = []
    for run_name, run in report["runs"].items():
        if run.get("status") != "ok":
            continue
        run_dir = Path(run.get("folder") or report_dir / _old_slug(run_name))
        for label, ev in run["evaluations"].items():
            raster, inventory = _area_files(config, report_dir, ev["area"])
            out.append(Area(f"{run_name}: {label}", run_dir / f"prob_{ev['area']}.tif", raster, inventory,
                            run_dir / "run" / "model.onnx", run["patch_size"]))
    return out


def _old_slug(name: str) -> str:
    """Run folders of reports written before they recorded their folder."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _area_files(config: str, report_dir: Path, area: str) -> tuple[Path, Path]:
    import tomllib

    table = tomllib.loads(Path(config).read_text())["areas"][area]
    if "synthetic" in table:
        return report_dir / "areas" / f"{area}.tif", report_dir / "areas" / f"{area}_inventory.gpkg"
    return (Path(config).parent / table["raster"]).resolve(), (Path(config).parent / table["inventory"]).resolve()


DETECT_VARIANTS: dict[str, dict[str, Any]] = {
    "no cleaning": {"min_area_m2": 0.0, "fill_holes_m2": 0.0},
    "defaults": {},
    "hysteresis t/2": {"grow": 0.5},
    "tta flips": {"tta": "flips"},
    "tta d4": {"tta": "d4"},
    "tta d4 + hysteresis t/2": {"tta": "d4", "grow": 0.5},
}


def detect_variants(area: Area, threshold: float, workdir: Path) -> dict[str, dict[str, Any]]:
    """The real pipeline (detect + evaluate_scene) on the run's model, once per variant of the options."""
    from lmhld_qgis.core.detect import DetectOptions
    from lmhld_qgis.core.evaluate import evaluate_scene

    results = {}
    for name, variant in DETECT_VARIANTS.items():
        options = {k: v for k, v in variant.items() if k != "grow"}
        if "grow" in variant:
            options["grow_threshold"] = variant["grow"] * threshold
        r = evaluate_scene(area.model, area.raster, area.inventory, polygons_out=workdir / f"{name}.gpkg",
                           options=DetectOptions(threshold=threshold, **options))
        results[name] = {"P": r["precision"], "R": r["recall"], "F1": r["f1"], "regions": r["n_detected"],
                         "single px": sum(r["dropped"].values()), "found": r["inventory_detected"],
                         "correct": r["detected_correct"], "obj F1": r["object_f1"]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, help="output folders of bench/bench_quality.py")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--detect", action="store_true",
                        help="run detection again with each option variant (defaults, hysteresis, test-time "
                             "augmentation) on the runs' models instead of cleaning the stored probabilities; "
                             "the column 'single px' then counts the polygons the post-processing dropped")
    parser.add_argument("--only", action="append", help="areas whose label contains this text (repeat)")
    parser.add_argument("--variant", action="append", help="with --detect: only these variants (repeat)")
    args = parser.parse_args()
    from lmhld_qgis.core.postprocess import default_min_area_px

    if args.variant:
        for name in list(DETECT_VARIANTS):
            if name not in args.variant:
                del DETECT_VARIANTS[name]

    columns = ["P", "R", "F1", "regions", "single px", "found", "correct", "obj F1"]
    print("| area | variant | " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for report_dir in args.reports:
        for area in areas_of(report_dir):
            if args.only and not any(text in area.label for text in args.only):
                continue
            if args.detect:
                with tempfile.TemporaryDirectory() as tmp:
                    rows = detect_variants(area, args.threshold, Path(tmp))
            elif area.probability.exists():
                prob, valid, truth = load_area(area.probability, area.inventory)
                rows = {name: score(make(prob, valid, args.threshold), truth, valid)
                        for name, make in variants(default_min_area_px(area.tile)).items()}
            else:
                continue
            for name, s in rows.items():
                cells = [f"{s[c]:.3f}" if isinstance(s[c], float) else str(s[c]) for c in columns]
                print(f"| {area.label} | {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

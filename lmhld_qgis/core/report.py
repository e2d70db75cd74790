"""Reports people read: JSON for machines, self-contained HTML with figures for people."""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .atomic import write_text_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure  # untyped (Any) but names what is meant

    from .inventory import InventoryReport


class TrainedRun(Protocol):
    """What a training run's report reads from its result (training.trainer.TrainResult; core cannot import it)."""

    @property
    def best_f1(self) -> float: ...
    @property
    def history(self) -> list[dict[str, Any]]: ...
    @property
    def forgetting(self) -> list[dict[str, Any]]: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def ranked_by_loss(self) -> bool: ...
    @property
    def threshold(self) -> float: ...
    @property
    def threshold_note(self) -> str: ...


class RunConfig(Protocol):
    """What a training run's report reads from its configuration (training.config.TrainConfig)."""

    @property
    def model(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def data(self) -> Sequence[str]: ...
    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int | str: ...
    @property
    def optimizer(self) -> str: ...
    @property
    def learning_rate(self) -> float: ...


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write JSON atomically (indented, UTF-8); NaN and infinities (undefined scores) are written as null, which
    JSON readers accept (bare NaN is not JSON)."""
    return write_text_atomic(path, json_text(data))


def json_text(data: Any) -> str:
    """Indented JSON with NaN and infinities as null (bare NaN is not JSON)."""
    return json.dumps(_finite(data), indent=2, default=_jsonable, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str):
        return _finite(value.tolist())
    return value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def new_figure(width: float = 8, height: float = 4.5) -> Figure:
    """A figure on the Agg canvas, without pyplot's global state (safe inside QGIS)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def html_page(title: str, sections: list[str]) -> str:
    body = "\n".join(sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;padding:.25em .6em;text-align:right}}
th{{background:#eee}}img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>
{body}
</body></html>
"""


def img_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def table_html(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _fmt(v: Any) -> str:
    """A value for a report's table: scores and fractions (below 10) to 4 decimals (an F1 of 0.0426 read 0.0, and
    0.98 read 1.0), larger figures (areas, pixel counts) to one."""
    if not isinstance(v, float):
        return str(v)
    return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"


def inventory_histogram_png(report: InventoryReport) -> bytes:
    """Histogram of landslide areas in pixels, log axis, quartiles and the chosen windows marked."""
    import numpy as np

    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    edges = np.asarray(report.histogram["edges"])
    counts = np.asarray(report.histogram["counts"])
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#c8a27a", edgecolor="#6b4f2f")
    ax.set_xscale("log")
    ax.set_xlabel("landslide area (pixels, log scale)")
    ax.set_ylabel("number of landslides")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.25 steps on a histogram of six
    stats = report.area_px
    colors = ("#1f77b4", "#d62728", "#2ca02c")
    for name, q, size, color in zip(("Q1", "Q2", "Q3"), (stats.q1, stats.median, stats.q3),
                                    report.recommended_patch_sizes, colors, strict=True):
        ax.axvline(q, color=color, linestyle="--", linewidth=1.5, label=f"{name} = {q:,.0f} px -> patch {size}")
        window_area = report.fraction * size * size
        ax.axvline(window_area, color=color, linestyle=":", linewidth=1.2,
                   label=f"{report.fraction:.0%} of {size}x{size} = {window_area:,.0f} px")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"{report.n_landslides} landslides, pixel {report.pixel_size_m:.2f} m")
    return figure_png(fig)


def inventory_html(report: InventoryReport) -> str:
    """The analysis report as one self-contained HTML page."""
    from .vector import skipped_text

    s = report.area_px
    skipped = f"{report.n_skipped} ({skipped_text(report.skipped)})" if report.skipped else "0"
    summary = table_html([
        ("source", report.source), ("features read", report.n_features), ("landslides analysed", report.n_landslides),
        ("repaired geometries", report.n_repaired), ("skipped", skipped),
        ("pixel size (m)", report.pixel_size_m), ("target landslide fraction", report.fraction),
        ("candidate patch sizes", ", ".join(map(str, report.candidates))),
    ])
    stats = table_html([("min", s.min), ("Q1", s.q1), ("median", s.median), ("Q3", s.q3), ("max", s.max),
                        ("mean", s.mean)])
    sizes = table_html([
        (f"{q} ({v:,.0f} px): ideal side {side:.1f}", size)
        for q, v, side, size in zip(("Q1", "Q2", "Q3"), (s.q1, s.median, s.q3), report.ideal_sides_px,
                                    report.recommended_patch_sizes, strict=True)
    ])
    from .inventory import QUANTILE_METHOD, TIE_RULE

    return html_page("Landslide inventory analysis", [
        "<h2>Inventory</h2>", summary,
        "<h2>Landslide area (pixels)</h2>", stats, f"<p>Quartiles: {html.escape(QUANTILE_METHOD)}.</p>",
        img_tag(inventory_histogram_png(report), "histogram of landslide areas"),
        "<h2>Recommended patch sizes</h2>",
        f"<p>Side = sqrt(quartile / {report.fraction}); snapped to {html.escape(TIE_RULE)}.</p>", sizes,
        *(f"<p><strong>Note:</strong> {html.escape(note)}.</p>" for note in report.notes),
    ])


def training_curves_png(history: list[dict[str, Any]]) -> bytes:
    """Train loss and validation precision/recall/F1 per epoch; stage changes marked (part mode)."""
    fig = new_figure(9, 4)
    ax_loss, ax_f1 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    epochs = [r["epoch"] for r in history]
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", color="#444", ms=3)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("train loss")
    for key, color in (("val_precision", "#1f77b4"), ("val_recall", "#2ca02c"), ("val_f1", "#d62728")):
        ax_f1.plot(epochs, [r[key] for r in history], "o-", ms=3, color=color, label=key[4:])
    ax_f1.set_ylim(0, 1)
    ax_f1.set_xlabel("epoch")
    ax_f1.set_ylabel("validation (landslide class)")
    ax_f1.legend(fontsize=8)
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_f1):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for prev, row in itertools.pairwise(history):
        if row["stage"] != prev["stage"]:
            for ax in (ax_loss, ax_f1):
                ax.axvline(prev["epoch"] + 0.5, color="#999", linestyle=":")
    fig.tight_layout()
    return figure_png(fig)


def _batch_text(configured: int | str, used: int) -> str:
    return f"{used} (auto)" if configured == "auto" else str(configured)


def training_report_html(out_dir: Path, result: TrainedRun, cfg: RunConfig) -> str:
    """A run's report: configuration, curves, last epoch's scores and (part mode) the forgetting table."""
    last = result.history[-1] if result.history else {}
    rows = [("model", cfg.model), ("mode", cfg.mode), ("datasets", ", ".join(cfg.data)), ("epochs", cfg.epochs),
            ("batch size", _batch_text(cfg.batch_size, result.batch_size)),
            ("optimizer", f"{cfg.optimizer} lr {cfg.learning_rate}"),
            ("validation F1 of best.pt (the epoch of lowest training loss: validation too small to rank)"
             if result.ranked_by_loss else "best validation F1", result.best_f1),
            ("detection threshold (model card)", f"{result.threshold:g}"
             + (f": {result.threshold_note}" if result.threshold_note else ""))]
    rows += [(k, v) for k, v in last.items() if k.startswith("val_")]
    sections = ["<h2>Run</h2>", table_html(rows), "<h2>Curves</h2>"]
    curves = Path(out_dir) / "curves.png"
    if curves.exists():
        sections.append(img_tag(curves.read_bytes(), "training curves"))
    if result.forgetting:
        names = [k for k in result.forgetting[-1] if k not in ("after_stage", "trained_on")]
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        body = "".join("<tr><th>after " + html.escape(str(r["trained_on"])) + "</th>" +
                       "".join(f"<td>{_fmt_score(r.get(n))}</td>" for n in names) + "</tr>"
                       for r in result.forgetting)
        sections += ["<h2>Forgetting (validation F1 per dataset after each stage)</h2>",
                     f"<table><tr><th></th>{head}</tr>{body}</table>"]
    return html_page(f"Training run {Path(out_dir).name}", sections)


def _fmt_score(v: float | None) -> str:
    return "" if v is None or v != v else f"{v:.4f}"


def markdown_table_html(rows: list[dict[str, Any]], cols: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell_text(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def cell_text(v: object) -> str:
    """A table cell: figures to 4 decimals, None or NaN (a figure that does not apply) as n/a."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def experiment_figures(results: dict[str, Any]) -> dict[str, bytes]:
    """Precision/recall/F1 bars per model, F1 by patch size, part-mode heat maps (orders x areas) and the
    differences between addition orders (the paper's Figs. 12-14)."""
    import numpy as np

    figs: dict[str, bytes] = {}
    single = results.get("single") or []
    if single:
        models = sorted({r["model"] for r in single})
        fig = new_figure(8, 4)
        ax = fig.add_subplot(1, 1, 1)
        x = np.arange(len(models))
        for i, (key, color) in enumerate((("precision", "#1f77b4"), ("f1", "#d62728"), ("recall", "#2ca02c"))):
            means = [np.mean([r[key] for r in single if r["model"] == m]) for m in models]
            ax.bar(x + (i - 1) * 0.27, means, width=0.27, color=color, label=key)
        ax.set_xticks(x, models)
        ax.set_ylim(0, 1)
        ax.set_ylabel("test split, mean over areas")
        ax.set_title("single mode (Table 5): precision, F1 and recall per model")
        ax.legend(fontsize=8)
        figs["prf_by_model"] = figure_png(fig)
    exp1 = results.get("exp1") or []
    if exp1:
        areas = list(dict.fromkeys(r["area"] for r in exp1))  # the study's order, as in the tables
        best = results.get("best_patch_size") or {}
        fig = new_figure(4 * len(areas), 3.5)
        for i, area in enumerate(areas):
            ax = fig.add_subplot(1, len(areas), i + 1)
            sizes = sorted({r["patch_size"] for r in exp1 if r["area"] == area})
            for model in dict.fromkeys(r["model"] for r in exp1):
                pts = sorted((r["patch_size"], r["f1"]) for r in exp1 if r["area"] == area and r["model"] == model)
                ax.plot([p for p, _ in pts], [f for _, f in pts], "o-", label=model)
            if area in best:
                ax.axvline(best[area], color="0.5", linestyle=":", label=f"best: {best[area]} px")
            ax.set_xticks(sizes, [str(s) for s in sizes])  # the candidate sizes, not matplotlib's round numbers
            ax.set_ylim(0, 1)  # one scale for every area: a difference of 0.01 does not fill a panel
            ax.set_title(area)
            ax.set_xlabel("patch size (px)")
            ax.set_ylabel("whole-area F1")
            ax.legend(fontsize=7)
        fig.tight_layout()
        figs["f1_by_patch_size"] = figure_png(fig)
    part = results.get("part") or []
    for model in sorted({r["model"] for r in part}):
        rows = [r for r in part if r["model"] == model]
        orders = list(dict.fromkeys(r["order"] for r in rows))
        areas = list(dict.fromkeys(r["area"] for r in rows))
        grid = np.array([[next((r["f1"] for r in rows if r["order"] == o and r["area"] == a), np.nan)
                          for a in areas] for o in orders])
        fig = new_figure(1.6 * len(areas) + 3, 0.6 * len(orders) + 1.8)
        ax = fig.add_subplot(1, 1, 1)
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(areas)), areas, rotation=30, ha="right")  # long area names would overlap
        ax.set_yticks(range(len(orders)), orders)
        for (i, j), v in np.ndenumerate(grid):  # white on the dark ends of the scale, black in its pale middle
            ax.text(j, i, f"{v:.3f}" if np.isfinite(v) else "n/a", ha="center", va="center", fontsize=8,
                    color="white" if np.isfinite(v) and not 0.2 <= v <= 0.8 else "black")
        ax.set_title(f"part mode, {model}: test F1 by addition order")
        ax.set_xlabel("area (test split)")
        ax.set_ylabel("addition order")
        fig.colorbar(im, ax=ax, label="F1")
        fig.tight_layout()
        figs[f"part_heatmap_{model}"] = figure_png(fig)
    figs.update(order_difference_figures(results.get("part_orders") or []))
    return figs


def order_difference_figures(part_orders: list[dict[str, Any]]) -> dict[str, bytes]:
    """The paper's Figs. 12-14 for each model: |metric(OD_i) - metric(OD_j)| for every two addition orders, white
    where two orders agree and dark where they differ, one panel each for precision, F1 and recall."""
    import numpy as np

    figs: dict[str, bytes] = {}
    for model in dict.fromkeys(r["model"] for r in part_orders):
        rows = [r for r in part_orders if r["model"] == model]
        if len(rows) < 2:
            continue  # one order: nothing to compare
        labels = [f"OD{i + 1}" for i in range(len(rows))]
        metrics = ("precision", "f1", "recall")
        values = {m: np.array([float(r[m]) for r in rows]) for m in metrics}
        diffs = {m: np.abs(v[:, None] - v[None, :]) for m, v in values.items()}
        side = 0.45 * len(rows) + 2.6
        fig = new_figure(3 * (side + 1), side + 0.25 * len(rows) + 1.2)
        grid = fig.add_gridspec(2, len(metrics), height_ratios=[side, 0.25 * len(rows) + 0.4])
        for k, m in enumerate(metrics):
            ax = fig.add_subplot(grid[0, k])
            # each panel its own scale, as the paper's figures: recall's 0.1 would wash out precision's 0.005
            top = max(1e-4, float(np.nanmax(diffs[m])) if np.isfinite(diffs[m]).any() else 0.0)
            im = ax.imshow(diffs[m], vmin=0, vmax=top, cmap="afmhot_r")
            ax.set_xticks(range(len(rows)), labels)
            ax.set_yticks(range(len(rows)), labels)
            digits = 3 if top >= 0.01 else 4  # differences of a few thousandths are not all 0.000
            for (i, j), v in np.ndenumerate(diffs[m]):
                ax.text(j, i, f"{v:.{digits}f}", ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 * top else "black")
            ax.set_title(f"{m}: |OD_i - OD_j|")
            fig.colorbar(im, ax=ax, shrink=0.8)
        key = fig.add_subplot(grid[1, :])
        key.axis("off")
        key.text(0, 1, "\n".join(f"{label} = {r['order']}" for label, r in zip(labels, rows, strict=True)),
                 fontsize=8, va="top", transform=key.transAxes)
        fig.suptitle(f"part mode, {model}: differences between addition orders (test splits together)")
        figs[f"part_order_differences_{model}"] = figure_png(fig)
    return figs

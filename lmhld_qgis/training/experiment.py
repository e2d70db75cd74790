"""The LMHLD study as one resumable command: areas x patch sizes x models x modes.

1. Experiment 1 (paper sec. 3.2 / Table 4): every area is exported at each candidate patch size, every model is
   trained on it (single mode) and evaluated over the *whole area* (scene vs inventory); the best patch size of an
   area is the one with the highest whole-area F1 averaged over the models.
2. Single mode at the best size (Table 5): test-split metrics per area and model.
3. Mix mode (Table 6): areas whose best sizes agree are trained together; metrics on their test splits together
   (one row per model, as the paper) and on each area's.
4. Part mode (Table 7, Figs. 12-14): serialized training over the areas (at their best sizes) in each given
   addition order; Table 7 is each model's mean over the orders, Figs. 12-14 the differences between two orders
   (precision, F1, recall), and a heat map shows test F1 per area for each order and model.

An area is a scene (a raster, its inventory and the candidate sizes) or a folder of patches already cut and split
(an lmhld export, a Landslide4Sense release, a CAS folder divided into train/, val/ and test/): its patch size is
its patches', so experiment 1 trains it at that size without searching (the scene-wide score needs a scene) and
the modes take it as they take a scene's best dataset.

Each run lives in its own folder and writes `result.json` last: a rerun skips finished runs and resumes stopped
ones from `last.pt`. Tables are written as Markdown and CSV, figures as PNG, and one HTML report joins them.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.atomic import atomic_file, write_text_atomic
from ..core.errors import LmhldError
from ..core.progress import Progress, SubProgress, WarningsOnly, check_cancelled, reader_progress
from ..core.report import json_text

if TYPE_CHECKING:
    from ..core.datasets.base import PatchDataset
    from .config import TrainConfig

METRICS = ("precision", "recall", "f1", "iou")
SCORES = {*METRICS, "miou", "oa", "f1_mean_2class", "best_val_f1"}  # figures that may be undefined (NaN)
Row = dict[str, Any]
Evaluate = Callable[[Path, Path], dict[str, Any]]


def describe_outcome(best_patch_size: dict[str, Any], runs: dict[str, Any] | None = None,
                     patch_areas: Sequence[str] = ()) -> str:
    """An experiment's outcome in words, for the command line, the Processing log and the report: 'best patch size
    per area: kaikoura_69 64 px, kaikoura_70 128 px; 14 run(s) trained, 2 reused from an earlier call'. Areas
    given as patch folders were not searched: their size is said as their patches'."""
    best = ", ".join(f"{area} {size} px" + (" (the size of its patches)" if area in patch_areas else "")
                     for area, size in best_patch_size.items()) or "none"
    said = f"best patch size per area: {best}"
    if runs:
        said += f"; {runs.get('trained', 0)} run(s) trained, {runs.get('skipped', 0)} reused from an earlier call"
    return said


MODES = ("single", "mix", "part")
STUDY_FILES = ("datasets", "runs", "tables", "figures", "report.html", "results.json")  # what a study writes
STUDY_RECORD = "experiment.json"  # the options a study's datasets and runs were made with (see _check_same_study)


EXPERIMENT_KEYS = ("name", "models", "modes", "part_orders", "areas", "train", "export", "model_options")
# training options the study itself sets for each run: named in [experiment]'s terms when given
STUDY_KEYS = {"model": "the study's networks are models = [...]", "mode": "its modes are modes = [...]",
              "data": "each run's data are the areas' datasets ([[experiment.areas]])",
              "names": "each run names its datasets after their areas"}
AREA_KEYS = ("name", "raster", "inventory", "patch_sizes")
PATCH_AREA_KEYS = ("name", "patches")  # an area given as a folder of patches already cut and split


@dataclass
class Area:
    name: str
    raster: str
    inventory: str
    patch_sizes: list[int]
    export: dict[str, Any] = field(default_factory=dict)  # export options of this area only (its bands, ...)
    bands: list[str] = field(default_factory=list)  # the names of the bands its datasets hold (known at the start)
    patches: str = ""  # a folder of patches (lmhld, Landslide4Sense, split CAS) instead of a raster and inventory

    @property
    def files(self) -> dict[str, str]:
        """What the area is made of, as experiment.json records it."""
        return {"patches": self.patches} if self.patches else {"raster": self.raster, "inventory": self.inventory}

    def record(self) -> dict[str, Any]:
        """What experiment.json keeps of the area: its files, its own options, and what the files hold: a patch
        folder re-split would have its runs scored on patches they trained on; an inventory edited and saved in
        place (or a scene replaced under its name) would have its datasets and runs reused as if made from it."""
        if self.patches:
            contents: Any = folder_fingerprint(Path(self.patches))
        else:
            from ..core.fingerprint import inventory_fingerprint, raster_fingerprint

            contents = {"raster": raster_fingerprint(self.raster), "inventory": inventory_fingerprint(self.inventory)}
        return {**self.files, **({"export": self.export} if self.export else {}), "contents": contents}


@dataclass
class ExperimentConfig:
    areas: list[Area]
    models: list[str]
    modes: list[str] = field(default_factory=lambda: list(MODES))
    part_orders: list[list[str]] = field(default_factory=list)  # default: the areas' order
    train: dict[str, Any] = field(default_factory=dict)  # any TrainConfig option (epochs, optimizer, ...)
    export: dict[str, Any] = field(default_factory=dict)  # any ExportOptions option (min_fraction, tolerance, ...)
    name: str = "experiment"
    # per model, instead of train.model_options: U-Nets share base_width while a baseline takes its encoder
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def export_options(self, area: Area) -> dict[str, Any]:
        """An area's export options: the paper's recipe (these are the paper's experiments) unless
        [experiment.export] names another, then [experiment.export], then the area's own (its bands, ...)."""
        return {"recipe": "paper"} | self.export | area.export

    def train_config(self, model: str, data: list[Path], mode: str, names: list[str] | None = None) -> TrainConfig:
        """The TrainConfig of one run: the experiment's train options (its recipe filling the rest); a model with
        its own options table takes those instead of the shared train.model_options."""
        from .config import TrainConfig

        opts = dict(self.train)
        if model in self.model_options:
            opts["model_options"] = dict(self.model_options[model])
        opts.update(model=model, data=[str(d) for d in data], mode=mode, names=names)
        return TrainConfig.from_values(opts, "[experiment.train]")


def load_experiment(path: str | Path) -> ExperimentConfig:
    from .config import parse_options_file

    path = Path(path)
    data = parse_options_file(path, "experiment config").get("experiment")
    if not data or not isinstance(data, dict):
        raise LmhldError(f"{path} has no [experiment] table")
    base = path.parent
    _check_keys(data, path.name)
    areas = [_area(a, base, path.name) for a in data.get("areas", [])]
    if not areas or not data.get("models"):
        raise LmhldError("an experiment needs [[experiment.areas]] and models = [...]")
    from ..models.registry import model_class

    data["models"] = _names(data["models"], "models", path.name, "unet")
    for m in data["models"]:
        model_class(m)
    modes = _names(data.get("modes", list(MODES)), "modes", path.name, "single")
    if not modes or set(modes) - set(MODES):
        raise LmhldError(f"modes = {modes}: each must be one of {', '.join(MODES)}")
    names = [a.name for a in areas]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise LmhldError(f"area name(s) {', '.join(twice)} given twice: each area needs its own name (its datasets "
                         "and runs are filed under it)")
    for area in areas:
        for what, file in area.files.items():
            if not Path(file).exists():
                raise LmhldError(f"area {area.name}: {what} {file} does not exist; check the path (relative paths "
                                 f"are read from the folder of {path.name})")
    orders = data.get("part_orders", [])
    if not isinstance(orders, list) or not all(isinstance(o, list) and all(isinstance(n, str) for n in o)
                                               for o in orders):
        raise LmhldError(f"{path.name}: part_orders must be a list of orders, each a list of area names, such as "
                         f'part_orders = [["{names[0]}", ...], [...]], got {orders!r}')
    cfg = ExperimentConfig(areas, list(data["models"]), modes,
                           [list(o) for o in orders], dict(data.get("train", {})),
                           dict(data.get("export", {})), data.get("name", path.stem),
                           {k: dict(v) for k, v in data.get("model_options", {}).items()})
    from .config import check_values

    cfg.train = check_values(cfg.train, "[experiment.train]", set_elsewhere=tuple(STUDY_KEYS))
    set_by_study = sorted(set(cfg.train) & set(STUDY_KEYS))
    if set_by_study:  # they were overwritten for each run without a word
        raise LmhldError(f"{path.name}: [experiment.train] {', '.join(set_by_study)} is set by the study for each "
                         f"run ({'; '.join(STUDY_KEYS[k] for k in set_by_study)} in [experiment]): remove it there")
    _check_export_options(cfg.export, "[experiment.export]", path.name)
    from ..models.registry import MODEL_NAMES

    unknown = sorted(set(cfg.model_options) - set(MODEL_NAMES))
    if unknown:  # a misspelt table would leave its model at the shared options without a word
        import difflib

        close = difflib.get_close_matches(unknown[0], MODEL_NAMES, n=1)
        raise LmhldError(f"{path.name}: [experiment.model_options.{unknown[0]}] names no model"
                         + (f" (did you mean {close[0]}?)" if close else "")
                         + f"; the models are {', '.join(MODEL_NAMES)}")
    # a table kept for a model the study does not train now (models trimmed for a quick run) is left aside, and
    # out of the record, so that trimming it later does not read as a changed study
    cfg.model_options = {k: v for k, v in cfg.model_options.items() if k in cfg.models}
    for order in cfg.part_orders:
        if sorted(order) != sorted(names):
            raise LmhldError(f"part order {order} must list every area once: {sorted(names)}")
    # a model or an order given twice would be one run counted twice: Table 7's mean and spread over orders, the
    # paper's figures, would then be wrong without a word
    for what, items in (("models", [str(m) for m in cfg.models]), ("part_orders", [" > ".join(o) for o in
                                                                                   cfg.part_orders])):
        again = sorted({i for i in items if items.count(i) > 1})
        if again:
            raise LmhldError(f"{what} lists {', '.join(again)} more than once: each is one run; list it once")
    for area in cfg.areas:  # an option or band choice that does not fit an area would stop the study hours in
        area.bands = _patch_area_bands(area, path.name) if area.patches else _area_bands(cfg, area, path.name)
    for model in cfg.models:  # a model's bad option would stop the study at its first run, hours in
        try:
            cfg.train_config(model, [], cfg.modes[0]).validate_options()
        except LmhldError as exc:
            table = (f"[experiment.model_options.{model}]" if model in cfg.model_options else
                     "[experiment.train.model_options]")
            fix = (f": give {model} a table of its own, [experiment.model_options.{model}]"
                   if model not in cfg.model_options else "")
            where = f" (options of {table}{fix})" if exc.message.startswith("bad options") else ""
            raise LmhldError(f"{path.name}: {exc}{where}") from exc
    _check_sizes_trainable(cfg, path.name)
    return cfg


def _check_sizes_trainable(cfg: ExperimentConfig, file: str) -> None:
    """Every candidate size of every area must be one each network takes: patch_sizes = [30] was exported and
    then refused by the first run's training."""
    from ..core.grid import multiples_around
    from ..models.registry import build_model

    for model in cfg.models:
        options = cfg.train_config(model, [], cfg.modes[0]).model_options
        m = int(build_model(model, 3, **options).size_multiple)
        for area in cfg.areas:
            odd = [size for size in area.patch_sizes if size % m] if not area.patches else []
            if odd:
                smaller, larger = multiples_around(odd[0], m)
                raise LmhldError(f"{file}: area {area.name}'s patch size {odd[0]} px cannot be trained by {model}, "
                                 f"which takes sizes that divide by {m}: give {smaller} or {larger} in its "
                                 "patch_sizes")


def _area(table: Any, base: Path, file: str) -> Area:
    """One [[experiment.areas]] table: a scene (raster, inventory, candidate sizes, its own export options) or a
    folder of patches."""
    if not isinstance(table, dict):
        raise LmhldError(f"{file}: each [[experiment.areas]] must be a table, got {table!r}")
    name = str(table.get("name", "?"))
    if "name" in table and (not isinstance(table["name"], str) or not table["name"].strip()
                            or any(c in table["name"] for c in '/\\') or table["name"].startswith(".")):
        raise LmhldError(f"area name {table['name']!r} in {file}: its datasets and runs are folders named after it, "
                         "so a name is a word without / or \\ and does not start with a dot (e.g. name = "
                         '"wenchuan")')
    if "patches" in table:
        stray = sorted(set(table) - set(PATCH_AREA_KEYS))
        if stray:
            raise LmhldError(f"area {name} in {file}: an area given as patches = \"...\" takes only "
                             f"{', '.join(PATCH_AREA_KEYS)}, not {', '.join(stray)} (its patches are already cut: "
                             "their size, bands and splits are the folder's)")
        if "name" not in table:
            raise LmhldError(f"an area in {file} with patches = {table['patches']!r} needs a name")
        if not isinstance(table["patches"], str):
            raise LmhldError(f'area {name} in {file}: patches must be the path of a folder, such as patches = '
                             f'"cas/Hokkaido_split", got {table["patches"]!r}')
        return Area(name, "", "", [], patches=str((base / str(table["patches"])).resolve()))
    missing = [k for k in AREA_KEYS if k not in table]
    if missing:
        raise LmhldError(f"area {name} in {file}: its [[experiment.areas]] table needs {', '.join(missing)} (an "
                         "area is a raster and its inventory with the candidate patch sizes, or patches = \"FOLDER\":"
                         " a folder of patches already cut and split, such as an lmhld export or a Landslide4Sense "
                         "release)")
    own = {k: v for k, v in table.items() if k not in AREA_KEYS}  # this area's export options, e.g. its bands
    sizes = table["patch_sizes"]
    sizes = [sizes] if isinstance(sizes, int) and not isinstance(sizes, bool) else sizes
    if not isinstance(sizes, list) or not sizes or not all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in sizes):
        raise LmhldError(f"area {name} in {file}: patch_sizes must be a list of whole numbers of pixels, such as "
                         f"patch_sizes = [128, 256], got {sizes!r}")
    twice = sorted({v for v in sizes if sizes.count(v) > 1})
    if twice:  # one run filed once, said as "reused from an earlier call" on a first call
        raise LmhldError(f"area {name} in {file}: patch_sizes lists {', '.join(map(str, twice))} more than once; "
                         "list each size once")
    return Area(name, str((base / table["raster"]).resolve()), str((base / table["inventory"]).resolve()),
                sizes, own)


def _check_keys(data: dict[str, Any], file: str) -> None:
    """Refuse a key [experiment] does not know (a typo ran the study with the defaults without a word), naming the
    table an option of training or export belongs in."""
    import dataclasses
    import difflib

    from ..core.export_options import ExportOptions
    from .config import TrainConfig

    unknown = sorted(set(data) - set(EXPERIMENT_KEYS))
    if not unknown:
        return
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    hints = []
    for key in unknown:
        if key in STUDY_KEYS:
            hints.append(f"{key}: {STUDY_KEYS[key]}")
        elif key in train_keys:
            hints.append(f"{key} is a training option: put it under [experiment.train]")
        elif key in ExportOptions.FILE_TYPES:
            hints.append(f"{key} is an export option: put it under [experiment.export]")
        elif close := difflib.get_close_matches(key, EXPERIMENT_KEYS, n=1):
            hints.append(f"did you mean {close[0]}?")
    raise LmhldError(f"{file}: [experiment] has no key {', '.join(unknown)}" + (f" ({'; '.join(hints)})" if hints
                                                                               else "")
                     + f"; its keys are {', '.join(EXPERIMENT_KEYS)}")


def _names(value: Any, key: str, file: str, example: str) -> list[str]:
    """A list of names; one name alone is taken as a list of one (it was read letter by letter)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LmhldError(f'{file}: {key} must be a list of names, such as {key} = ["{example}"], got {value!r}')
    return list(value)


def _check_export_options(options: dict[str, Any], where: str, file: str) -> None:
    """Known export options of the right TOML types (a typo or a text for a number was an unexpected error)."""
    import difflib

    from ..core.export_options import ExportOptions

    known = ExportOptions.FILE_TYPES
    for key in sorted(set(options) - set(known)):
        close = difflib.get_close_matches(key, list(known), n=1)
        raise LmhldError(f"{file}: {where} has no option {key}" + (f" (did you mean {close[0]}?)" if close else "")
                         + f"; the export options are {', '.join(sorted(known))}")
    _check_export_types(options, where, file)


def _check_export_types(options: dict[str, Any], where: str, file: str) -> None:
    """Export options of the right TOML types (a text for a number was an unexpected TypeError)."""
    from ..core.export_options import ExportOptions
    from .config import check_types

    try:
        check_types(options, where, ExportOptions.FILE_TYPES)
    except LmhldError as exc:
        raise LmhldError(f"{file}: {exc}") from exc


def _patch_area_bands(area: Area, file: str) -> list[str]:
    """The band names of an area given as patches, checking first that the folder is one the experiment can use:
    readable, split (every run is scored on its test split, which training must never see) and of one square
    patch size (which becomes the area's only size)."""
    from ..core.datasets import open_dataset
    from ..core.datasets.base import check_uniform_splits
    from ..core.datasets.detect import detect_format, has_splits

    where = f"area {area.name} in {file}"
    try:
        fmt = detect_format(area.patches)
        if not has_splits(area.patches, fmt):
            raise LmhldError(f"{area.patches} is not split into train, val and test: every run is scored on its "
                             "area's test split, which training must not see. Split it first, `lmhld split "
                             f"{area.patches} --out {area.patches}_split` (in QGIS: Split a patch folder), and give "
                             "that folder; or give an lmhld export or a Landslide4Sense release (TrainData/, "
                             "ValidData/, TestData/)")
        test = _test_split(area.patches, fmt)
        if not len(test):
            raise LmhldError(f"the test split of {area.patches} holds no patch; every run is scored on it")
        splits = {"train": open_dataset(area.patches, "train", fmt=fmt), "test": test}
        with contextlib.suppress(LmhldError):  # a folder may have no validation split: training holds one out
            splits["val"] = open_dataset(area.patches, "val", fmt=fmt)
        # mixed sizes failed at the first batch, hours in, and the area was named after its first file's size
        check_uniform_splits([(dataset, f"{area.patches} ({split} split)") for split, dataset in splits.items()])
    except LmhldError as exc:
        raise LmhldError(f"{where}: {exc}") from exc
    size = test.patch_size
    if not size:
        raise LmhldError(f"{where}: the patches of {area.patches} are not square, so they have no patch size to "
                         "train at; cut square patches (lmhld export cuts them from a scene)")
    area.patch_sizes = [int(size)]
    return list(test.band_names)


def mix_notes(groups: dict[tuple[int, int], list[str]]) -> list[str]:
    """What the report says of areas mix mode leaves out, from the areas grouped by (best patch size, band count):
    those that share a size but not a band count, and (when some group trains at all; otherwise the report's mix
    section says it of every area) those alone at their size."""
    notes = []
    sizes = sorted({size for size, _ in groups})
    for size in sizes:
        apart = {n: names for (s, n), names in groups.items() if s == size}
        if len(apart) > 1:
            notes.append(f"at {size} px, " + "; ".join(f"{', '.join(names)} ({n} bands)" for n, names in apart.items())
                         + " share a best patch size but not a band count, so each trains only with the areas of its "
                         "own band count")
    alone = [f"{names[0]} ({size} px)" for (size, _), names in groups.items()
             if len(names) == 1 and sum(s == size for s, _ in groups) == 1]
    if alone and any(len(names) >= 2 for names in groups.values()):
        one = len(alone) == 1
        notes.append(f"{', '.join(alone)} {'has' if one else 'have'} no other area at {'its' if one else 'their'} best "
                     f"patch size, so mix mode did not train {'it' if one else 'them'}")
    return notes


def _test_split(folder: str, fmt: str) -> PatchDataset:
    """The test split of a patch area; a folder `lmhld split` divided with no test share is told how to get one (the
    readers' advice, to choose another split, does not fit an experiment, which scores every run on it)."""
    from ..core.datasets import open_dataset
    from ..core.split_folder import SPLIT_FILE

    try:
        return open_dataset(folder, "test", fmt=fmt)
    except LmhldError:
        if not (Path(folder) / SPLIT_FILE).is_file():
            raise
        raise LmhldError(f"{folder} has no test split (it was split with a test share of 0), and every run is scored "
                         "on its area's test split: split the source folder again with one, e.g. `lmhld split "
                         f"SOURCE --out {folder} --split 0.7,0.2,0.1 --overwrite` (in QGIS: Split a patch "
                         "folder)") from None


def _area_bands(cfg: ExperimentConfig, area: Area, file: str) -> list[str]:
    """The names of the bands an area's datasets will hold, checking its export options against its raster first
    (in the experiment file's terms)."""

    from ..core.bands import select_bands
    from ..core.export_options import ExportOptions
    from ..core.raster import read_raster_info

    options = cfg.export_options(area)
    known = set(ExportOptions.FILE_TYPES)
    stray = sorted(set(area.export) - known)
    if stray:
        raise LmhldError(f"area {area.name} in {file}: {', '.join(stray)} is not an area key ({', '.join(AREA_KEYS)})"
                         f" nor an export option ({', '.join(sorted(known))})")
    _check_export_types(area.export, f"area {area.name}'s", file)  # its unknown keys are said just above
    try:  # an unreadable raster is said here, before any run, not hours in
        info = read_raster_info(area.raster)
    except LmhldError as exc:
        raise LmhldError(f"area {area.name} in {file}: {exc}") from exc
    try:
        ExportOptions(patch_size=area.patch_sizes[0] if area.patch_sizes else 0, name=area.name,
                      **options).validate()
        _, names = select_bands(info.band_names, info.count, options.get("bands"), info.path, info.alpha_bands)
    except LmhldError as exc:
        where = ("this area's own bands = [...] in its [[experiment.areas]] table, or [experiment.export] bands "
                 "for every area" if "band" in exc.message else "[experiment.export] or this area's table")
        raise LmhldError(f"area {area.name} in {file}: {in_file_terms(exc.message)} (set it in {where})") from exc
    return names


def in_file_terms(message: str) -> str:
    """A core message's command-line options said as experiment-file keys: '--bands 1,2,3' -> 'bands = [1, 2, 3]',
    '--tolerance 0.02' -> 'tolerance = 0.02'."""
    from ..core.terms import in_terms

    return in_terms(message, "file")


class InFileTerms(SubProgress):
    """A share of the experiment's progress whose messages speak of experiment-file keys, not flags."""

    def info(self, message: str) -> None:
        self.parent.info(in_file_terms(message))

    def warn(self, message: str) -> None:
        self.parent.warn(in_file_terms(message))


class Experiment:
    def __init__(self, cfg: ExperimentConfig, out: str | Path, progress: Progress | None = None) -> None:
        self.cfg, self.out, self.progress = cfg, Path(out), reader_progress(progress)
        self.trained = self.skipped = 0
        self.mix_notes: list[str] = []  # why areas with one best size were not trained together
        self.part_notes: list[str] = []  # why an area has no part-mode score
        self.exp1_notes: list[str] = []  # areas given as patches: no size searched, no whole-area score
        # Progress counts training runs, each one share: experiment 1's, then mix (at most one group per two
        # areas until the best sizes are known) and part. Cancelling stops inside a run and keeps its last.pt.
        n_models, n_areas = len(cfg.models), len(cfg.areas)
        self.runs_done = 0
        self.runs_planned = n_models * (sum(len(a.patch_sizes) for a in cfg.areas)
                                        + (n_areas // 2 if "mix" in cfg.modes else 0)
                                        + (max(1, len(cfg.part_orders)) if "part" in cfg.modes else 0))

    def _share(self) -> SubProgress:
        """The part of the overall progress that the next run fills; what its export or training says of options
        is said in the experiment file's terms (a run's 'batch size 16 is larger than ...: --batch-size auto')."""
        done, planned = self.runs_done, max(self.runs_planned, self.runs_done + 1)
        return InFileTerms(self.progress, done / planned, (done + 1) / planned)

    # -- building blocks -------------------------------------------------------------------------------------
    def dataset(self, area: Area, size: int) -> Path:
        from ..core.export import ExportOptions, export_patches

        if area.patches:
            return Path(area.patches)  # cut and split already, at its one size
        path = self.out / "datasets" / f"{area.name}_{size}"
        if not (path / "dataset.json").exists():
            # the paper's experiments, so the paper's recipe unless [experiment.export] names another
            options = ExportOptions(patch_size=size, name=area.name, **self.cfg.export_options(area))
            self.progress.info(f"exporting {area.name} at {size} px")
            share = self._share()  # cancellable; the fraction moves with the runs only
            try:
                export_patches([area.raster], area.inventory, path, options, progress=SubProgress(share, 0.0, 0.0))
            except LmhldError as exc:  # said in the experiment file's terms, for the area and size it concerns
                hint = ('; in the experiment file: [experiment.export] recipe = "generalise"'
                        if "the generalise recipe" in exc.message else "")
                raise LmhldError(f"area {area.name} at {size} px: {in_file_terms(exc.message)}{hint}") from exc
        return path

    def run(self, key: str, data: list[Path], model: str, mode: str, evaluate: Evaluate,
            names: list[str] | None = None) -> dict[str, Any]:
        """Train (or resume, or skip) one run; `evaluate(run_dir, onnx)` gives the metrics stored in result.json."""
        from .trainer import train

        run_dir = self.out / "runs" / key
        done = run_dir / "result.json"
        check_cancelled(self.progress)
        _require_same_data(run_dir, data, key)
        if done.exists() and not (run_dir / "model.onnx").exists() and (run_dir / "last.pt").exists():
            self.progress.info(f"run {key} is finished but its model.onnx is gone: writing it again from its "
                               "checkpoint, and scoring it again")
            done.unlink()  # the resume below trains nothing and writes the model; the scores are written again
        if done.exists():
            self.skipped += 1
            self.runs_done += 1
            self.progress.set_fraction(self.runs_done / max(self.runs_planned, self.runs_done))
            return _read_json(done)
        cfg = self.cfg.train_config(model, data, mode, names)
        resume = (run_dir / "last.pt").exists()
        self.progress.info(f"{'resuming' if resume else 'training'} {key}")
        try:
            result = train(cfg, run_dir, resume=resume, progress=self._share())
        except LmhldError as exc:  # said in the file's keys: [experiment.train] device = "cuda" was told --device
            raise LmhldError(f"run {key}: {in_file_terms(exc.message)}") from exc
        self.trained += 1
        self.runs_done += 1
        if result.onnx is None:
            raise LmhldError(f"run {key}: the ONNX export failed (see the warning above); best.pt is kept in "
                             f"{run_dir}: export it with `lmhld export-onnx` and run the experiment again")
        metrics = {"key": key, "model": model, "mode": mode, "best_val_f1": result.best_f1,
                   "forgetting": result.forgetting, **evaluate(run_dir, result.onnx)}
        write_text_atomic(done, json_text(metrics))
        return metrics

    def _warnings(self, run_dir: Path) -> WarningsOnly:
        """Scoring a run says only its warnings, each naming the run (it spoke as a Python warning, outside
        --progress-json and QGIS's log)."""
        return WarningsOnly(self.progress, f"run {run_dir.relative_to(self.out / 'runs').as_posix()}")

    def _rename_run(self, old: str, new: str) -> None:
        """A run filed under an older key moved to its key now, so that a rerun continues it (its data are checked
        as any run's are)."""
        before, now = self.out / "runs" / old, self.out / "runs" / new
        if before.is_dir() and not now.exists():
            before.rename(now)
            self.progress.info(f"run {old} is now {new}")

    def cached(self, path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if path.exists():
            return _read_json(path)
        value = compute()
        write_text_atomic(path, json_text(value))
        return value

    def _check_same_study(self) -> None:
        """A rerun reuses the finished datasets and runs, so it must be the same study: the options that made them
        and each area's files are recorded in experiment.json, and a rerun that changes them is refused (it would
        file runs of 1 epoch under a table that says 2). More models, modes, areas or patch sizes only add runs."""
        record = json.loads(json.dumps({
            "train": self.cfg.train, "export": self.cfg.export, "model_options": self.cfg.model_options,
            "areas": {a.name: a.record() for a in self.cfg.areas}}, default=str))
        path = self.out / STUDY_RECORD
        if path.exists() and self._made_anything():  # else a first call failed early (an export): nothing to reuse
            old = _read_json(path)
            changed = [c for key in ("train", "export", "model_options")
                       for c in _changes(old.get(key) or {}, record[key], f"experiment.{key}")]
            for name, files in record["areas"].items():
                old_area = old.get("areas", {}).get(name, files)
                if isinstance(old_area, dict) and "contents" not in old_area:  # recorded before contents were
                    old_area = {**old_area, "contents": files["contents"]}
                if old_area != files:
                    changed.append(f"area {name}'s {_area_change(old_area, files)}")
            if changed:
                raise LmhldError(f"{self.out} holds an experiment made with other options ({'; '.join(changed)}); "
                                 "its finished datasets and runs would be reused as if made with these: choose "
                                 "another --out, or put the options and files back")
            record["areas"] = {**old.get("areas", {}), **record["areas"]}
        self.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record, indent=2))

    def _check_out_is_a_study(self) -> None:
        """The folder is new, empty or an experiment's: a folder of the user's own files was taken, and the study's
        datasets/, runs/, tables/ and report.html were written among them (the report over one of theirs)."""
        if not self.out.is_dir() or (self.out / STUDY_RECORD).exists():
            return
        theirs = sorted(p.name for p in self.out.iterdir() if not p.name.startswith(".") and p.name not in STUDY_FILES)
        if theirs:
            listed = ", ".join(theirs[:3]) + (", ..." if len(theirs) > 3 else "")
            raise LmhldError(f"{self.out} holds other files ({listed}) and no experiment ({STUDY_RECORD}): an "
                             "experiment writes datasets/, runs/, tables/ and report.html into its folder; choose a "
                             "new or empty folder for --out")

    def _warn_shared_files(self) -> None:
        """Two areas cut from the same raster (or given the same patch folder): mix mode trains their shared
        patches twice, and every other area's landslides on the raster are background to each."""
        by_file: dict[str, list[str]] = {}
        for area in self.cfg.areas:
            by_file.setdefault(area.patches or area.raster, []).append(area.name)
        for file, names in by_file.items():
            if len(names) > 1:
                self.progress.warn(f"areas {', '.join(names)} share {file}: each area's patches are cut from all of "
                                   "it, so mix mode trains the patches they share twice; give each area its own "
                                   "raster (clip it to the area: gdal_translate -projwin) unless this is meant")

    def _made_anything(self) -> bool:
        """Whether an earlier call left a finished dataset or a run (finished or stopped) that a rerun would reuse."""
        return (any((self.out / "datasets").glob("*/dataset.json"))
                or any(p.name in ("result.json", "last.pt") for p in (self.out / "runs").rglob("*")))

    # -- the study -------------------------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        self._check_apart()
        self._check_out_is_a_study()
        self._check_same_study()
        self._warn_shared_files()
        rows, best = self._experiment1()
        best_ds = {a.name: self.dataset(a, best[a.name]) for a in self.cfg.areas}
        modes = self.cfg.modes
        single = self._single_mode(best, best_ds) if "single" in modes else []
        mix_total, mix = self._mix_mode(best, best_ds) if "mix" in modes else ([], [])
        part_orders, part = self._part_mode(best, best_ds) if "part" in modes else ([], [])
        results: dict[str, Any] = {
            "exp1": rows, "best_patch_size": best, "single": single,
            "mix_total": mix_total, "mix": mix,
            "part_mean": mean_over_orders(part_orders), "part_orders": part_orders, "part": part,
            "runs": {"trained": self.trained, "skipped": self.skipped},
            "patch_areas": [a.name for a in self.cfg.areas if a.patches]}
        self.write(results)
        self.progress.set_fraction(1.0)
        return results

    def _check_apart(self) -> None:
        """The experiment folder and the areas' patch folders apart: written into a patch folder, the study changed
        what the folder holds, and the rerun that continues it was refused as a re-split folder."""
        out = self.out.resolve()
        for area in self.cfg.areas:
            for role, file in area.files.items():
                if role != "patches" and Path(file).resolve().is_relative_to(out):
                    raise LmhldError(f"area {area.name}'s {role} {file} lies inside the experiment folder "
                                     f"{self.out}, where the study writes its datasets, runs and tables: choose an "
                                     "experiment folder of its own, beside the area's files")
            if not area.patches:
                continue
            patches = Path(area.patches).resolve()
            if out.is_relative_to(patches):
                where = "is" if out == patches else "lies inside"
                raise LmhldError(f"the experiment folder {self.out} {where} area {area.name}'s patch folder "
                                 f"{area.patches}, which the study must leave as it is: choose a folder beside it")

    def _experiment1(self) -> tuple[list[Row], dict[str, int]]:
        """Every area at each candidate size, every model, scored over the whole area; the best size per area."""
        from ..core.evaluate import evaluate_scene

        rows: list[Row] = []
        best: dict[str, int] = {}
        for area in self.cfg.areas:
            if area.patches:  # one size, no scene to score over: trained here, scored on its test split later
                size = area.patch_sizes[0]
                self.exp1_notes.append(f"{area.name}: patches of {size} px from {area.patches}, so no patch size "
                                       "was searched and it has no whole-area score (that needs a scene and its "
                                       "inventory); its single, mix and part runs use them as they are")
                for model in self.cfg.models:
                    self.run(f"exp1/{area.name}_{size}_{model}", [Path(area.patches)], model, "single",
                             lambda run_dir, onnx: {}, [area.name])
                best[area.name] = size
                continue
            scores: dict[int, list[float]] = {}
            for size in area.patch_sizes:
                ds = self.dataset(area, size)
                for model in self.cfg.models:
                    def scene_eval(run_dir: Path, onnx: Path, area: Area = area) -> dict[str, Any]:
                        return evaluate_scene(onnx, area.raster, area.inventory, json_out=run_dir / "scene.json",
                                              progress=self._warnings(run_dir))

                    r = self.run(f"exp1/{area.name}_{size}_{model}", [ds], model, "single", scene_eval, [area.name])
                    cut = r.get("raw") or r  # the probability cut, the papers' metric (and Tables 5-7's): the
                    # delivered polygons' figures (in scene.json) add detection's cleaning, which can flip the size
                    rows.append({"area": area.name, "patch_size": size, "model": model,
                                 **{m: cut[m] for m in METRICS}})
                    scores.setdefault(size, []).append(cut["f1"])
            best[area.name] = max(scores, key=lambda s: (sum(scores[s]) / len(scores[s]), -s))
        return rows, best

    def _test_eval(self, best_ds: dict[str, Path], names: list[str]) -> Evaluate:
        """Metrics on the test splits of the named areas (per area and in total), kept in the run's test.json."""
        from ..core.evaluate import evaluate_dataset

        def evaluate(run_dir: Path, onnx: Path) -> dict[str, Any]:
            r = evaluate_dataset(onnx, [best_ds[n] for n in names], "test", names=names,
                                 progress=self._warnings(run_dir))
            write_text_atomic(run_dir / "test.json", json_text(r))
            return {**{m: r[m] for m in METRICS}, "per_area": r["per_area"]}

        return evaluate

    def _single_mode(self, best: dict[str, int], best_ds: dict[str, Path]) -> list[Row]:
        """Experiment 1's run at the best size is the single-mode run: only its test split is new."""
        rows: list[Row] = []
        for area in self.cfg.areas:
            for model in self.cfg.models:
                run_dir = self.out / "runs" / "exp1" / f"{area.name}_{best[area.name]}_{model}"
                evaluate = self._test_eval(best_ds, [area.name])
                r = self.cached(run_dir / "test_result.json", partial(evaluate, run_dir, run_dir / "model.onnx"))
                rows.append({"area": area.name, "model": model, **{m: r[m] for m in METRICS}})
        return rows

    def _mix_mode(self, best: dict[str, int], best_ds: dict[str, Path]) -> tuple[list[Row], list[Row]]:
        """Areas whose best sizes agree, trained together; scored on their test splits together (the paper's Table
        6: one row per model) and on each area's."""
        groups: dict[tuple[int, int], list[str]] = {}  # one network takes them: one patch size, one band count
        for a in self.cfg.areas:
            groups.setdefault((best[a.name], len(_dataset_bands(best_ds[a.name]))), []).append(a.name)
        for note in mix_notes(groups):  # said in the log and the report, not failed
            self.mix_notes.append(note)
            self.progress.warn(f"mix mode: {note}")
        n_mix = sum(len(names) >= 2 for names in groups.values())  # the best sizes are known now
        self.runs_planned -= len(self.cfg.models) * (len(self.cfg.areas) // 2 - n_mix)
        totals: list[Row] = []
        rows: list[Row] = []
        for (size, _), names in groups.items():
            if len(names) < 2:
                continue
            for model in self.cfg.models:
                # the key names the areas: another model can change a best size and so who trains together
                r = self.run(f"mix/{'+'.join(names)}_{size}_{model}", [best_ds[n] for n in names], model, "mix",
                             self._test_eval(best_ds, names), names)
                totals.append({"areas": "+".join(names), "model": model, **{m: r[m] for m in METRICS}})
                rows += [{"areas": "+".join(names), "area": n, "model": model,
                          **{m: r["per_area"][n][m] for m in METRICS}} for n in names]
        return totals, rows

    def _part_mode(self, best: dict[str, int], best_ds: dict[str, Path]) -> tuple[list[Row], list[Row]]:
        """Serialized training over the areas in each given order; scored on each area's test split (per area) and
        on the test splits of the areas every order scores, together (one row per order and model: the orders
        compared on the same pixels, which Table 7's mean and spread over orders assume)."""
        totals: list[Row] = []
        rows: list[Row] = []
        orders = self.cfg.part_orders or [[a.name for a in self.cfg.areas]]
        scored_by_order = [self._part_scored(order, best_ds) for order in orders]
        common = [a.name for a in self.cfg.areas if all(a.name in s for s in scored_by_order)]
        if any(len(s) != len(common) for s in scored_by_order):
            note = (f"Table 7 compares the orders on the areas every order scores: "
                    f"{', '.join(common) if common else 'none, so its totals are n/a'}")
            if note not in self.part_notes:
                self.part_notes.append(note)
        for order, scored in zip(orders, scored_by_order, strict=True):
            for model in self.cfg.models:
                # each area at its best size, which may change; the name and size apart (a69_64, not a6964)
                stages = "-".join(f"{n}_{best[n]}" for n in order)
                self._rename_run(f"part/{'-'.join(f'{n}{best[n]}' for n in order)}_{model}", f"part/{stages}_{model}")
                r = self.run(f"part/{stages}_{model}", [best_ds[n] for n in order], model, "part",
                             self._test_eval(best_ds, scored), list(order))
                totals.append({"order": " > ".join(order), "model": model, "areas": ", ".join(common) or "none",
                               **_metrics_over(r["per_area"], common)})
                rows += [{"order": " > ".join(order), "area": n, "model": model,
                          **{m: r["per_area"][n][m] if n in r["per_area"] else math.nan for m in METRICS}}
                         for n in order]
        return totals, rows

    def _part_scored(self, order: list[str], best_ds: dict[str, Path]) -> list[str]:
        """The areas of `order` its final network can score: the final network's input layer is the last area's,
        so an area of another band count is not scored by it (as the run's forgetting table says), rather than fed
        the bands whose names happen to match."""
        last = len(_dataset_bands(best_ds[order[-1]]))
        scored = [n for n in order if len(_dataset_bands(best_ds[n])) == last]
        for n in order:
            note = (f"{n}: n/a after {' > '.join(order)}: its {len(_dataset_bands(best_ds[n]))} bands do not fit "
                    f"the final {last}-band input layer")
            if n not in scored and note not in self.part_notes:
                self.part_notes.append(note)
        return scored

    # -- outputs ---------------------------------------------------------------------------------------------
    def write(self, results: dict[str, Any]) -> None:
        from ..core import report as rp

        tables = self.out / "tables"
        tables.mkdir(parents=True, exist_ok=True)
        n_areas = len(self.cfg.areas)
        sections = [f"<p>{n_areas} area{'s' if n_areas != 1 else ''}, models {', '.join(self.cfg.models)}; runs "
                    f"trained {results['runs']['trained']}, reused {results['runs']['skipped']}.</p>"]
        specs = [("table4_patch_size", "Table 4 — whole-area metrics by patch size (experiment 1; the probability "
                  "cut, as in Tables 5-7)", results["exp1"],
                  ["area", "model", "patch_size", "precision", "f1", "recall", "iou"]),
                 ("table5_single", "Table 5 — single mode, test split", results["single"],
                  ["area", "model", "precision", "f1", "recall", "iou"]),
                 ("table6_mix", "Table 6 — mix mode, the areas' test splits together (micro-averaged)",
                  results["mix_total"], ["areas", "model", "precision", "f1", "recall", "iou"]),
                 ("table6_mix_per_area", "Table 6, per area — mix mode, each area's test split", results["mix"],
                  ["areas", "area", "model", "precision", "f1", "recall", "iou"]),
                 ("table7_part", "Table 7 — part mode, mean over the addition orders of the areas' test splits "
                  "together; the spread is the largest difference between two orders", results["part_mean"],
                  ["model", "orders", "precision", "f1", "recall", "iou", "precision_spread", "f1_spread",
                   "recall_spread"]),
                 ("table7_part_by_order", "Table 7, by order — part mode, the test splits of the areas every "
                  "order scores, together", results["part_orders"],
                  ["order", "model", "areas", "precision", "f1", "recall", "iou"]),
                 ("table7_part_per_area", "Table 7, per area — part mode, each area's test split", results["part"],
                  ["order", "model", "area", "precision", "f1", "recall", "iou"])]
        for stem, title, rows, cols in specs:
            if not rows:  # a table this study no longer makes (a mode dropped): not left from an earlier call
                for suffix in (".md", ".csv"):
                    (tables / f"{stem}{suffix}").unlink(missing_ok=True)
                if stem == "table6_mix" and "mix" in self.cfg.modes:
                    sections.append(f"<h2>{title}</h2><p>No two areas share a best patch size and a band count, "
                                    "so none was trained with another.</p>")
                continue
            md, text_csv = _tables(rows, cols)
            write_text_atomic(tables / f"{stem}.md", f"# {title}\n\n{md}")
            write_text_atomic(tables / f"{stem}.csv", text_csv)
            sections += [f"<h2>{title}</h2>", rp.markdown_table_html(rows, cols)]
        notes = [*self.exp1_notes, *self.mix_notes, *self.part_notes]
        if notes:
            sections.append("<h2>Left out of a comparison</h2><ul>"
                            + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
        results["notes"] = notes
        best = describe_outcome(results["best_patch_size"], patch_areas=results["patch_areas"])
        searched = set(results["best_patch_size"]) - set(results["patch_areas"])
        why = ("" if not searched else " (whole-area F1 of the probability cut, mean over models" +
               (")" if not results["patch_areas"] else f", for {', '.join(sorted(searched))})"))
        sections.insert(1, f"<p>{html.escape(best[0].upper() + best[1:])}{html.escape(why)}</p>")
        figures = self.out / "figures"
        figures.mkdir(exist_ok=True)
        made = rp.experiment_figures(results)
        for name, png in made.items():
            with atomic_file(figures / f"{name}.png") as tmp:
                tmp.write_bytes(png)
            sections.append(rp.img_tag(png, name))
        for old in figures.glob("*.png"):  # an earlier call's figure of a model or mode this study no longer has
            if old.stem not in made and (old.stem in ("prf_by_model", "f1_by_patch_size")
                                         or old.stem.startswith(("part_heatmap_", "part_order_differences_"))):
                old.unlink()
        write_text_atomic(self.out / "results.json", json_text(results))
        write_text_atomic(self.out / "report.html", rp.html_page(f"Experiment {self.cfg.name}", sections))


def _metrics_over(per_area: dict[str, dict[str, Any]], names: list[str]) -> dict[str, float]:
    """Pixel metrics micro-averaged over the named areas' counts (NaN for none: nothing in common to score)."""
    from ..core.metrics import Confusion

    if not names:
        return {m: math.nan for m in METRICS}
    total = Confusion()
    for n in names:
        total = total + Confusion(*(int(per_area[n][k]) for k in ("tp", "fp", "fn", "tn")))
    return {m: float(getattr(total, m)) for m in METRICS}


def mean_over_orders(part_orders: list[Row]) -> list[Row]:
    """The paper's Table 7: per model, each metric's mean over the addition orders, and its spread (the largest
    difference between two orders, the paper's Figs. 12-14 in one number)."""
    out: list[Row] = []
    for model in dict.fromkeys(r["model"] for r in part_orders):
        rows = [r for r in part_orders if r["model"] == model]
        row: Row = {"model": model, "orders": len(rows)}
        for m in METRICS:
            values = [float(r[m]) for r in rows if not math.isnan(float(r[m]))]
            row[m] = sum(values) / len(values) if values else math.nan
            if m != "iou":  # one order has no spread (n/a, not a perfect 0)
                row[f"{m}_spread"] = max(values) - min(values) if len(values) > 1 else None
        out.append(row)
    return out


NOT_PATCHES = (".gpkg", ".gpkg-wal", ".gpkg-shm", ".qml", ".aux.xml", ".lock")


def folder_fingerprint(folder: Path) -> str:
    """What a patch folder holds, as one hash of its files' paths (each split's) and sizes: a re-split moves
    patches between train/ and test/, which its path alone does not show."""
    import hashlib
    import os

    lines = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            if name.startswith(".") or name.endswith(NOT_PATCHES):  # what opening the folder in QGIS may add
                continue
            path = Path(root) / name
            with contextlib.suppress(OSError):
                lines.append(f"{path.relative_to(folder).as_posix()}:{path.stat().st_size}")
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()


def _area_change(old: Any, new: dict[str, Any]) -> str:
    """What changed in an area's record, in words: its files or options, or what its files hold."""
    def without_contents(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k != "contents"}

    if not isinstance(old, dict) or without_contents(old) != without_contents(new):
        return "files or options"
    if "patches" in new:
        return "patches (re-split or changed)"
    held = [f"{role} {new[role]}" for role in ("inventory", "raster")
            if (old.get("contents") or {}).get(role) != new["contents"][role]]
    return (f"{' and '.join(held)} (changed in place since its datasets were made: an inventory edited and saved, "
            "a scene replaced)")


def _changes(old: dict[str, Any], new: dict[str, Any], where: str) -> list[str]:
    """What differs between two option tables, key by key: 'experiment.train.epochs 1 -> 2'."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "(not set)"), new.get(key, "(not set)")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{where}.{key}")
        elif a != b:
            out.append(f"{where}.{key} {a} -> {b}")
    return out


def _require_same_data(run_dir: Path, data: list[Path], key: str) -> None:
    """A run folder reused (finished or resumed) must have been trained on these datasets, in this order. They are
    compared as the study files them (datasets/AREA_SIZE), so a study moved or copied elsewhere continues."""
    config = run_dir / "config.json"
    if not config.exists():
        return
    had = [str(Path(d).resolve()) for d in _read_json(config).get("data") or []]

    def filed(paths: list[str]) -> list[tuple[str, ...]]:
        return [Path(p).parts[-2:] for p in paths]

    if had and filed(had) != filed([str(Path(d).resolve()) for d in data]):
        raise LmhldError(f"run {key} in {run_dir} was trained on {', '.join(had)}, not on "
                         f"{', '.join(str(d) for d in data)}: this --out holds runs of another study; choose "
                         "another --out")


def _read_json(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text())
    if not isinstance(value, dict):
        raise LmhldError(f"{path} is not a JSON object; delete it to compute it again")
    read: dict[str, Any] = _undefined_as_nan(value)
    return read


def _undefined_as_nan(value: Any) -> Any:
    """Scores written as null (undefined: JSON has no NaN) read back as NaN, which the tables and means skip."""
    if isinstance(value, dict):
        return {k: math.nan if v is None and k in SCORES else _undefined_as_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_undefined_as_nan(v) for v in value]
    return value


def _dataset_bands(dataset: Path) -> list[str]:
    """The band names a dataset holds: an exported one's dataset.json, or a patch folder's reader."""
    if (dataset / "dataset.json").is_file():
        return [str(b) for b in _read_json(dataset / "dataset.json").get("bands") or []]
    from ..core.datasets import open_dataset

    return list(open_dataset(dataset, "test").band_names)


def _tables(rows: list[Row], cols: list[str]) -> tuple[str, str]:
    from ..core.report import cell_text

    md = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    md += "".join("| " + " | ".join(cell_text(r.get(c, "")) for c in cols) + " |\n" for r in rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return md, buf.getvalue()


def run_experiment(config: str | Path, out: str | Path, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or continue) the experiment described by a TOML file into `out`."""
    return Experiment(load_experiment(config), out, progress).execute()


__all__ = ["Experiment", "ExperimentConfig", "load_experiment", "mean_over_orders", "run_experiment"]

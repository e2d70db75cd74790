"""Where results go: a destination left at "temporary" is written beside the input instead, because a dataset, a
run folder or a detection in QGIS's temporary folder is deleted when QGIS closes. Where the input's folder is
read-only (shared data, a mounted archive, a DVD), they go to the project's folder, else to ~/lmhld_outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingUtils,
)


def _static_value(value):
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        return value.sink.staticValue()
    return value


def is_temporary(value) -> bool:
    """The destination was left at its default, QGIS's temporary folder: "temporary" in the dialog, omitted, or a
    path in Processing's temporary folder (what a model gives the outputs of its steps that are not the model's,
    such as the run folder of a training step that feeds detection)."""
    value = _static_value(value)
    if value is None or str(value) in ("", QgsProcessing.TEMPORARY_OUTPUT):
        return True
    return Path(QgsProcessingUtils.tempFolder()).resolve() in Path(str(value)).resolve().parents


def is_skipped(value) -> bool:
    """An optional output not wanted: the dialog's "Skip output", a blank cell in batch mode, or omitted."""
    value = _static_value(value)
    return value is None or not str(value).strip()


def default_output(path: Path, context: QgsProcessingContext | None = None) -> Path:
    """`path` (an output beside its input), moved to a writable folder when its own is not (see the module's
    docstring; the log says so), with _2, _3, ... before its suffix when something is already there."""
    return default_outputs([path], context)[0]


def default_outputs(paths: list[Path], context: QgsProcessingContext | None = None) -> list[Path]:
    """default_output for outputs that belong together (a detection's polygons and its probability raster): one
    number for all, the first that leaves every one of them free."""
    placed = [Path(p) if _writable(Path(p).parent) else _fallback_folder() / Path(p).name for p in paths]
    moved = [q for p, q in zip(paths, placed, strict=True) if Path(p) != q]
    feedback = context.feedback() if context is not None else None
    if moved and feedback is not None:
        feedback.pushInfo(f"{Path(paths[0]).parent} is read-only: {', '.join(q.name for q in moved)} "
                          f"{'goes' if len(moved) == 1 else 'go'} to {moved[0].parent} instead")
    n = 1
    while any(_numbered(p, n).exists() for p in placed):
        n += 1
    return [_numbered(p, n) for p in placed]


def _numbered(path: Path, n: int) -> Path:
    return path if n == 1 else path.with_name(f"{path.stem}_{n}{path.suffix}")


def _fallback_folder() -> Path:
    """Where outputs go when their input's folder is read-only: the project's folder, else ~/lmhld_outputs."""
    from qgis.core import QgsProject

    home = QgsProject.instance().homePath()
    return Path(home) if home and _writable(Path(home)) else Path.home() / "lmhld_outputs"


def _writable(folder: Path) -> bool:
    """Whether `folder` can be written to, or made in its nearest existing parent (a run's runs/ comes later)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    # a folder nobody may write (mode 555: shared data) counts as read-only for root too, whom access() lets in
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK) and bool(folder.stat().st_mode & 0o222)


def safe_stem(text: str) -> str:
    """A name usable in a file name, from a layer or file name."""
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in text.strip())
    return keep.strip("._") or "output"


@dataclass
class Destination:
    path: str
    defaulted: bool  # written beside the input because the parameter was left at "temporary"


def folder_destination(alg, parameters, name: str, context, default: Path) -> Destination:
    """The folder of a folder destination, or `default` (made free) when left at "temporary"."""
    if is_temporary(parameters.get(name)):
        return Destination(str(default_output(default, context)), True)
    return Destination(alg.parameterAsString(parameters, name, context), False)


def refuse_written_over(alg, parameters, names: list[str], layer, context) -> None:
    """Refuse a layer output that would be written over the input `layer` (its file, or its table in a GeoPackage),
    before any work: "Save to GeoPackage..." on the inventory's own GeoPackage and table emptied the inventory (the
    run said OK; the layer, cached, still showed its polygons). Another table of the same GeoPackage is fine."""
    import re

    from .common import layer_file

    found = layer_file(layer)
    if found is None:
        return
    read, table_read = Path(found[0]).resolve(), found[1] or None
    for name in names:
        if is_temporary(parameters.get(name)) or is_skipped(parameters.get(name)):
            continue
        value = parameters.get(name)  # read as given: parameterAsOutputLayer would queue it for loading
        dest = (value.sink.valueAsString(context.expressionContext())[0]
                if isinstance(value, QgsProcessingOutputLayerDefinition) else str(value or ""))
        database = re.match(r"^ogr:dbname='(?P<file>(?:[^']|'')*)' table=\"(?P<table>[^\"]*)\"", dest or "")
        file, table = ((database["file"].replace("''", "'"), database["table"]) if database else
                       (dest.split("|")[0], None))
        if not database and (not file or file.startswith(("memory:", *DATABASE_DESTINATIONS))):  # not a file
            continue
        if Path(file).resolve() == read and (table is None or table_read is None or table == table_read):
            what = f"{read.name}, table {table}" if table else read.name
            raise QgsProcessingException(alg.tr(
                "{0} would be written over {1} ({2}), which this algorithm reads: choose another file, or another "
                "table of that GeoPackage").format(alg.parameterDefinition(name).description(), layer.name(), what))


DATABASE_DESTINATIONS = ("ogr:", "postgres:", "postgis:", "spatialite:", "mssql:", "oracle:")


def layer_destination(alg, parameters, name: str, context, default: Path | None) -> Destination:
    """The file of a vector/raster destination, or `default` (made free) when left at "temporary"; loaded on
    completion when the dialog's "Open output file after running algorithm" is ticked, as Processing would."""
    value = parameters.get(name)
    if not is_temporary(value):
        path = alg.parameterAsOutputLayer(parameters, name, context)
        if path.startswith(DATABASE_DESTINATIONS):  # the widget's "Save to GeoPackage..." / "to Database Table..."
            raise QgsProcessingException(alg.tr(
                "{0}: \"Save to GeoPackage...\" and \"Save to Database Table...\" add a layer to an existing file "
                "or database, which lmhld does not do (it writes a file of its own, whole or not at all, so that a "
                "failed run cannot damage a project's GeoPackage): choose \"Save to File...\" and a new file")
                .format(alg.parameterDefinition(name).description()))
        return Destination(path, False)
    if default is None:
        raise ValueError(f"{name} is left at temporary and no default path was made for it")
    path = str(default_output(default, context))
    load_when_asked(alg, parameters, name, context, path)
    return Destination(path, True)


def load_when_asked(alg, parameters, name: str, context, path: str, layer_name: str = "") -> None:
    """Load `path` on completion for a destination left at temporary (written elsewhere than QGIS's temporary
    file), as Processing would: only where the dialog's "Open output file", batch mode's "Load layers" or a model's
    output asked for it; named `layer_name`, else as the parameter."""
    value = parameters.get(name)
    project = value.destinationProject if isinstance(value, QgsProcessingOutputLayerDefinition) else None
    if project is not None:
        details = QgsProcessingContext.LayerDetails(layer_name or alg.parameterDefinition(name).description(),
                                                    project, name)
        kind = alg.parameterDefinition(name).type()
        details.layerTypeHint = QgsProcessingUtils.LayerHint.Raster if kind == "rasterDestination" else \
            QgsProcessingUtils.LayerHint.Vector
        context.addLayerToLoadOnCompletion(path, details)


"""Where results go: a destination left at "temporary" is written beside the input instead, because a dataset, a
run folder or a detection in QGIS's temporary folder is deleted when QGIS closes. Where the input's folder is
read-only (shared data, a mounted archive, a DVD), they go to the project's folder, else to ~/lmhld_outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qgis.core import QgsProcessing, QgsProcessingContext, QgsProcessingOutputLayerDefinition, QgsProcessingUtils


def _static_value(value):
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        return value.sink.staticValue()
    return value


def is_temporary(value) -> bool:
    """The destination was left at its default: QGIS's temporary folder."""
    value = _static_value(value)
    return value is None or str(value) in ("", QgsProcessing.TEMPORARY_OUTPUT)


def default_output(path: Path, context: QgsProcessingContext | None = None) -> Path:
    """`path` (an output beside its input), moved to a writable folder when its own is not (see the module's
    docstring; the log says so), with _2, _3, ... before its suffix when something is already there."""
    path = Path(path)
    if not _writable(path.parent):
        from qgis.core import QgsProject

        home = QgsProject.instance().homePath()
        folder = Path(home) if home and _writable(Path(home)) else Path.home() / "lmhld_outputs"
        feedback = context.feedback() if context is not None else None
        if feedback is not None:
            feedback.pushInfo(f"{path.parent} is read-only: {path.name} goes to {folder} instead")
        path = folder / path.name
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
    return candidate


def _writable(folder: Path) -> bool:
    """Whether `folder` can be written to, or made in its nearest existing parent (a run's runs/ comes later)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


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


def layer_destination(alg, parameters, name: str, context, default: Path) -> Destination:
    """The file of a vector/raster destination, or `default` (made free) when left at "temporary"; loaded on
    completion when the dialog's "Open output file after running algorithm" is ticked, as Processing would."""
    value = parameters.get(name)
    if not is_temporary(value):
        return Destination(alg.parameterAsOutputLayer(parameters, name, context), False)
    path = str(default_output(default, context))
    project = value.destinationProject if isinstance(value, QgsProcessingOutputLayerDefinition) else None
    if project is not None:
        details = QgsProcessingContext.LayerDetails(alg.parameterDefinition(name).description(), project, name)
        kind = alg.parameterDefinition(name).type()
        details.layerTypeHint = QgsProcessingUtils.LayerHint.Raster if kind == "rasterDestination" else \
            QgsProcessingUtils.LayerHint.Vector
        context.addLayerToLoadOnCompletion(path, details)
    return Destination(path, True)


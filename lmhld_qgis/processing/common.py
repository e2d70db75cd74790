"""What every algorithm adapter shares: feedback as core Progress, errors as one line for the dialog, inputs read
the way the core wants them."""

from __future__ import annotations

import contextlib
import functools
import re
import traceback
from collections.abc import Iterator

from qgis.core import (
    Qgis,
    QgsFeatureRequest,
    QgsMessageLog,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsProcessingParameterDefinition,
    QgsProviderRegistry,
)
from qgis.PyQt.QtCore import QCoreApplication

from ..core.errors import CancelledError, LmhldError, explain
from ..core.terms import QGIS_ASIDE
from ..deps import PACKAGES, base_python, missing_message

LOG_TAG = "LMHLD"


def tr(text: str) -> str:
    return QCoreApplication.translate("lmhld", text)


class FeedbackProgress:
    """core.progress.Progress over a QgsProcessingFeedback; the options the core's lines name are told as `alg`'s
    parameters (in_dialog_terms)."""

    def __init__(self, feedback, alg: QgsProcessingAlgorithm | None = None) -> None:
        self.feedback, self.alg = feedback, alg

    def set_fraction(self, fraction: float) -> None:
        if self.feedback is not None:
            self.feedback.setProgress(100.0 * fraction)

    def info(self, message: str) -> None:
        if self.feedback is not None:
            self.feedback.pushInfo(in_dialog_terms(message, self.alg))

    def warn(self, message: str) -> None:
        """A warning in the log's warning colour (as training's child process reports them); red stays for errors:
        a run that succeeded with a note is not shown as failed."""
        if self.feedback is not None:
            self.feedback.pushWarning(in_dialog_terms(message, self.alg))

    def is_cancelled(self) -> bool:
        return self.feedback is not None and self.feedback.isCanceled()


# A command quoted in backticks (kept as it is), or a flag: with its value when one follows (a number, or a word
# that ends the clause: `--names red,green,dsm;`), or a word before "or", "," or "." (a choice: `--device cpu or`,
# which only an enum parameter takes as its value), and the core's own "in QGIS: LABEL" aside after it, which the
# parameter's name then says already.
_FLAG = re.compile(r"`[^`]*`|--(?P<flag>[a-z][a-z0-9-]*)"
                   r"(?: (?P<value>\d[^\s;)]*|[^\s;()`]+(?=[;)]|$| \(in QGIS))"
                   r"| (?P<word>[a-z][a-z0-9:_-]*)(?= or |[,.]))?"
                   rf"(?P<aside>{QGIS_ASIDE})?")


def _enum_choice(param: QgsProcessingParameterDefinition, value: str) -> int | None:
    """The option of an enum parameter that a command-line choice names ("cpu": "CPU", "auto": "Automatic: a GPU
    when there is one"), by its index (what qgis_process takes); None when no option, or more than one, names it."""
    found = [i for i, label in enumerate(param.options()) if value.lower() in label.lower()]
    return found[0] if len(found) == 1 else None


def _parameters_by_flag(alg: QgsProcessingAlgorithm) -> dict[str, QgsProcessingParameterDefinition]:
    params = {p.name().lower().replace("_", "-"): p for p in alg.parameterDefinitions()}
    params.update({flag: alg.parameterDefinition(name) for flag, name in getattr(alg, "CLI_FLAGS", ())
                   if alg.parameterDefinition(name) is not None})
    return params


@functools.cache
def _every_algorithms_parameters() -> dict[str, QgsProcessingParameterDefinition]:
    """The flags that name one parameter wherever an algorithm has it (same name, same label), for a message that
    points at another step: analyse saying "export ... with a lower --min-fraction". A flag that means different
    things in different steps (--threshold, --layer) is left as it is."""
    from .provider import algorithm_classes

    found: dict[str, list[QgsProcessingParameterDefinition]] = {}
    for cls in algorithm_classes():
        alg = cls()
        alg.initAlgorithm()
        for flag, param in _parameters_by_flag(alg).items():
            found.setdefault(flag, []).append(param.clone())
    return {flag: params[0] for flag, params in found.items()
            if len({(p.name(), p.description()) for p in params}) == 1}


def in_dialog_terms(message: str, alg: QgsProcessingAlgorithm | None) -> str:
    """The core speaks of options as the command line names them (--resume, --bands 1,2,3); in QGIS each becomes
    the parameter the dialog shows and qgis_process takes ("Resume a stopped run" (RESUME), "Bands in order"
    (BANDS=1,2,3)): this algorithm's, else that of the step the message points to. A command quoted in backticks,
    to be run in a terminal, keeps its flags."""
    if alg is None or "--" not in message:
        return message
    params = _parameters_by_flag(alg)

    def swap(match: re.Match[str]) -> str:
        flag = match["flag"] or ""
        param = params.get(flag) or _every_algorithms_parameters().get(flag)
        if param is None:
            return match.group(0)
        word, given = match["word"], match["value"]
        if given and param.type() == "boolean":  # a switch takes no value: the word that ended the clause
            word, given = given, None
        if param.type() == "enum" and hasattr(param, "options") and (given or word):
            chosen = _enum_choice(param, given or word)
            if chosen is not None:  # a choice of the command line's (--device cpu): the option the dialog shows
                return f'"{param.description()}" set to "{param.options()[chosen]}" ({param.name()}={chosen})'
        value = f"={given}" if given else ""
        return f'"{param.description()}" ({param.name()}{value})' + (f" {word}" if word else "")

    return _FLAG.sub(swap, message)


@contextlib.contextmanager
def core_errors(what: str = "", alg: QgsProcessingAlgorithm | None = None) -> Iterator[None]:
    """Every failure as one QgsProcessingException line: the core's own errors as they are (their options named as
    `alg`'s parameters), an unexpected one with its traceback sent to the message log (tab LMHLD) instead of the
    dialog."""
    try:
        yield
    except QgsProcessingException as exc:
        raise QgsProcessingException(in_dialog_terms(str(exc), alg)) from exc
    except CancelledError as exc:
        said = in_dialog_terms(str(exc), alg)
        raise QgsProcessingException(said[:1].upper() + said[1:] if said.lower().startswith("cancelled")
                                     else tr("Cancelled: {0}").format(said)) from exc
    except LmhldError as exc:
        raise QgsProcessingException(in_dialog_terms(str(exc), alg)) from exc
    except MemoryError as exc:
        raise QgsProcessingException(tr("{0}: not enough memory; use a smaller batch, tile or extent").format(
            what or tr("the algorithm"))) from exc
    except ModuleNotFoundError as exc:
        module = (exc.name or "").split(".")[0]
        if module not in {p.module for p in PACKAGES}:
            raise _unexpected(exc, what) from exc
        from .child import deps_folder

        raise QgsProcessingException(missing_message([module], base_python(), what or tr("This algorithm"),
                                                     target=deps_folder())) from exc
    except Exception as exc:
        explained = explain(exc)  # a full disk, a read-only folder, a damaged file: said as the command line says it
        if explained.expected:
            message = in_dialog_terms(explained.message, alg)
            raise QgsProcessingException(message[:1].upper() + message[1:]) from exc
        raise _unexpected(exc, what) from exc


def _unexpected(exc: Exception, what: str) -> QgsProcessingException:
    """A defect or an unknown failure: one line in the dialog, the traceback in the message log."""
    QgsMessageLog.logMessage(traceback.format_exc(), LOG_TAG, Qgis.Critical)
    return QgsProcessingException(tr("{0} failed: {1}: {2}. The details are in the Log Messages panel, tab "
                                     "LMHLD.").format(what or tr("The algorithm"), type(exc).__name__, exc))


def source_wkb(source: QgsProcessingFeatureSource) -> tuple[list[bytes | None], list[int]]:
    """Geometries of a feature source as WKB (None where null) with their feature ids, in source order."""
    wkbs: list[bytes | None] = []
    fids: list[int] = []
    request = QgsFeatureRequest().setNoAttributes()
    for feat in source.getFeatures(request):
        geom = feat.geometry()
        wkbs.append(None if geom.isNull() else bytes(geom.asWkb()))
        fids.append(feat.id())
    return wkbs, fids


def features_to_copy(source: QgsProcessingFeatureSource, layer) -> Iterator:
    """The source's features to copy into a new file: the saved ones first, with their own ids; the unsaved ones
    (being digitized) after them, with no id, which the copy gives anew. An unsaved feature's id in a GeoPackage
    is the text "Autogenerate": copied as it was, it made every row of the copy fail, and the copy was empty."""
    keys = list(layer.primaryKeyAttributes()) if layer is not None else []
    fields = source.fields()
    keys = keys or [i for i in range(fields.count()) if fields.at(i).name().lower() == "fid"]
    for feat in sorted(source.getFeatures(), key=lambda f: f.id() < 0):
        for i in keys:
            if not isinstance(feat.attribute(i), int):
                feat.setAttribute(i, None)
        yield feat


def added_or_failed(sink, feature, what: str) -> None:
    """Add `feature` to `sink`, or stop with the reason: a row the sink refused was lost without a word."""
    from qgis.core import QgsFeatureSink, QgsProcessingException

    if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
        raise QgsProcessingException(tr("{0} could not take feature {1} ({2})").format(
            what, feature.id(), sink.lastError() or tr("no reason given")))


def layer_file(layer) -> tuple[str, str] | None:
    """The file a map layer reads and its layer name in it ("" for the file's only one), or None for a layer of no
    file (memory, a database, a web service)."""
    if layer is None:
        return None
    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    return (str(parts["path"]), str(parts.get("layerName") or "")) if parts.get("path") else None


def layer_origin(alg, parameters, name: str, context) -> tuple[str, str] | None:
    """The file and layer name behind a vector layer parameter read by OGR, or None: a layer of no polygon (a
    project GeoPackage's points, opened first from its path) is then refused naming the file's polygon layers."""
    layer = alg.parameterAsVectorLayer(parameters, name, context)
    return layer_file(layer) if layer is not None and layer.providerType() == "ogr" else None


def source_polygons(source: QgsProcessingFeatureSource | None, what: str, explode: bool = False,
                    allow_empty: bool = False, origin: tuple[str, str] | None = None):
    """A feature source as the core's PolygonSet (repaired, with skip counts); `allow_empty`: a layer without
    features is a PolygonSet of none rather than an error; `origin`: layer_origin."""
    from ..core.vector import polygons_from_wkb, refuse_patch_outlines

    if source is None:
        raise QgsProcessingException(tr("{0}: no polygon layer given").format(what))
    refuse_patch_outlines(source.fields().names(), what, source.sourceName())
    crs = source.sourceCrs()
    wkbs, fids = source_wkb(source)
    return polygons_from_wkb(wkbs, fids, crs.toWkt(crs.WKT_PREFERRED) if crs.isValid() else None, explode=explode,
                             what=f"{what} {source.sourceName()}", allow_empty=allow_empty, name=source.sourceName(),
                             origin=origin)


def polygon_source(alg, parameters, name: str, context) -> QgsProcessingFeatureSource | None:
    """parameterAsSource with every feature as stored, invalid geometries included: the core repairs them (analysis,
    scoring) or refuses them by feature with the fix (export). QGIS's own filter would stop the algorithm at the
    first one with its own message (and, from processing.run in QGIS 3.22, break Python until a restart), or with
    "skip" drop a landslide whose pixels would then be trained as background."""
    source = alg.parameterAsSource(parameters, name, context)
    if source is not None:
        source.setInvalidGeometryCheck(QgsFeatureRequest.GeometryNoCheck)
        _say_unsaved(alg.parameterAsVectorLayer(parameters, name, context), context)
    return source


def _say_unsaved(layer, context) -> None:
    """Say that a layer being edited is read with its unsaved edits (what the map shows), not as its file holds it:
    a probe's export was cut from 6 unsaved polygons while the file held none, and nothing said so."""
    feedback = context.feedback() if hasattr(context, "feedback") else None
    if layer is None or feedback is None or not (layer.isEditable() and layer.isModified()):
        return
    buffer = layer.editBuffer()
    added, changed, deleted = (len(buffer.addedFeatures()), len(buffer.changedGeometries()),
                               len(buffer.deletedFeatureIds())) if buffer is not None else (0, 0, 0)
    feedback.pushInfo(tr("{0} is read with its unsaved edits ({1} added, {2} reshaped, {3} deleted), as the map shows "
                         "it; save them (Toggle Editing) so that the file holds what this run used").format(
                             layer.name(), added, changed, deleted))


def required_source(alg, parameters, name: str, context) -> QgsProcessingFeatureSource:
    """polygon_source, or QGIS's own message for a source that cannot be read."""
    source = polygon_source(alg, parameters, name, context)
    if source is None:
        raise QgsProcessingException(alg.invalidSourceError(parameters, name))
    return source


def optional_number(alg, parameters: dict, name: str, context, as_int: bool = False) -> float | int | None:
    """An optional number parameter, or None when it is left empty (the model's or recipe's value, never a
    sentinel)."""
    if parameters.get(name) in (None, ""):
        return None
    return (alg.parameterAsInt if as_int else alg.parameterAsDouble)(parameters, name, context)


def raster_path(layer) -> str | None:
    """The file behind a GDAL raster layer (what the core reads), or None."""
    if layer is None:
        return None
    if layer.providerType() != "gdal":
        raise QgsProcessingException(tr("raster {0} is not a GDAL raster; save it to a GeoTIFF first").format(
            layer.name()))
    return layer.source()

"""What every algorithm adapter shares: feedback as core Progress, core errors as Processing errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from qgis.core import QgsFeatureRequest, QgsProcessingException, QgsProcessingFeatureSource

from ..core.errors import CancelledError, LmhldError


class FeedbackProgress:
    """core.progress.Progress over a QgsProcessingFeedback."""

    def __init__(self, feedback) -> None:
        self.feedback = feedback

    def set_fraction(self, fraction: float) -> None:
        if self.feedback is not None:
            self.feedback.setProgress(100.0 * fraction)

    def info(self, message: str) -> None:
        if self.feedback is not None:
            self.feedback.pushInfo(message)

    def warn(self, message: str) -> None:
        if self.feedback is not None:
            self.feedback.reportError(message, fatalError=False)

    def is_cancelled(self) -> bool:
        return self.feedback is not None and self.feedback.isCanceled()


@contextlib.contextmanager
def core_errors() -> Iterator[None]:
    """Turn the core's user-facing errors into QgsProcessingException (the message is kept as it is)."""
    try:
        yield
    except CancelledError as exc:
        raise QgsProcessingException(f"Cancelled: {exc}") from exc
    except LmhldError as exc:
        raise QgsProcessingException(str(exc)) from exc


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


def source_polygons(source: QgsProcessingFeatureSource | None, what: str):
    """A feature source as the core's PolygonSet (repaired, with skip counts)."""
    from ..core.vector import polygons_from_wkb

    if source is None:
        raise QgsProcessingException(f"{what}: no polygon layer given")
    crs = source.sourceCrs()
    wkbs, fids = source_wkb(source)
    return polygons_from_wkb(wkbs, fids, crs.toWkt(crs.WKT_PREFERRED) if crs.isValid() else None,
                             what=f"{what} {source.sourceName()}")


def folder_list(text: str | None) -> list[str]:
    """Dataset folders from a multi-line text parameter: one per line or separated by ';'."""
    return [d.strip() for line in (text or "").splitlines() for d in line.split(";") if d.strip()]


def raster_path(layer) -> str | None:
    """The file behind a GDAL raster layer (what the core reads), or None."""
    if layer is None:
        return None
    if layer.providerType() != "gdal":
        raise QgsProcessingException(f"raster {layer.name()} is not a GDAL raster; save it to a GeoTIFF first")
    return layer.source()

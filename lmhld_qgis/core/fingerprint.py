"""What an area's files hold, as short hashes: a study that reuses datasets made from a raster and an inventory
must know when they changed in place (an inventory edited in QGIS and saved, a scene replaced under the same
name), which their paths alone do not show.

The inventory is hashed whole (every feature's geometry and attributes, the layer's CRS), so any edit shows. The
raster is hashed by its grid (size, bands, data types, nodata, geotransform, CRS) and by the pixels of 64 windows
spread over it (at most 128 x 128 each), so that a scene of any size costs a fraction of a second; a
replacement or a new processing of the scene changes them, as it changes the grid or the file's size.
QGIS's own side files (.aux.xml statistics, .qml styles) and a GeoPackage's bookkeeping do not count.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SAMPLES_PER_SIDE = 8  # windows along each axis of the raster
SAMPLE_SIZE = 128  # the largest window's side in pixels


def inventory_fingerprint(path: str | Path, layer: str | None = None) -> str:
    """A hash of the layer's features (geometry as ISO WKB, every attribute) in the order they are read, and its
    CRS."""
    from .vector import features, open_layer

    ds, lyr = open_layer(path, layer)
    digest = hashlib.sha1()
    srs = lyr.GetSpatialRef()
    digest.update((srs.ExportToWkt() if srs is not None else "").encode())
    defn = lyr.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    digest.update("\x1f".join(names).encode())
    for feat in features(lyr, path):
        geom = feat.GetGeometryRef()
        digest.update(b"\x1e" + (bytes(geom.ExportToIsoWkb()) if geom is not None else b""))
        digest.update("\x1f".join(str(feat.GetField(i)) for i in range(len(names))).encode())
    del ds
    return digest.hexdigest()


def raster_fingerprint(path: str | Path) -> str:
    """A hash of the raster's grid and of the pixels of windows spread evenly over it."""
    import rasterio
    from rasterio.windows import Window

    from .errors import LmhldError

    digest = hashlib.sha1()
    try:
        with rasterio.open(str(path)) as src:
            digest.update(repr((src.width, src.height, src.count, src.dtypes, src.nodatavals,
                                tuple(src.transform), src.crs.to_wkt() if src.crs else "")).encode())
            for window in _sample_windows(src.width, src.height):
                digest.update(src.read(window=Window(*window)).tobytes())
    except rasterio.errors.RasterioError as exc:
        raise LmhldError(f"cannot read raster {path}: {exc}; give a file GDAL can open") from exc
    return digest.hexdigest()


def _sample_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(col, row, width, height) of SAMPLES_PER_SIDE x SAMPLES_PER_SIDE windows laid evenly over the raster (the
    whole raster when it is small)."""
    w, h = min(SAMPLE_SIZE, width), min(SAMPLE_SIZE, height)
    cols = sorted({round(i * (width - w) / max(SAMPLES_PER_SIDE - 1, 1)) for i in range(SAMPLES_PER_SIDE)})
    rows = sorted({round(i * (height - h) / max(SAMPLES_PER_SIDE - 1, 1)) for i in range(SAMPLES_PER_SIDE)})
    return [(c, r, w, h) for r in rows for c in cols]

"""Generated test inputs (honestly generated: synthetic rasters and polygons written as real GeoTIFF/GPKG files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr

from lmhld_qgis.core.vector import srs_from_epsg

ogr.UseExceptions()
gdal.UseExceptions()

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def write_polygons(path: Path, wkts: Sequence[str | None], epsg: int | None = 32618, layer: str = "landslides",
                   geom_type: int = ogr.wkbUnknown, fields: dict[str, Sequence] | None = None,
                   append: bool = False) -> Path:
    """Write a GeoPackage layer (a Shapefile for a .shp path; without .prj when `epsg` is None) from WKT strings
    (None = null geometry); `append` adds the layer to an existing GeoPackage."""
    driver = "ESRI Shapefile" if Path(path).suffix == ".shp" else "GPKG"
    ds = ogr.Open(str(path), 1) if append else ogr.GetDriverByName(driver).CreateDataSource(str(path))
    lyr = ds.CreateLayer(layer, srs_from_epsg(epsg) if epsg else None, geom_type)
    for name, values in (fields or {}).items():
        kind = ogr.OFTInteger if isinstance(values[0], int) else ogr.OFTString
        lyr.CreateField(ogr.FieldDefn(name, kind))
    for i, wkt in enumerate(wkts):
        feat = ogr.Feature(lyr.GetLayerDefn())
        if wkt is not None:
            feat.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        for name, values in (fields or {}).items():
            feat.SetField(name, values[i])
        lyr.CreateFeature(feat)
    ds = None
    return path


def square(x: float, y: float, side: float) -> str:
    return f"POLYGON(({x} {y},{x + side} {y},{x + side} {y + side},{x} {y + side},{x} {y}))"


def write_raster(path: Path, data: np.ndarray, *, epsg: int | None = 32618, origin=(500000.0, 4000000.0),
                 pixel: tuple[float, float] = (3.0, -3.0), nodata: float | None = None,
                 rotation: tuple[float, float] = (0.0, 0.0), descriptions: Sequence[str] | None = None,
                 georeferenced: bool = True) -> Path:
    """Write a (bands, rows, cols) array as a GeoTIFF with a north-up (or rotated) grid, or with none (a dataset
    patch: no geotransform)."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    dtype = gdal_array_type(data.dtype)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), data.shape[2], data.shape[1], data.shape[0], dtype)
    if georeferenced:
        ds.SetGeoTransform((origin[0], pixel[0], rotation[0], origin[1], rotation[1], pixel[1]))
    if epsg:
        ds.SetProjection(srs_from_epsg(epsg).ExportToWkt())
    for i in range(data.shape[0]):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(data[i])
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[i])
    ds = None
    return path


def gdal_array_type(dtype: np.dtype) -> int:
    from osgeo import gdal_array

    return gdal_array.NumericTypeCodeToGDALTypeCode(np.dtype(dtype))


class RunsCode:
    """Pickles to a call that would write PWNED in the working folder: what a safe loader must refuse."""

    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def reorder_dataset(src: Path, dst: Path, order: Sequence[int], names: Sequence[str] | None = None) -> Path:
    """A copy of the lmhld dataset `src` whose bands are stored in `order` (0-based), as an export of the same
    ground from a scene stacked in another order would store them; `names` renames them (after reordering)."""
    import json
    import shutil

    import rasterio

    shutil.copytree(src, dst)
    for tif in (dst / "img").glob("*.tif"):
        with rasterio.open(tif) as ds:
            data, profile = ds.read(), ds.profile
        with rasterio.open(tif, "w", **profile) as ds:
            ds.write(data[list(order)])
    card = json.loads((dst / "dataset.json").read_text())
    for key in ("bands", "mean", "std"):
        card[key] = [card[key][b] for b in order]
    if names is not None:
        card["bands"] = list(names)
    (dst / "dataset.json").write_text(json.dumps(card))
    return dst


def write_cas_splits(root: Path, *, size: int = 32, per_split: Sequence[int] = (6, 2, 2), seed: int = 0) -> Path:
    """A CAS-style RGB patch folder divided into train/, val/ and test/ (img/ + mask/ each, 1 = landslide, no
    georeferencing): a bright square landslide on darker ground in every patch."""
    rng = np.random.default_rng(seed)
    for split, count in zip(("train", "val", "test"), per_split, strict=True):
        for sub in ("img", "mask"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            mask = np.zeros((size, size), np.uint8)
            r, c = rng.integers(0, size // 2, 2)
            mask[r:r + size // 3, c:c + size // 3] = 1
            image = rng.integers(40, 90, (3, size, size)).astype(np.uint8)
            image[:, mask == 1] += 100
            write_raster(root / split / "img" / f"{split}{i:03d}.tif", image, epsg=None)
            write_raster(root / split / "mask" / f"{split}{i:03d}.tif", mask, epsg=None)
    return root


def write_l4s(root: Path, count: int = 4, size: int = 16) -> Path:
    """A flat Landslide4Sense folder (img/image_N.h5 of 14 bands in the release's divided units, mask/mask_N.h5),
    the landslide share growing with N and brighter bands over it."""
    import h5py

    for sub in ("img", "mask"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        mask = (np.arange(size * size).reshape(size, size) < size * size * (i + 1) // (count + 1)).astype(np.uint8)
        with h5py.File(root / "img" / f"image_{i}.h5", "w") as f:
            f["img"] = (np.full((size, size, 14), 0.5, np.float32) + 0.8 * mask[:, :, None]).astype(np.float32)
        with h5py.File(root / "mask" / f"mask_{i}.h5", "w") as f:
            f["mask"] = mask
    return root


class SaidLines:
    """A progress object of a caller's own, as a program writes one: it keeps every line it is told."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    warn = info

    def set_fraction(self, fraction: float) -> None:
        pass

    def is_cancelled(self) -> bool:
        return False

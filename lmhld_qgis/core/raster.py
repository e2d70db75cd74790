"""Raster facts every stage needs (grid, CRS, bands, nodata, pixel size in metres), read with rasterio."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import LmhldError, damage

if TYPE_CHECKING:
    from osgeo import ogr, osr


GEOTRANSFORM, CONTROL_POINTS, NOT_GEOREFERENCED = "geotransform", "control points", "none"


@dataclass(frozen=True)
class RasterInfo:
    path: str
    width: int
    height: int
    count: int
    dtype: str
    crs_wkt: str | None
    transform: tuple[float, float, float, float, float, float]  # affine a, b, c, d, e, f (rasterio order)
    nodata: float | None
    descriptions: tuple[str | None, ...]
    alpha_bands: tuple[int, ...] = ()  # 1-based bands whose colour interpretation is alpha (a mask, not data)
    colours: tuple[str | None, ...] = ()  # per band: "red", "green" or "blue" when its colour interpretation says so
    georeferencing: str = GEOTRANSFORM  # or CONTROL_POINTS (GCPs/RPCs only) or NOT_GEOREFERENCED (a dataset patch)
    driver: str = ""  # GDAL's short name (GTiff, VRT, HDF5Image, ...)

    @property
    def band_names(self) -> tuple[str | None, ...]:
        """Each band's name as `lmhld stack` names it: its description, else its colour (an RGB GeoTIFF's bands are
        red, green, blue), else, for the one data band of a file named as elevation (`site_dsm.tif`), that name
        (dsm: relative-band detection finds it); else None (unnamed: export calls it bandN)."""
        from .bands import elevation_in

        colours = self.colours or (None,) * len(self.descriptions)
        names = [d or c for d, c in zip(self.descriptions, colours, strict=True)]
        data = [i for i in range(len(names)) if i + 1 not in self.alpha_bands]
        if len(data) == 1 and names[data[0]] is None:
            names[data[0]] = elevation_in(Path(self.path).stem.lower())
        return tuple(names)

    @property
    def is_rotated(self) -> bool:
        return self.transform[1] != 0 or self.transform[3] != 0


def read_raster_info(path: str | Path) -> RasterInfo:
    """Open a raster and read its facts, or say clearly why it cannot be read."""
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    from .styles import COLOURS

    try:
        # a raster without a geotransform (a dataset patch) is said so by require_georeferenced, in words and
        # with the fix, where it matters: rasterio's warning would reach QGIS's log with a traceback
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(path)
        with ds:
            t = ds.transform
            if ds.driver == "GTiff":
                _refuse_truncated_tiff(str(path), ds.width, ds.height, ds.count)
            if ds.driver == "VRT":
                _refuse_missing_sources(Path(path))
            return RasterInfo(
                path=str(path), width=ds.width, height=ds.height, count=ds.count, dtype=ds.dtypes[0],
                crs_wkt=ds.crs.to_wkt() if ds.crs else None, transform=(t.a, t.b, t.c, t.d, t.e, t.f),
                nodata=ds.nodata, descriptions=tuple(ds.descriptions),
                alpha_bands=tuple(b for b, c in enumerate(ds.colorinterp, start=1) if c == ColorInterp.alpha),
                colours=tuple(c.name if c.name in COLOURS else None for c in ds.colorinterp),
                georeferencing=(GEOTRANSFORM if not t.is_identity else
                                CONTROL_POINTS if ds.gcps[0] or ds.rpcs else NOT_GEOREFERENCED),
                driver=ds.driver,
            )
    except RasterioIOError as exc:
        if Path(path).is_dir():  # GDAL reads some folders (an ESRI grid): said only when this one is not such
            raise LmhldError(f"raster {path} is a folder GDAL cannot read as a raster; give the raster file (a "
                             "GeoTIFF, VRT, ...)") from exc
        what = damage(str(exc))
        raise LmhldError(f"cannot read raster {path}: {f'{what} ({exc})' if what else exc}; give a file GDAL can "
                         "open (GeoTIFF, VRT, ...)") from exc


def is_raster_file(path: str | Path) -> bool:
    """Whether `path` is a file GDAL opens as a raster (quietly: a vector file, or none, is simply not one)."""
    if not Path(path).is_file():
        return False
    from osgeo import gdal

    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        return gdal.OpenEx(str(path), gdal.OF_RASTER) is not None
    except RuntimeError:
        return False
    finally:
        gdal.PopErrorHandler()


def _refuse_missing_sources(vrt: Path) -> None:
    """Refuse a VRT whose source files are gone: GDAL opens it and lists no missing source, so detection went on
    to read its bands' names and said "band mismatch" (and would have read the missing pixels as nodata)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(vrt).getroot()
    except (OSError, ET.ParseError):  # not a file (a /vsi path) or not XML: GDAL has read it, let it say more
        return
    missing = []
    for source in root.iter("SourceFilename"):
        name = (source.text or "").strip()
        if not name or name.startswith("/vsi") or "://" in name or re.match(r"[A-Z][A-Z0-9_]+:", name):
            continue  # virtual file systems, URLs, driver prefixes (NETCDF:"f.nc":var): not checked here
        file = vrt.parent / name if source.get("relativeToVRT") == "1" else Path(name)
        if not file.exists() and str(file) not in missing:
            missing.append(str(file))
    if missing:
        listed = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise LmhldError(f"raster {vrt} is a VRT whose source file(s) {listed} do not exist: put them back, or "
                         "build the VRT again (gdalbuildvrt) from the files where they are now")


def _refuse_truncated_tiff(path: str, width: int, height: int, count: int) -> None:
    """Refuse a GeoTIFF whose last block lies past the file's end (a copy or download that did not finish). The
    header alone reads fine, so without this a stage that needs only the grid (analyse) would report on it, and a
    file cut within its tags would be taken for one without georeferencing."""
    extent = _tiff_extent(path, width, height, count)
    if extent and extent[1] is not None and extent[1] > extent[0]:
        raise LmhldError(f"cannot read raster {path}: it is truncated ({extent[0]} bytes, but its pixels run to byte "
                         f"{extent[1]}): a copy or a download that did not finish? Copy it again, or give a file "
                         "GDAL can open whole")


def _tiff_extent(path: str, width: int, height: int, count: int) -> tuple[int, int | None] | None:
    """(the file's size, the byte where its last block ends, None where that block was never written: sparse, or
    a write that failed) of a local GeoTIFF; None when that cannot be told."""
    from osgeo import gdal

    try:
        size = os.path.getsize(path)
    except OSError:  # not a local file (/vsicurl/, ...): its reads say so
        return None
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        ds = gdal.OpenEx(path, gdal.OF_RASTER | gdal.OF_READONLY)
        block_x, block_y = ds.GetRasterBand(1).GetBlockSize()
        last = f"{math.ceil(width / block_x) - 1}_{math.ceil(height / block_y) - 1}"
        ends: list[int | None] = []
        for band in {1, count}:  # pixel-interleaved files share one block list; band-interleaved end with the last
            b = ds.GetRasterBand(band)
            offset, nbytes = (b.GetMetadataItem(f"BLOCK_{what}_{last}", "TIFF") for what in ("OFFSET", "SIZE"))
            if offset is not None:
                ends.append(int(offset) + int(nbytes or 0) if int(offset) else None)  # 0: never written
    except (RuntimeError, AttributeError, ValueError):  # GDAL refused what rasterio opened: its reads say why
        return None
    finally:
        ds = None
        gdal.PopErrorHandler()
    if not ends:
        return None
    return size, None if None in ends else max(e for e in ends if e is not None)


@contextlib.contextmanager
def written_geotiff(path: str | Path, **profile: Any) -> Iterator[Any]:
    """rasterio.open(path, "w", **profile), checked once closed: rasterio reports neither a full disk nor a file-size
    limit met while its dataset is flushed and closed, so a cut file would be moved into place and the run exit 0.
    Such a file fails here, as the OSError it stands for."""
    import rasterio

    with rasterio.open(path, "w", **profile) as dst:
        yield dst
    _require_written_whole(path, profile["width"], profile["height"], profile.get("count", 1))


def _require_written_whole(path: str | Path, width: int, height: int, count: int) -> None:
    import errno

    extent = _tiff_extent(str(path), width, height, count)
    if not extent or (extent[1] is not None and extent[1] <= extent[0]):
        return
    from .atomic import short_write_errno

    cause = short_write_errno(Path(path), Path(path).parent)
    if cause == errno.EFBIG:
        raise OSError(errno.EFBIG, f"writing {path} failed (File too large: it stops at {extent[0]} bytes, the "
                                   "process's file-size limit)")
    if cause == errno.ENOSPC:
        raise OSError(errno.ENOSPC, f"writing {path} failed: it stops at {extent[0]} bytes, and the disk is full")
    raise OSError(errno.EIO, f"writing {path} failed: it stops at {extent[0]} bytes but its pixels run "
                             f"{f'to byte {extent[1]}' if extent[1] else 'further'} (a full disk or a quota?)")


def assign_crs_fix(path: str | Path) -> str:
    """How to give a raster file a CRS: in the file itself, since lmhld reads the file, not a QGIS layer."""
    return ("assign one to the file itself (QGIS: Raster > Projections > Assign Projection; or gdal_edit.py -a_srs "
            f"EPSG:XXXX {shlex.quote(str(path))})")


def require_georeferenced(info: RasterInfo) -> None:
    """Refuse a raster whose pixels have no place on the ground (no geotransform, or no CRS), naming the fix to make
    in the file itself: lmhld reads the file, so a CRS set only on a QGIS layer is not seen."""
    if info.georeferencing == CONTROL_POINTS:
        raise LmhldError(f"raster {info.path} is georeferenced by control points (GCPs or RPCs) only, not on a "
                         f"grid; warp it onto one first (QGIS: Raster > Projections > Warp; or gdalwarp -t_srs "
                         f"EPSG:XXXX {shlex.quote(info.path)} warped.tif) and retry")
    if info.georeferencing == NOT_GEOREFERENCED and info.driver.startswith("HDF5"):
        raise LmhldError(f"raster {info.path} is an HDF5 file with no place on the ground: a dataset patch (such as "
                         "Landslide4Sense's), not a scene; train and evaluate read such patches from their folder "
                         "(--data FOLDER), while analyse, export and detect need a georeferenced scene (a GeoTIFF)")
    if info.georeferencing == NOT_GEOREFERENCED:
        crs = "" if info.crs_wkt else " and no CRS"
        raise LmhldError(f"raster {info.path} is not georeferenced: it has no geotransform{crs}, so its pixels have "
                         "no place on the ground (dataset patches such as CAS's often have none); georeference the "
                         "file itself (QGIS: Raster > Georeferencer; or gdal_translate -a_srs EPSG:XXXX -a_ullr ULX "
                         f"ULY LRX LRY {shlex.quote(info.path)} georeferenced.tif) and retry")
    if info.crs_wkt is None:
        raise LmhldError(f"raster {info.path} has no CRS; {assign_crs_fix(info.path)} and retry: lmhld reads the "
                         "file, so a CRS set only on the QGIS layer is not seen")


def raster_srs(info: RasterInfo) -> osr.SpatialReference:
    """The raster's CRS (x = easting/longitude order), or the reason it has none usable and the fix."""
    from .vector import srs_from_wkt

    require_georeferenced(info)
    return srs_from_wkt(info.crs_wkt, f"raster {Path(info.path).name}", fix=assign_crs_fix(info.path))


def require_north_up(info: RasterInfo) -> None:
    """Refuse a raster without georeferencing or on a rotated/sheared grid: windows, masks and polygons are computed
    on a north-up grid (export and detection both rely on it)."""
    require_georeferenced(info)
    if info.is_rotated:
        raise LmhldError(f"raster {info.path} has a rotated or sheared geotransform; warp it to a north-up grid "
                         "first (gdalwarp in.tif out.tif)")


RESOLUTION_TOLERANCE = 0.10  # a scene whose pixel differs from a model's by more is resampled to the model's
FINER = 0.75  # a raster whose pixel is below this share of the target grid's is averaged onto it, not interpolated


def same_resolution(pixel: float, other: float) -> bool:
    """Two pixel sizes that agree within RESOLUTION_TOLERANCE (detection runs a scene so close to its model's
    resolution as it is; export takes rasters so close as one resolution)."""
    return abs(pixel / other - 1) <= RESOLUTION_TOLERANCE


def finer_or_coarser(pixel: float, model_pixel: float) -> str:
    """A pixel size against another as a reader says it: "2x finer", "3x coarser"."""
    return f"{model_pixel / pixel:.3g}x finer" if pixel < model_pixel else f"{pixel / model_pixel:.3g}x coarser"


def resampling_onto(pixel: float, grid_pixel: float) -> str:
    """How a raster with `pixel` goes onto a grid of `grid_pixel` (same units): "average" when it is finer (every
    source pixel counts, no aliasing of texture and sensor noise), else "bilinear"; GDAL's and rasterio's name."""
    return "average" if pixel < FINER * grid_pixel else "bilinear"


def raster_footprint(info: RasterInfo) -> ogr.Geometry:
    """The raster's extent as a polygon in its CRS (its four corners through the geotransform)."""
    from osgeo import ogr

    a, b, c, d, e, f = info.transform
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for col, row in ((0, 0), (info.width, 0), (info.width, info.height), (0, info.height), (0, 0)):
        ring.AddPoint_2D(a * col + b * row + c, d * col + e * row + f)
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    return poly


def ground_pixel_aspect(info: RasterInfo) -> tuple[float, float] | None:
    """A geographic raster's centre pixel on the ground (width, height in m, on a sphere: for a warning); None for
    a projected one, whose pixels are as the grid draws them."""
    srs = raster_srs(info)
    if srs.IsProjected():
        return None
    a, _, _, _, e, f = info.transform
    latitude = math.radians(f + e * info.height / 2)
    metres_per_degree = math.pi / 180 * 6_371_008.8
    return abs(a) * metres_per_degree * math.cos(latitude), abs(e) * metres_per_degree


def stretched_pixels_note(info: RasterInfo, what: str) -> str | None:
    """A warning for a geographic raster whose pixels are square in degrees but not on the ground: every shape
    reaches the network stretched (`what`: 'detect', 'train'); None otherwise."""
    ground = ground_pixel_aspect(info)
    if ground is None or same_resolution(*ground):
        return None
    return (f"the raster {Path(info.path).name}'s CRS is geographic and its pixels are {ground[0]:.3g} x "
            f"{ground[1]:.3g} m on the ground, so every shape reaches the network stretched; warp it to a metric "
            f"CRS (gdalwarp -t_srs with the area's UTM zone) to {what} on square pixels")


def pixel_area_m2(info: RasterInfo) -> float:
    """True ground area of one pixel in m2: linear unit squared (projected CRS) or ellipsoidal (geographic)."""
    from osgeo import ogr

    from .vector import true_areas_m2

    srs = raster_srs(info)
    a, b, c, d, e, f = info.transform
    det = abs(a * e - b * d)
    if det == 0:
        raise LmhldError(f"raster {info.path} has a degenerate geotransform (zero pixel area)")
    if srs.IsProjected():
        return float(det * srs.GetLinearUnits() ** 2)
    # Geographic: the area of the centre pixel on the ellipsoid.
    col, row = info.width / 2, info.height / 2
    corners = [(col, row), (col + 1, row), (col + 1, row + 1), (col, row + 1), (col, row)]
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for cc, rr in corners:
        ring.AddPoint_2D(a * cc + b * rr + c, d * cc + e * rr + f)
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    return float(true_areas_m2([poly], srs)[0])


# Values that photogrammetry and GIS software write where a surface model has no data: kept as elevation once the
# nodata tag is lost (a copy, a format change). The last: the lowest float32, -3.4e38 (any value below -1e38 counts).
FILL_VALUES = (-32767.0, -32768.0, -9999.0, -10000.0)
FILL_TYPES = ("Float32", "Float64", "Int16", "Int32")  # a surface model's types (SRTM-like DEMs are Int16)
EXACT_BELOW = 1 << 24  # pixels: a band this small is scanned whole; a larger one through overviews or sampled blocks


def undeclared_fill(path: str | Path, bands: Sequence[int], names: Sequence[str | None] = ()) -> list[str]:
    """A sentence per floating-point or signed integer band of `bands` (1-based) whose lowest value is a typical
    fill value (-32767, -32768, -9999, -10000, -3.4e38) that its declared nodata does not cover (none declared, or
    NaN as `lmhld stack` declares): a surface model whose nodata tag was lost, its holes and collar read as real
    elevation. Each names the band, the value and the fix. Cheap: GDAL's minimum, exact up to EXACT_BELOW pixels,
    else from overviews or a sample of blocks (it may then miss small holes, never a collar). `names`: the bands'
    names, by position."""
    from osgeo import gdal

    found = []
    ds = gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY)
    try:
        approx = ds.RasterXSize * ds.RasterYSize > EXACT_BELOW
        for k, b in enumerate(bands):
            band = ds.GetRasterBand(b)
            if gdal.GetDataTypeName(band.DataType) not in FILL_TYPES:
                continue
            if band.GetMaskFlags() & (gdal.GMF_ALPHA | gdal.GMF_PER_DATASET):  # masked: what lies under is no data
                continue
            low = _minimum(band, approx)
            if low is None or not (low in FILL_VALUES or low < -1e38):
                continue
            value = f"{low:.0f}" if low in FILL_VALUES else repr(low)
            name = names[k] if k < len(names) and names[k] else None
            declared = band.GetNoDataValue()
            if declared is not None and math.isnan(declared):  # a stack's NaN: the fill came from a source raster
                fix = (f"declare it on the raster this band was stacked from (gdal_edit.py -a_nodata {value} "
                       "SOURCE.tif) and stack again (lmhld stack; in QGIS: Stack imagery and elevation): resampling "
                       "blended the fill into its neighbours")
            else:
                fix = f"declare it (gdal_edit.py -a_nodata {value} {shlex.quote(str(path))})"
            found.append(f"band {b}{f' ({name})' if name else ''} of {Path(path).name} holds {value} as its lowest "
                         "value, a typical fill value that is not declared as nodata: its holes and edges are read as "
                         f"real values; {fix}")
    finally:
        ds = None
    return found


def black_collar(path: str | Path, bands: Sequence[int]) -> list[str]:
    """A sentence when an unsigned integer image of three bands or more (an orthophoto) declares no nodata and no
    mask, yet at least two of its corners are 0 in every band: a black collar, as many UAV exports write it, read
    as black ground (patches trained on it, detections run on it). Reads four pixels."""
    from osgeo import gdal

    if len(bands) < 3:
        return []
    ds = gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY)
    try:
        chosen = [ds.GetRasterBand(b) for b in bands]
        if any(gdal.GetDataTypeName(b.DataType) not in ("Byte", "UInt16") or b.GetNoDataValue() is not None
               or b.GetMaskFlags() != gdal.GMF_ALL_VALID for b in chosen):
            return []
        w, h = ds.RasterXSize, ds.RasterYSize
        black = sum(all(int(b.ReadAsArray(x, y, 1, 1)[0, 0]) == 0 for b in chosen)
                    for x, y in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)))
    finally:
        ds = None
    if black < 2:
        return []
    return [f"{black} corners of {Path(path).name} are black (0 in every band) and it declares no nodata: a black "
            "collar around the imagery is read as black ground; declare it (gdal_edit.py -a_nodata 0 "
            f"{shlex.quote(str(path))}) unless the corners are really black"]


def _minimum(band: Any, approx: bool) -> float | None:
    """A band's lowest value (declared nodata and NaN left out), or None when it holds none."""
    try:
        low = band.ComputeRasterMinMax(approx, can_return_none=True)
    except RuntimeError:  # every sampled pixel is nodata
        return None
    return None if low is None else float(low[0])


def unmasked_alpha(src: Any) -> list[int]:
    """The 1-based alpha bands of an open dataset that GDAL does not apply as the other bands' mask, so lmhld must
    read them: GDAL takes only a Byte or UInt16 alpha band as the mask, and a Float32 one (gdalwarp -dstalpha on a
    float scene) left the collar valid, to be detected on."""
    from rasterio.enums import ColorInterp, MaskFlags

    alphas = [b for b, c in enumerate(src.colorinterp, start=1) if c == ColorInterp.alpha]
    others = [b for b in range(1, src.count + 1) if b not in alphas]
    if not alphas or all(MaskFlags.alpha in src.mask_flag_enums[b - 1] for b in others):
        return []
    return alphas


def alpha_valid(src: Any, alphas: Sequence[int], window: Any) -> Any:
    """Pixels of `window` (a rasterio window) where every alpha band in `alphas` is above 0."""
    return (src.read(list(alphas), window=window) > 0).all(axis=0)


def untagged_alpha(path: str | Path, info: RasterInfo) -> int | None:
    """The band after three colour bands (red, green, blue) that is probably an alpha band GDAL was not told of
    (EXTRASAMPLES unspecified, as some photogrammetry exports write it): byte, colour interpretation undefined, no
    description, values only 0 and 255 (some 255); None when there is none. Cheap: GDAL's histogram, exact up to
    EXACT_BELOW pixels, else from overviews or a sample of blocks."""
    from osgeo import gdal

    if info.count < 4 or tuple(info.colours[:3]) != ("red", "green", "blue") or 4 in info.alpha_bands \
            or info.descriptions[3]:
        return None
    ds = gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_READONLY)
    try:
        band = ds.GetRasterBand(4)
        if band.DataType != gdal.GDT_Byte or band.GetColorInterpretation() != gdal.GCI_Undefined:
            return None
        approx = ds.RasterXSize * ds.RasterYSize > EXACT_BELOW
        counts = band.GetHistogram(-0.5, 255.5, 256, False, approx)
    finally:
        ds = None
    return 4 if counts[255] > 0 and not any(counts[1:255]) else None

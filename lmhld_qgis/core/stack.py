"""Stack rasters onto one grid: the orthophoto and the surface model of one UAV flight (or an image and a DEM) become
one multi-band GeoTIFF that export, training and detection read as any scene.

A UAV survey delivers them apart: an RGB(A) orthophoto of a few centimetres and a float DSM of a coarser pixel,
each with its own nodata or alpha. GDAL's `gdalbuildvrt -separate` takes only the first band of each file before
GDAL 3.8, and an alpha band left in a stack would be read as a fourth colour. Here:

- the grid is the first raster's, or its extent at `pixel_size`; every other raster is warped onto it (another
  CRS too), bilinear where its pixels are as large or larger, averaged where they are finer;
- every band is kept except alpha bands, which become the mask of their own raster's bands (an orthophoto's 4th
  band holding only 0 and 255 after red, green, blue is one, tagged or not: said in a warning);
- a pixel that one raster lacks (nodata, alpha, outside its footprint) is NaN in that raster's bands only;
- bands are named from their description or colour (red, green, blue, ...); a single-band raster by its file
  name, and as elevation when the name says so (`site3_dsm.tif`, `surface_model.tif`, `DOM20cm.tif` -> "dsm"), so
  training makes it relative (a float band named by a file not recognised so, `export_2.tif`, gets a warning);
- a float or signed integer band whose lowest value is a fill value not declared as nodata (-32767, -9999)
  gets a warning;
- the output is float32 (integers up to 2^24 kept exactly), tiled and compressed, written aside and moved into
  place; memory stays bounded by one block of `block` x `block` pixels.

One raster is a stack too: an RGBA orthophoto without a surface model becomes a scene of named red, green, blue
bands whose collar is nodata, read by every stage like any other.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_file, scratch_dir, transactional
from .bands import band_key, elevation_in, unique_names
from .errors import LmhldError
from .outputs import check_outputs
from .preflight import as_path_list, require_distinct
from .progress import Progress, check_cancelled, reader_progress
from .raster import (
    RasterInfo,
    alpha_valid,
    black_collar,
    read_raster_info,
    require_north_up,
    resampling_onto,
    undeclared_fill,
    untagged_alpha,
    written_geotiff,
)
from .styles import COLOURS


@dataclass(frozen=True)
class StackedBand:
    name: str
    source: Path
    band: int  # 1-based, in the source raster
    how: str = ""  # how it was put on the grid ("" when its raster is the grid)


@dataclass
class StackResult:
    path: Path
    bands: list[StackedBand]
    width: int
    height: int
    pixel_size: float  # in the grid's CRS units
    seconds: float = 0.0
    masks: list[tuple[Path, int]] = field(default_factory=list)  # (source, 1-based band): alpha bands used as masks
    warnings: list[str] = field(default_factory=list)  # also given to progress.warn

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.bands]

    @property
    def resampled(self) -> dict[str, str]:
        """Source file name -> how it was put on the grid, for those that were warped."""
        return {b.source.name: b.how for b in self.bands if b.how}


@dataclass(frozen=True)
class _Grid:
    crs: Any
    transform: Any
    width: int
    height: int


@transactional
def stack_rasters(sources: Sequence[str | Path] | str | Path, out: str | Path, *, names: Sequence[str] | None = None,
                  pixel_size: float | None = None, block: int = 1024,
                  progress: Progress | None = None) -> StackResult:
    """Write the bands of `sources` (alpha bands aside) onto one grid as `out` (GeoTIFF); see the module's text."""
    import rasterio
    progress = reader_progress(progress)
    t0 = time.perf_counter()
    paths = [Path(s) for s in as_path_list(sources)]
    if not paths:
        raise LmhldError("give at least one raster (e.g. the orthophoto, then the surface model)")
    if Path(out).suffix.lower() not in (".tif", ".tiff"):
        raise LmhldError(f"the stack is written as a GeoTIFF: give a .tif name, got {Path(out).name}")
    if pixel_size is not None and not (math.isfinite(pixel_size) and pixel_size > 0):
        raise LmhldError(f"pixel size must be a positive number of the first raster's CRS units, got {pixel_size}")
    check_outputs(inputs={"raster": paths}, files={"stack": out}, styled={"stack"})  # never an input overwritten
    require_distinct(paths, "raster")  # its bands twice, as red_2 ...: a slip, not a stack
    infos = [read_raster_info(p) for p in paths]
    for info in infos:
        require_north_up(info)
    notes: list[str] = []
    with rasterio.open(paths[0]) as first:
        if first.crs is not None and first.crs.is_geographic:
            if pixel_size is not None:  # 0.5 became half a degree: a grid of 1 x 1 px, written without a word
                raise LmhldError(f"{paths[0].name} is in a geographic CRS ({_crs_name(first.crs)}), so --pixel-size "
                                 f"{pixel_size:g} would be in degrees; warp it to a metric CRS first (gdalwarp -t_srs "
                                 "with the area's UTM zone) and stack the warped raster")
            notes.append(f"the grid is {paths[0].name}'s, in a geographic CRS ({_crs_name(first.crs)}): its pixels "
                         "are square in degrees, not on the ground; warp the rasters to a metric CRS (gdalwarp "
                         "-t_srs with the area's UTM zone) before stacking")
        grid = _grid(first, pixel_size)
    bands: list[StackedBand] = []
    masks: list[tuple[Path, int]] = []
    unnamed: set[int] = set()  # positions of single float bands named by a file name not recognised as elevation
    with contextlib.ExitStack() as stack:
        readers = []
        for p, info in zip(paths, infos, strict=True):
            read_from, info = _with_untagged_alpha(p, info, stack, notes)
            src = stack.enter_context(rasterio.open(read_from))
            data = [b for b in range(1, info.count + 1) if b not in info.alpha_bands]
            if not data:
                raise LmhldError(f"{p.name} holds only an alpha band; give the raster its data bands belong to")
            reader, how, alpha = _on_grid(src, grid, stack, info.alpha_bands)
            share = _check_overlap(src, grid, p)
            if share < 0.5:  # windows there are dropped at export: a footprint, not holes to fill
                notes.append(f"{p.name} covers {share:.0%} of the grid ({paths[0].name}'s extent): outside it its "
                             "bands are nodata and export keeps no window there (nothing gdal_fillnodata.py should "
                             "fill); give a raster of the whole area to use the rest")
            readers.append((reader, data, alpha))
            found = _source_names(info, data, p)
            notes += undeclared_fill(p, data, found) + black_collar(p, data)
            notes += _placement_notes(src, grid, p, paths[0], how, data, found, pixel_size)
            if _named_by_file_only(info, data, p):
                unnamed.add(len(bands))
            bands += [StackedBand(n, p, b, how) for n, b in zip(found, data, strict=True)]
            masks += [(p, b) for b in info.alpha_bands]
        final_names = _final_names([b.name for b in bands], names)
        bands = [StackedBand(n, b.source, b.band, b.how) for n, b in zip(final_names, bands, strict=True)]
        if not names:
            notes += [_unrecognised(i, bands) for i in sorted(unnamed)]
        for note in notes:
            progress.warn(note)
        _write(out, grid, readers, final_names, block, progress)
    res = abs(grid.transform.a)
    return StackResult(Path(out), bands, grid.width, grid.height, res, time.perf_counter() - t0, masks, notes)


FEET = {"ft", "foot", "feet", "us-ft", "ftus", "us survey foot", "us_survey_foot", "international foot"}


def _placement_notes(src: Any, grid: _Grid, path: Path, first: Path, how: str, data: list[int], names: list[str],
                     pixel_size: float | None) -> list[str]:
    """What a user would not see in the stack: imagery averaged onto a coarser first raster's grid (the DSM given
    first), a band declared in feet (detection's relief limits are learnt in metres)."""
    notes = []
    if how.startswith("averaged") and pixel_size is None and len(data) >= 3:
        pixel = _pixel_in_grid_units(src, grid)
        notes.append(f"{path.name}'s {pixel:.3g} pixels are finer than the grid's {abs(grid.transform.a):.3g} (those "
                     f"of {first.name}, the first raster) and were averaged onto it: to keep their detail give "
                     f"{path.name} first, or --pixel-size {pixel:.3g}")
    for b, name in zip(data, names, strict=True):
        unit = (src.units[b - 1] or "").strip()
        if unit.lower() in FEET:
            notes.append(f"band {b} ({name}) of {path.name} declares its values in {unit!r}: detection's relief "
                         "limits are in metres; convert it to metres first (gdal_calc.py -A "
                         f"{path.name} --calc='A*0.3048' --outfile {path.stem}_m.tif)")
    return notes


def _with_untagged_alpha(path: Path, info: RasterInfo, stack: contextlib.ExitStack,
                         notes: list[str]) -> tuple[Path, RasterInfo]:
    """The file to read and its facts: for an orthophoto whose 4th band is an alpha band not tagged as one
    (raster.untagged_alpha), a VRT of it with that band tagged, so that it masks the colours as a tagged one
    does (its collar nodata, not white imagery), and a note saying so."""
    band = untagged_alpha(path, info)
    if band is None:
        return path, info
    from osgeo import gdal

    vrt = stack.enter_context(scratch_dir("stack")) / f"{path.stem}.vrt"
    ds = gdal.Translate(str(vrt), str(path.resolve()), format="VRT")
    ds.GetRasterBand(band).SetColorInterpretation(gdal.GCI_AlphaBand)
    ds = None  # written
    notes.append(f"band {band} of {path.name} holds only 0 and 255 after its red, green and blue bands but is not "
                 "tagged as alpha: read as an alpha band (transparency: 0 is nodata in the colour bands), not as "
                 f"data. If it is data, tag it so (gdal_edit.py -colorinterp_{band} gray {path.name}) and stack again; "
                 f"tag it as alpha (gdal_edit.py -colorinterp_{band} alpha {path.name}) to silence this warning")
    return vrt, read_raster_info(vrt)


def _named_by_file_only(info: RasterInfo, data: list[int], path: Path) -> bool:
    """A single floating-point band (a surface model, most likely) named by a file name not recognised as
    elevation (`export_2.tif`): if it is one, training would take its altitude as it is, not its relief."""
    return (len(data) == 1 and not info.descriptions[data[0] - 1] and not info.colours[data[0] - 1]
            and np.issubdtype(np.dtype(info.dtype), np.floating) and elevation_in(path.stem.lower()) is None)


def _unrecognised(i: int, bands: list[StackedBand]) -> str:
    """The note for band `i` (0-based) named by its file: what it is named, and the names that say elevation."""
    names = [b.name for b in bands]
    names[i] = "dsm"
    return (f"band {i + 1} is named {bands[i].name} after its file ({bands[i].source.name}), not recognised as "
            "elevation: if it is a surface model, name it as one (--names "
            f"{','.join(unique_names(names))}; in QGIS: Band names) so that training uses its relief, not its altitude")


def _grid(first: Any, pixel_size: float | None) -> _Grid:
    from rasterio.transform import from_origin

    if pixel_size is None:
        return _Grid(first.crs, first.transform, first.width, first.height)
    left, bottom, right, top = first.bounds
    width, height = max(1, round((right - left) / pixel_size)), max(1, round((top - bottom) / pixel_size))
    if width * height > 4e10:
        raise LmhldError(f"pixel size {pixel_size} makes a grid of {width} x {height} pixels; give a larger one")
    return _Grid(first.crs, from_origin(left, top, pixel_size, pixel_size), width, height)


def _on_grid(src: Any, grid: _Grid, stack: Any, alpha_bands: Sequence[int] = ()) -> tuple[Any, str, int | None]:
    """The raster as read on the grid: itself when it is the grid, else a warped view; how it was warped; and the
    view's band that says where it has pixels (None: its masks say it). A warped view's masks do not: an RGBA
    orthophoto's transparent edge, and any raster's outside of its footprint, came out as 0, read as imagery. The
    warp weights by the source's alpha (colours from visible pixels only) and gives the warped alpha; a raster
    without nodata gets an alpha band of its footprint."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    if src.crs == grid.crs and src.transform == grid.transform and (src.width, src.height) == (grid.width,
                                                                                                grid.height):
        return src, "", None
    method = Resampling[resampling_onto(_pixel_in_grid_units(src, grid), abs(grid.transform.a))]
    finer = method == Resampling.average
    extra: dict[str, Any] = {}
    if alpha_bands:
        extra, alpha = {"src_alpha": alpha_bands[0]}, alpha_bands[0]
    elif all(v is None for v in src.nodatavals):
        extra, alpha = {"add_alpha": True}, src.count + 1
    else:
        alpha = None
    vrt = stack.enter_context(WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.width,
                                        height=grid.height, resampling=method, dtype="float32", **extra))
    how = ("averaged onto" if finer else "interpolated (bilinear) onto") + " the grid"
    return vrt, how + ("" if src.crs == grid.crs else f", from {_crs_name(src.crs)}"), alpha


def _pixel_in_grid_units(src: Any, grid: _Grid) -> float:
    """The source's pixel size measured in the grid's CRS (its middle pixel transformed)."""
    from rasterio.warp import transform as warp_points

    if src.crs == grid.crs:
        return float(abs(src.transform.a))
    col, row = src.width / 2, src.height / 2
    xs, ys = [], []
    for c, r in ((col, row), (col + 1, row)):
        x, y = src.transform * (c, r)
        xs.append(x)
        ys.append(y)
    gx, gy = warp_points(src.crs, grid.crs, xs, ys)
    return float(math.hypot(gx[1] - gx[0], gy[1] - gy[0]))


def _check_overlap(src: Any, grid: _Grid, path: Path) -> float:
    """Refuse a raster that lies wholly off the grid (another place, or a wrong CRS): its bounds, in the grid's CRS,
    must meet the grid's. The share of the grid's extent its bounds cover."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    left, bottom, right, top = transform_bounds(src.crs, grid.crs, *src.bounds)
    g_left, g_bottom, g_right, g_top = array_bounds(grid.height, grid.width, grid.transform)
    if right <= g_left or left >= g_right or top <= g_bottom or bottom >= g_top:
        raise LmhldError(f"{path.name} does not overlap the first raster; stack rasters of the same place (and "
                         "check that each has the right CRS)")
    common = (min(right, g_right) - max(left, g_left)) * (min(top, g_top) - max(bottom, g_bottom))
    return float(common / ((g_right - g_left) * (g_top - g_bottom)))


def _source_names(info: RasterInfo, data: list[int], path: Path) -> list[str]:
    """Each data band's name: its description, else its colour (RasterInfo.colours, as every step names it), else
    (one band) the file's name."""
    stem = path.stem.lower()
    elevation = elevation_in(stem)
    names = []
    for b in data:
        description = band_key(info.descriptions[b - 1])
        colour = info.colours[b - 1]
        if description:
            names.append(description)
        elif colour:
            names.append(colour)
        elif len(data) == 1:
            names.append(elevation or stem)
        else:
            names.append(f"{stem}_{b}")
    return names


def _final_names(found: list[str], given: Sequence[str] | None) -> list[str]:
    """The names given (one per band), else those found, made unique."""
    if given:
        if len(given) != len(found):
            raise LmhldError(f"{len(given)} band name(s) given for {len(found)} band(s) ({', '.join(found)}); give "
                             "one name per band, in order")
        found = [band_key(n) for n in given]
        empty = [str(i) for i, n in enumerate(found, start=1) if not n]
        if empty:  # written without a description, read by export as "band2" without a word
            raise LmhldError(f"band name(s) {', '.join(empty)} of the names given are empty; give every band a name")
        twice = sorted({n for n in found if found.count(n) > 1})
        if twice:  # renamed a, a_2, a_3 without a word: a model would look for the names given
            raise LmhldError(f"band name(s) {', '.join(twice)} given more than once; give each band its own name")
    return unique_names(found)


def _write(out: str | Path, grid: _Grid, readers: list[tuple[Any, list[int], int | None]], names: list[str], block: int,
           progress: Progress) -> None:
    from rasterio.windows import Window as RioWindow

    from .styles import sample_step, tag_band_colours, write_true_colour_style

    profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": len(names),
               "dtype": "float32", "crs": grid.crs, "transform": grid.transform, "nodata": float("nan"),
               "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate", "predictor": 3,
               "BIGTIFF": "IF_SAFER", "NUM_THREADS": "ALL_CPUS"}  # compression on every core
    step = sample_step(grid.width, grid.height)
    block = max(step, block // step * step)  # blocks on the sampling lattice: one sample of the whole raster
    windows = [RioWindow(c, r, min(block, grid.width - c), min(block, grid.height - r))
               for r in range(0, grid.height, block) for c in range(0, grid.width, block)]
    colours = {c: names.index(c) for c in COLOURS if c in names}
    samples: dict[str, list[Any]] = {c: [] for c in colours}
    with atomic_file(out) as tmp:
        with written_geotiff(tmp, **profile) as dst:
            for i, name in enumerate(names, start=1):
                dst.set_band_description(i, name)
            for k, window in enumerate(windows):
                check_cancelled(progress)
                parts = []
                for reader, bands, alpha in readers:
                    values = reader.read(bands, window=window, out_dtype=np.float32)
                    if alpha is None:
                        values[reader.read_masks(bands, window=window) == 0] = np.nan  # per band: its own nodata
                    else:  # the warped alpha: none where the source had no visible pixel
                        values[:, ~alpha_valid(reader, [alpha], window)] = np.nan
                    parts.append(values)
                stacked = np.concatenate(parts)
                dst.write(stacked, window=window)
                for colour, i in colours.items():  # the colour stretch's sample, taken while the pixels are here
                    samples[colour].append(stacked[i, ::step, ::step].ravel())
                progress.set_fraction(0.98 * (k + 1) / len(windows))
        tag_band_colours(tmp)
    write_true_colour_style(out, {c: np.concatenate(v) for c, v in samples.items()} if len(colours) == 3 else None)
    progress.set_fraction(1.0)


def _crs_name(crs: Any) -> str:
    """A rasterio CRS as a short name (EPSG:32633, or 'WGS 84 / UTM zone 33N + EGM2008 height' for a compound CRS
    without a code) rather than its whole WKT."""
    from .extent import crs_code
    from .vector import srs_from_wkt

    return crs_code(srs_from_wkt(crs.to_wkt(), "the raster")) if crs else "its CRS"


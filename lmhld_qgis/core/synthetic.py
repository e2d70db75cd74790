"""Generated sample scenes: a 4-band (blue, green, red, nir) uint16 GeoTIFF with bare-soil "landslides" on a
vegetated background, and the polygon inventory that drew them. Honest about it: the raster's metadata and the
inventory's `source_name` say "synthetic". Used by the demo, the tests and the benchmarks.

Two presets. "easy" (the default, as it always was): landslides are the only bare ground, so a model that
learns "bright = landslide" scores near 1. "hard" adds what fools such a model on real imagery - bright bare
soil, rivers with sediment bars, roads and tracks, fields (some ploughed), cloud shadows - and landslides that
are partly revegetated. A `Domain` shifts what differs between real areas (illumination, sensor gain, haze,
vegetation vigour, terrain shading); `make_areas` generates several areas, each with its own domain, so a test
or a benchmark can hold out a whole area and measure the unseen-area gap. The look-alikes are written beside
the scene (`<name>_distractors.gpkg`, a `kind` per polygon): known false positives, e.g. as export negatives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from osgeo import ogr, osr

from .errors import LmhldError
from .grid import Window
from .rasterize import InventoryBurner
from .vector import PolygonSet, srs_from_epsg

BANDS = ("blue", "green", "red", "nir")
VEGETATION = np.array([420.0, 760.0, 540.0, 3100.0])
BARE_SOIL = np.array([1250.0, 1350.0, 1550.0, 2050.0])
UNDERSTOREY = np.array([650.0, 800.0, 900.0, 1500.0])  # what shows through sparse vegetation
# Look-alikes (class -> spectra by burnt value 1, 2, ...): the first of each is close to a landslide scar.
SPECTRA: dict[str, list[npt.NDArray[np.float64]]] = {
    "field": [np.array([1180.0, 1280.0, 1480.0, 1950.0]),  # ploughed
              np.array([380.0, 820.0, 450.0, 3600.0]),  # green crop
              np.array([900.0, 1020.0, 1180.0, 2300.0])],  # stubble
    "road": [np.array([1150.0, 1200.0, 1260.0, 1400.0]),  # gravel road
             np.array([1200.0, 1300.0, 1480.0, 1950.0])],  # unpaved track
    "river": [np.array([1500.0, 1560.0, 1640.0, 1850.0]),  # sediment bar
              np.array([380.0, 420.0, 300.0, 160.0])],  # water
    "bare_soil": [np.array([1420.0, 1500.0, 1760.0, 2250.0])],
}
SHADOW = 0.5  # cloud shadows scale every band
DRAW_ORDER = ("field", "road", "river", "bare_soil")  # later classes cover earlier ones; landslides cover all
Geometries = list[ogr.Geometry]


@dataclass(frozen=True)
class Distractors:
    """How many look-alikes of each kind per 1024 x 1024 pixels (fields: clusters of 6-12 fields); a kind asked
    for appears at least once, whatever the scene's size."""

    bare_soil: float = 0.0
    rivers: float = 0.0
    roads: float = 0.0
    fields: float = 0.0
    cloud_shadows: float = 0.0

    @property
    def any(self) -> bool:
        return any(v > 0 for v in (self.bare_soil, self.rivers, self.roads, self.fields, self.cloud_shadows))


@dataclass(frozen=True)
class Domain:
    """What differs between generated areas, as between real scenes (sensor, date, region)."""

    illumination: float = 1.0  # overall brightness
    gain: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)  # per-band sensor gain
    haze: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # per-band additive offset
    vegetation: float = 1.0  # vigour: 1 dense canopy, lower shows the understorey, higher is lusher
    shading: float = 0.08  # terrain shading amplitude
    sun_phase: float = 0.0  # moves the shading pattern (another sun / terrain)
    freshness: tuple[float, float] = (1.0, 1.0)  # landslide scars: 1 bare, lower partly revegetated

    @classmethod
    def random(cls, seed: int, strength: float = 1.0) -> Domain:
        """A plausible other scene; `strength` 0 gives the default domain's look (but partly revegetated scars)."""
        rng = np.random.default_rng([seed, 11])
        gain = 1 + strength * rng.uniform(-0.12, 0.12, 4)
        haze = strength * rng.uniform(0, 120) * np.array([1.0, 0.7, 0.4, 0.1])
        return cls(illumination=float(1 + strength * rng.uniform(-0.2, 0.2)),
                   gain=(float(gain[0]), float(gain[1]), float(gain[2]), float(gain[3])),
                   haze=(float(haze[0]), float(haze[1]), float(haze[2]), float(haze[3])),
                   vegetation=float(1 + strength * rng.uniform(-0.35, 0.15)),
                   shading=float(0.08 + strength * rng.uniform(-0.03, 0.06)),
                   sun_phase=float(strength * rng.uniform(0, 2 * math.pi)), freshness=(0.55, 1.0))


PRESETS: dict[str, tuple[Distractors, Domain]] = {
    "easy": (Distractors(), Domain()),
    "hard": (Distractors(bare_soil=30, rivers=1.5, roads=5, fields=4, cloud_shadows=3),
             Domain(freshness=(0.55, 1.0))),
}


@dataclass
class SyntheticScene:
    raster: Path
    inventory: Path
    n_landslides: int
    distractors: Path | None = None  # the look-alikes (hard scenes): polygons with their `kind`
    domain: Domain = field(default_factory=Domain)


def landslide_polygons(n: int, width: int, height: int, origin: tuple[float, float], pixel: float,
                       rng: np.random.Generator, mean_radius_px: float = 12.0, margin_px: int = 0,
                       stretch: tuple[float, float] = (1.0, 2.2)) -> Geometries:
    """Irregular, elongated blobs (lognormal sizes, like real inventories) inside the scene."""
    polys = []
    angles = np.linspace(0, 2 * math.pi, 17)[:-1]
    for _ in range(n):
        r = float(np.clip(rng.lognormal(math.log(mean_radius_px), 0.5), 3, min(width, height) / 6))
        cx = rng.uniform(margin_px + r, width - margin_px - r)
        cy = rng.uniform(margin_px + r, height - margin_px - r)
        elongation, theta = rng.uniform(*stretch), rng.uniform(0, math.pi)
        radii = r * rng.uniform(0.75, 1.0, len(angles))
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for a, rr in zip(angles, radii, strict=True):
            x, y = rr * math.cos(a) * elongation, rr * math.sin(a) / elongation
            xr, yr = x * math.cos(theta) - y * math.sin(theta), x * math.sin(theta) + y * math.cos(theta)
            ring.AddPoint_2D(origin[0] + (cx + xr) * pixel, origin[1] - (cy + yr) * pixel)
        ring.CloseRings()
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        polys.append(poly)
    return polys


def write_inventory(path: Path, polygons: Geometries, srs: osr.SpatialReference,
                    kinds: list[str] | None = None, layer: str = "landslides") -> Path:
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer(layer, srs, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("source_name", ogr.OFTString))
    if kinds is not None:
        lyr.CreateField(ogr.FieldDefn("kind", ogr.OFTString))
    lyr.StartTransaction()
    for i, poly in enumerate(polygons):
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(poly)
        feat.SetField("source_name", "synthetic (generated by lmhld_qgis)")
        if kinds is not None:
            feat.SetField("kind", kinds[i])
        lyr.CreateFeature(feat)
    lyr.CommitTransaction()
    ds = None
    return path


@dataclass
class _Layout:
    """The scene's geometry: the grid, and each drawn class as polygons with the value each is burnt with."""

    width: int
    height: int
    pixel: float
    origin: tuple[float, float]
    srs: osr.SpatialReference
    classes: dict[str, tuple[Geometries, list[int]]] = field(default_factory=dict)

    def world(self, col: float, row: float) -> tuple[float, float]:
        return self.origin[0] + col * self.pixel, self.origin[1] - row * self.pixel

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        return (self.pixel, 0.0, self.origin[0], 0.0, -self.pixel, self.origin[1])

    def burner(self, name: str) -> InventoryBurner | None:
        polys, values = self.classes.get(name, ([], []))
        if not polys:
            return None
        polygon_set = PolygonSet(polys, np.arange(len(polys)), self.srs, len(polys))
        by_value = values if any(v != 1 for v in values) else None
        return InventoryBurner(polygon_set, self.srs, self.transform, by_value)


def make_scene(out_dir: str | Path, *, width: int = 1024, height: int = 1024, n_landslides: int = 120,
               pixel: float = 3.0, seed: int = 0, epsg: int = 32618,
               nodata_box: tuple[int, int, int, int] | None = None, noise: float = 180.0, name: str = "scene",
               block_rows: int = 256, preset: str = "easy", distractors: Distractors | None = None,
               domain: Domain | None = None, elevation: float | None = None, zoom: float = 1.0,
               canopy: float = 0.0) -> SyntheticScene:
    """Write `<name>.tif` and `<name>_inventory.gpkg` into `out_dir` (and `<name>_distractors.gpkg` when the scene
    has look-alikes); memory stays bounded by one block. `distractors` / `domain` override the preset's.
    `elevation` (metres) adds a fifth band, a surface model around that altitude: hills of about 60 m, landslide
    scars sunk by a few metres, rivers in their channel, the look-alikes flat (as a UAV DSM shows them).
    `zoom` > 1 draws the same kind of region with pixels `zoom` times finer (`pixel` is the fine one): every shape,
    the shading and the relief are `zoom` times larger in pixels and `zoom`^2 times fewer per pixel, while the
    sensor noise stays per pixel - large landslides of a few thousand pixels, a dozen per scene, as 0.5 m UAV
    imagery shows them.
    `canopy` (metres, with `elevation`) makes the surface model a photogrammetric DSM rather than bare earth: forest
    over about half the ground, crowns up to `canopy` m tall, cleared on every scar and look-alike (so a field or a
    road in the forest is as sunk as a scar), and 0.5 m of matching noise; the forest shows as crowns in the image."""
    if preset not in PRESETS:
        raise LmhldError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if not 1 <= zoom <= 16:
        raise LmhldError(f"zoom must lie between 1 and 16 (how many times finer the pixels are), got {zoom}")
    if canopy < 0 or (canopy and elevation is None):
        raise LmhldError(f"canopy is a tree height in metres (>= 0) on a surface model (give elevation), got {canopy}")
    looks, look = PRESETS[preset]
    looks, look = distractors or looks, domain or look
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # Shapes are drawn on the coarse "ground" grid and burnt on the fine one (the same grid when zoom is 1).
    ground = _Layout(max(1, round(width / zoom)), max(1, round(height / zoom)), pixel * zoom,
                     (500_000.0, 4_000_000.0), srs_from_epsg(epsg))
    layout = replace(ground, width=width, height=height, pixel=pixel, classes=ground.classes)
    polys = landslide_polygons(n_landslides, ground.width, ground.height, ground.origin, ground.pixel, rng)
    inventory = write_inventory(out / f"{name}_inventory.gpkg", polys, layout.srs)
    shape_rng = np.random.default_rng([seed, 7])  # the look-alikes: the landslides stay where "easy" puts them
    fresh = shape_rng.uniform(*look.freshness, len(polys))
    bare = look.freshness == (1.0, 1.0)  # bare scars burn as a plain mask
    layout.classes["landslide"] = (polys, [1 if bare else max(2, round(255 * f)) for f in fresh])
    _add_distractors(ground, looks, shape_rng)
    scene = SyntheticScene(out / f"{name}.tif", inventory, len(polys), domain=look)
    if looks.any:
        scene.distractors = _write_distractors(out / f"{name}_distractors.gpkg", layout)
    trees = _Forest(seed, zoom, pixel, canopy) if canopy else None
    _write_raster(scene.raster, layout, look, rng, seed, noise, nodata_box, block_rows, elevation, zoom, trees)
    from .styles import tag_band_colours, write_true_colour_style

    tag_band_colours(scene.raster)  # blue, green, red as colour interpretation, and a true-colour sidecar for QGIS
    write_true_colour_style(scene.raster)
    return scene


def make_areas(out_dir: str | Path, n_areas: int = 3, *, preset: str = "hard", shift: float = 1.0, seed: int = 0,
               **scene: Any) -> list[SyntheticScene]:
    """`n_areas` generated areas (`area_0`, ...), each with its own landslides, look-alikes and `Domain.random`
    of strength `shift`: train on some, hold one out and the unseen-area gap shows."""
    return [make_scene(Path(out_dir) / f"area_{i}", seed=seed + i, name=f"area_{i}", preset=preset,
                       domain=area_domain(seed + i, shift, preset), **scene)
            for i in range(n_areas)]


def area_domain(seed: int, shift: float, preset: str = "hard") -> Domain:
    """Another area's look (`Domain.random` of strength `shift`) with the preset's landslide freshness."""
    if preset not in PRESETS:
        raise LmhldError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    return replace(Domain.random(seed, shift), freshness=PRESETS[preset][1].freshness)


def _write_raster(path: Path, layout: _Layout, look: Domain, rng: np.random.Generator, seed: int, noise: float,
                  nodata_box: tuple[int, int, int, int] | None, block_rows: int, elevation: float | None,
                  zoom: float, trees: _Forest | None = None) -> None:
    from rasterio.transform import Affine

    from .raster import written_geotiff

    width, height = layout.width, layout.height
    names = (*BANDS, "elevation") if elevation is not None else BANDS
    profile = {"driver": "GTiff", "width": width, "height": height, "count": len(names), "dtype": "uint16",
               "crs": layout.srs.ExportToWkt(), "transform": Affine(*layout.transform), "nodata": 0, "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    burners = {name: layout.burner(name) for name in ("landslide", *DRAW_ORDER, "shadow")}
    with written_geotiff(path, **profile) as dst:
        dst.update_tags(SOURCE="synthetic scene generated by lmhld_qgis (not real imagery)")
        for i, band in enumerate(names, start=1):
            dst.set_band_description(i, band)
        for row in range(0, height, block_rows):
            window = Window(row, 0, min(block_rows, height - row), width)
            masks = {name: b.burn(window) for name, b in burners.items() if b is not None}
            crowns = trees.crowns(window, masks) if trees is not None else None
            data = _render_block(window, masks, look, rng, seed, noise, zoom, crowns)
            if elevation is not None:
                z = _surface_model(window, masks, elevation, seed, zoom, crowns, trees.height if trees else 0.0)
                data = np.concatenate([data, z[None]])
            if nodata_box is not None:
                r0, c0, r1, c1 = nodata_box
                rs, re_ = max(r0, row), min(r1, row + window.height)
                if rs < re_:
                    data[:, rs - row:re_ - row, c0:c1] = 0
            dst.write(data, window=window.to_rasterio())
    for b in burners.values():
        if b is not None:
            b.close()


def _render_block(window: Window, masks: dict[str, npt.NDArray[np.uint8]], look: Domain, rng: np.random.Generator,
                  seed: int, noise: float, zoom: float = 1.0,
                  crowns: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.uint16]:
    """One block of rows: surfaces, shading, domain, shadows, sensor noise (in that order; the noise draws keep
    the "easy" scene's sequence, so it is the same scene it always was). `crowns` (0 off the forest, 0-1 on it):
    the trees' canopy, full vigour, each crown lit on one side."""
    h, width = window.height, window.width
    yy, xx = np.mgrid[window.row:window.row + h, 0:width] / zoom  # ground pixels
    texture = look.shading * np.sin(xx / 23.0 + seed + look.sun_phase) * np.cos(yy / 31.0)  # terrain shading
    scar = masks["landslide"]
    fresh = scar.astype(np.float64) / 255.0 if scar.max() > 1 else None
    block = np.empty((4, h, width), dtype=np.float64)
    for b in range(4):
        ground = UNDERSTOREY[b] + (VEGETATION[b] - UNDERSTOREY[b]) * look.vegetation
        surface = np.where(scar.astype(bool), BARE_SOIL[b], ground) if fresh is None else np.full((h, width), ground)
        if crowns is not None:
            surface = np.where(crowns > 0, VEGETATION[b] * (0.7 + 0.3 * crowns), surface)
        for name in DRAW_ORDER:
            if name in masks:
                for value, spectrum in enumerate(SPECTRA[name], start=1):
                    surface[masks[name] == value] = spectrum[b]
        if fresh is not None:
            on = scar > 0
            surface[on] = surface[on] * (1 - fresh[on]) + BARE_SOIL[b] * fresh[on]
        value = surface * (1 + texture) * look.illumination * look.gain[b] + look.haze[b]
        if "shadow" in masks:
            value[masks["shadow"] > 0] *= SHADOW
        block[b] = value + rng.normal(0, noise, (h, width))
    return np.clip(block, 1, 65535).astype(np.uint16)


def _surface_model(window: Window, masks: dict[str, npt.NDArray[np.uint8]], base: float,
                   seed: int, zoom: float = 1.0, crowns: npt.NDArray[np.float64] | None = None,
                   canopy: float = 0.0) -> npt.NDArray[np.uint16]:
    """Elevation in metres: smooth hills around `base`, scars 3-6 m deep (deeper where fresher), river channels;
    with `crowns`, trees up to `canopy` m tall on top and the DSM's noise."""
    yy, xx = np.mgrid[window.row:window.row + window.height, 0:window.width] / zoom  # ground pixels
    phase = (seed % 17) * 0.37
    z = base + 40 * np.sin(xx / 170.0 + phase) * np.cos(yy / 210.0) + 25 * np.sin((xx + yy) / 90.0 + 2 * phase)
    scar = masks["landslide"].astype(np.float64)
    depth = np.where(scar > 1, 3 + 3 * scar / 255.0, 6.0 * (scar > 0))
    z -= depth
    if "river" in masks:
        z[masks["river"] > 0] -= 2.0
    if crowns is not None:
        z += canopy * np.where(crowns > 0, 0.55 + 0.45 * crowns, 0.0)
        z += np.random.default_rng([seed, 13, window.row]).normal(0, 0.5, z.shape)
    surface: npt.NDArray[np.uint16] = np.clip(np.round(z), 1, 65535).astype(np.uint16)
    return surface


@dataclass(frozen=True)
class _Forest:
    """Where trees stand and how their crowns look, from world coordinates (any block gives the same trees)."""

    seed: int
    zoom: float
    pixel: float  # the fine pixel, metres
    height: float  # the tallest crowns, metres

    def crowns(self, window: Window, masks: dict[str, npt.NDArray[np.uint8]]) -> npt.NDArray[np.float64]:
        """0 off the forest; on it, 0-1 across each crown (about 6 m wide)."""
        yy, xx = np.mgrid[window.row:window.row + window.height, 0:window.width].astype(np.float64)
        gx, gy = xx / self.zoom, yy / self.zoom  # ground pixels: the forest's patches scale like every shape
        a, b, c = (self.seed % 23) * 0.61, (self.seed % 29) * 0.43, (self.seed % 31) * 0.29
        stands = (np.sin(gx / 19.0 + a) * np.cos(gy / 27.0 + b) + 0.6 * np.sin((gx - gy) / 13.0 + c)
                  + 0.4 * np.cos((gx + 2 * gy) / 17.0 + a + b))
        mx, my = xx * self.pixel, yy * self.pixel  # metres: a crown is a crown at any resolution
        jitter = 0.9 * np.sin(mx / 7.3 + c) + 0.7 * np.cos(my / 5.9 + a)
        crown = np.abs(np.sin(mx / 1.9 + jitter) * np.sin(my / 1.9 - jitter))
        cleared = np.zeros(stands.shape, dtype=bool)
        for name in ("landslide", *DRAW_ORDER):
            if name in masks:
                cleared |= masks[name] > 0
        return np.where((stands > 0) & ~cleared, np.maximum(crown, 1e-3), 0.0)


def _add_distractors(layout: _Layout, looks: Distractors, rng: np.random.Generator) -> None:
    """The look-alikes' polygons, by class, with the value each is burnt with."""
    scale = layout.width * layout.height / 1024**2
    count = {name: max(1, round(density * scale)) if density > 0 else 0 for name, density in (
        ("bare_soil", looks.bare_soil), ("rivers", looks.rivers), ("roads", looks.roads), ("fields", looks.fields),
        ("cloud_shadows", looks.cloud_shadows))}
    w, h, px, origin = layout.width, layout.height, layout.pixel, layout.origin
    soil = landslide_polygons(count["bare_soil"], w, h, origin, px, rng, mean_radius_px=14.0, stretch=(1.0, 1.3))
    layout.classes["bare_soil"] = (soil, [1] * len(soil))
    shadows = landslide_polygons(count["cloud_shadows"], w, h, origin, px, rng, mean_radius_px=45.0,
                                 stretch=(1.0, 1.6))
    layout.classes["shadow"] = (shadows, [1] * len(shadows))
    layout.classes["river"] = _rivers(layout, count["rivers"], rng)
    layout.classes["road"] = _roads(layout, count["roads"], rng)
    layout.classes["field"] = _fields(layout, count["fields"], rng)


def _line(layout: _Layout, points: list[tuple[float, float]]) -> ogr.Geometry:
    line = ogr.Geometry(ogr.wkbLineString)
    for col, row in points:
        line.AddPoint_2D(*layout.world(col, row))
    return line


def _rivers(layout: _Layout, n: int, rng: np.random.Generator) -> tuple[Geometries, list[int]]:
    """Meandering rivers across the scene: a wide sediment band (1) with water (2) in its middle."""
    polys: Geometries = []
    values: list[int] = []
    w, h = layout.width, layout.height
    for _ in range(n):
        y0, amp, wave, phase = rng.uniform(0.2, 0.8) * h, rng.uniform(10, 60), rng.uniform(150, 400), rng.uniform(0, 6)
        amp2, wave2 = rng.uniform(0, 0.5) * amp, wave / rng.uniform(2.2, 3.7)  # a second bend: less regular
        line = _line(layout, [(x, y0 + amp * math.sin(2 * math.pi * x / wave + phase)
                               + amp2 * math.sin(2 * math.pi * x / wave2)) for x in range(-8, w + 9, 8)])
        water, bars = rng.uniform(2, 5), rng.uniform(4, 10)
        polys += [line.Buffer((water + bars) * layout.pixel), line.Buffer(water * layout.pixel)]
        values += [1, 2]
    return polys, values


def _roads(layout: _Layout, n: int, rng: np.random.Generator) -> tuple[Geometries, list[int]]:
    """Roads (1, 2-3 px wide) and tracks (2, about 1 px, winding): random walks from one edge."""
    polys: Geometries = []
    values: list[int] = []
    w, h = layout.width, layout.height
    for k in range(n):
        track = k % 2 == 1
        col, row, heading = 0.0, rng.uniform(0, h), rng.uniform(-0.6, 0.6)
        points = [(col, row)]
        while -20 <= col <= w + 20 and -20 <= row <= h + 20 and len(points) < 400:
            heading += rng.normal(0, 0.35 if track else 0.12)
            col, row = col + 20 * math.cos(heading), row + 20 * math.sin(heading)
            points.append((col, row))
        polys.append(_line(layout, points).Buffer((0.6 if track else 1.2) * layout.pixel))
        values.append(2 if track else 1)
    return polys, values


def _fields(layout: _Layout, n: int, rng: np.random.Generator) -> tuple[Geometries, list[int]]:
    """Clusters of rotated rectangular fields, each ploughed (1), green (2) or stubble (3)."""
    polys: Geometries = []
    values: list[int] = []
    for _ in range(n):
        cx, cy, theta = rng.uniform(0, layout.width), rng.uniform(0, layout.height), rng.uniform(0, math.pi)
        side_a, side_b = rng.uniform(30, 70), rng.uniform(30, 70)
        cols, rows = int(rng.integers(2, 4)), int(rng.integers(3, 5))
        for i in range(cols):
            for j in range(rows):
                u, v = (i - cols / 2) * side_a, (j - rows / 2) * side_b
                corners = [(u, v), (u + side_a * 0.92, v), (u + side_a * 0.92, v + side_b * 0.92),
                           (u, v + side_b * 0.92), (u, v)]
                ring = ogr.Geometry(ogr.wkbLinearRing)
                for du, dv in corners:
                    x = cx + du * math.cos(theta) - dv * math.sin(theta)
                    y = cy + du * math.sin(theta) + dv * math.cos(theta)
                    ring.AddPoint_2D(*layout.world(x, y))
                poly = ogr.Geometry(ogr.wkbPolygon)
                poly.AddGeometry(ring)
                polys.append(poly)
                values.append(int(rng.integers(1, 4)))
    return polys, values


KIND_NAMES = {"field": ("ploughed field", "green field", "stubble field"), "road": ("road", "track"),
              "river": ("river sediment", "water"), "bare_soil": ("bare soil",), "shadow": ("cloud shadow",)}


def _write_distractors(path: Path, layout: _Layout) -> Path:
    polys: Geometries = []
    kinds: list[str] = []
    for name, names in KIND_NAMES.items():
        for poly, value in zip(*layout.classes.get(name, ([], [])), strict=True):
            polys.append(poly)
            kinds.append(names[value - 1])
    return write_inventory(path, polys, layout.srs, kinds, layer="distractors")

"""Checks an entry point makes before the long part of its work, so that a request that cannot succeed fails at
once with a sentence naming the value and its limit (not with a MemoryError, an empty result or a score of 1.0)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import LmhldError

if TYPE_CHECKING:  # a training node without GDAL's bindings checks its datasets through this module
    from .raster import RasterInfo
    from .vector import PolygonSet

T = TypeVar("T")


def as_path_list(paths: Sequence[str | Path] | str | Path) -> list[str | Path]:
    """One path given alone (not a list of them) is a list of one: iterated, a str gave its characters ("the
    raster / is given twice")."""
    return [paths] if isinstance(paths, str | Path) else list(paths)


def options_of(kind: type[T], value: T | Mapping[str, Any] | None, what: str) -> T:
    """A function's options as given from Python: its options class, a dict of its fields (a notebook's habit;
    it failed on an attribute deep inside), or None for the defaults; anything else is named."""
    if value is None:
        return kind()
    if isinstance(value, kind):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in fields(kind)}  # type: ignore[arg-type]  # the options classes are dataclasses
        unknown = sorted(set(value) - known)
        if unknown:
            raise LmhldError(f"unknown {what} option(s) {', '.join(map(str, unknown))}; valid: "
                             f"{', '.join(sorted(known))}")
        return kind(**value)
    raise LmhldError(f"{what} options must be {kind.__name__}(...) or a dict of its fields, got "
                     f"{type(value).__name__}")


def physical_memory() -> int | None:
    """The machine's memory in bytes (None where unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def require_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse a request whose arrays alone would exceed the machine's memory."""
    total = physical_memory()
    if total is not None and nbytes > total:
        raise LmhldError(f"{what} need about {nbytes / 2**30:.1f} GiB, more than this machine's "
                         f"{total / 2**30:.1f} GiB; {fix}")


def require_patch_fits(size: int, infos: Sequence[RasterInfo], what: str = "patch size") -> None:
    """Refuse a window larger than every raster (no window would fit; reading it would only exhaust memory)."""
    fits = [min(i.width, i.height) for i in infos]
    if fits and size > max(fits):
        sizes = ", ".join(f"{os.path.basename(i.path)} {i.width} x {i.height}" for i in infos)
        raise LmhldError(f"{what} {size} px is larger than every raster ({sizes} px); choose at most {max(fits)} px")


def require_overlap(polygons: PolygonSet, info: RasterInfo, what: str = "inventory") -> None:
    """Refuse polygons none of which touches the raster (a wrong file or CRS would otherwise score F1 0 silently).
    An empty layer passes: a scene without landslides is a legitimate reference."""
    from .coverage import footprint_in

    if not polygons.geometries:
        return
    footprint = footprint_in(info, polygons.srs)
    if not any(g.Intersects(footprint) for g in polygons.geometries):
        from .vector import first_layer_note

        note = first_layer_note(polygons.first_layer_of) if polygons.first_layer_of else ""
        layer = f"; {note}" if note else ""
        raise LmhldError(f"no polygon of the {what} ({len(polygons.geometries)} polygons) overlaps raster "
                         f"{info.path}; check that both cover the same area and that their CRSs are right{layer}")


def require_distinct(paths: Sequence[object], what: str) -> None:
    """Refuse the same file or folder given twice (a raster's patches would land in several splits: leakage; a
    dataset's patches would be trained or scored twice, counted as two areas)."""
    from .outputs import paths_of, same_file

    files = paths_of(list(paths))
    for k, a in enumerate(files):
        for b in files[k + 1:]:
            if same_file(a, b):
                kind = "folder" if a.is_dir() else "file"
                raise LmhldError(f"the {what} {a} is given twice ({b}); give each {kind} once")

"""Output paths checked before any work, so that a run never destroys what it reads or what it was not asked to.

Every entry point names what it reads and writes, each under the name the user knows it by (`--prob` on the
command line, `prob_tif` in Python), and calls `check_outputs` first. It refuses:

- an output that is an input (the same path, a link to it, or a file of it: a GeoPackage's -journal/-wal, a VRT's
  sources), two outputs that are one file, and an output folder that holds an input;
- a file output that is a folder, a folder output that is a file, an output whose folder cannot be written;
- with `overwrite=False`, an output that exists (a file, its .qml style, a non-empty folder); with
  `overwrite=True`, a folder lmhld did not write (see `atomic.check_replaceable_dir`).

`overwrite=None` (the Python API's default for files) skips the existence rule: like `open(path, "w")`, GDAL and
rasterio, a Python call replaces an existing output file; folders are never replaced without `overwrite=True`.
`claim_outputs` then holds the outputs' locks for the whole run.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .atomic import SQLITE_SIDECARS, check_replaceable_dir, longest_aside_name, make_dirs, output_lock
from .errors import LmhldError

PathLike = str | os.PathLike[str]
Named = Mapping[str, object]  # name the user knows -> a path, several paths, or anything else (ignored)
STYLE_SUFFIX = ".qml"
TEXT_SUFFIXES = (".toml", ".json", ".yaml", ".yml")  # configs and reports: checked to be UTF-8 text up front
_NOT_A_FILE = re.compile(r"^(/vsi|[A-Za-z][A-Za-z0-9+.-]+:)")  # GDAL virtual paths, URLs, NETCDF:"f":var


def paths_of(value: object) -> list[Path]:
    """The paths in a value: a path, a list of paths; other things (a model object, a layer, None) give none."""
    if isinstance(value, str | os.PathLike):
        return [Path(value)] if str(value) else []
    if isinstance(value, list | tuple):
        return [p for v in value for p in paths_of(v)]
    return []


def _named(values: Named) -> list[tuple[str, Path]]:
    return [(name, path) for name, value in values.items() for path in paths_of(value)]


def _real(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def same_file(a: Path, b: Path) -> bool:
    """True when two paths are one file: the same inode when both exist, else the same resolved path."""
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return _real(a) == _real(b)


def _is_inside(path: Path, folder: Path) -> bool:
    real, top = _real(path), _real(folder)
    return real != top and real.startswith(top.rstrip(os.sep) + os.sep)


def _files_of_input(path: Path) -> list[Path]:
    """An input and the files it consists of: SQLite sidecars, what GDAL lists (a VRT's sources, .aux.xml), and
    the style QGIS draws it with (NAME.qml beside it, which a probability raster NAME.tiff would replace; see
    _check_collisions for when it counts)."""
    files = [path, *(Path(f"{path}{s}") for s in SQLITE_SIDECARS)]
    if path.suffix and path.suffix.lower() != STYLE_SUFFIX:
        files.append(path.with_suffix(STYLE_SUFFIX))
    if path.is_file() and path.suffix.lower() in (".vrt", ".shp", ".tab", ".mif"):
        from osgeo import gdal

        with contextlib.suppress(Exception):
            gdal.PushErrorHandler("CPLQuietErrorHandler")
            try:
                ds = gdal.OpenEx(str(path))
                files += [Path(f) for f in (ds.GetFileList() or [])] if ds is not None else []
            finally:
                gdal.PopErrorHandler()
    return files


def check_outputs(*, inputs: Named, files: Named = {}, folders: Named = {},  # noqa: B006 (read-only defaults)
                  styled: Iterable[str] = (), overwrite: bool | None = None, inputs_must_exist: bool = False,
                  resumable: bool = False,
                  layers: Mapping[str, Mapping[str, Iterable[str]] | Iterable[str]] | None = None) -> None:
    """Refuse, before any work, outputs that would destroy an input, each other, or an existing file (see the
    module's docstring). `styled`: names of file outputs that get a .qml style beside them; `resumable`: the
    folders are continued by the run (a training run), so an existing one is not a reason to refuse; `layers`:
    the layers each GeoPackage output will hold (an existing one holding others is never replaced; see
    check_other_layers)."""
    ins = _named(inputs)
    if inputs_must_exist:
        for name, path in ins:
            _check_input(name, path)
    outs = [(name, path) for name, path in _named(files)]
    outs += [(f"{name} (its style)", path.with_suffix(STYLE_SUFFIX)) for name, path in _named(files)
             if name in set(styled)]
    dirs = _named(folders)
    _check_collisions(ins, outs + dirs, dirs)
    for name, path in outs:
        _check_format(name, path)
        _check_file_output(name, path, overwrite)
        if layers and name in layers:
            check_other_layers(name, path, layers[name])
    for name, path in dirs:
        if path.exists() and not path.is_dir():
            raise LmhldError(f"{name} {path} is a file; give a folder")
        _check_writable(name, path)
        if not resumable:
            check_replaceable_dir(path, bool(overwrite), what=name)


# outputs whose format is fixed: a GeoPackage written under a .shp name (the Python API took any name; the command
# line refuses it) is a file no program opens as what its name says
FIXED_FORMATS = {"polygons": ("GPKG", (".gpkg",)), "probability raster": ("GeoTIFF", (".tif", ".tiff")),
                 "error map": ("GeoTIFF", (".tif", ".tiff"))}


def _check_format(name: str, path: Path) -> None:
    fixed = FIXED_FORMATS.get(name)
    if fixed and path.suffix.lower() not in fixed[1]:
        raise LmhldError(f"{name} {path} is written as {fixed[0]}: give a name ending in {' or '.join(fixed[1])}")


def _check_input(name: str, path: Path) -> None:
    if _NOT_A_FILE.match(str(path)) and not Path(path).exists():
        return  # GDAL opens it (or says why not)
    if not path.exists():
        raise LmhldError(f"{name} {path} does not exist; check the path")
    if not os.access(path, os.R_OK):
        raise LmhldError(f"{name} {path} cannot be read (permission denied)")
    if path.suffix.lower() in TEXT_SUFFIXES and path.is_file() and path.stat().st_size < 2**24:
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise LmhldError(f"{name} {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as "
                             "UTF-8") from exc


def _check_collisions(ins: list[tuple[str, Path]], outs: list[tuple[str, Path]], dirs: list[tuple[str, Path]]) -> None:
    input_files = [(name, path, part) for name, path in ins for part in _files_of_input(path)]
    for out_name, out in outs:
        for in_name, path, part in input_files:
            if same_file(out, part):
                if part == path.with_suffix(STYLE_SUFFIX) and part != path:
                    # an input's style: one it has, or for a raster one to come, which would draw the scene as
                    # probabilities (a GDAL open, only for the rare output that takes this name)
                    from .raster import is_raster_file

                    if not (part.exists() or is_raster_file(path)):
                        continue
                    raise LmhldError(f"{out_name} {out} is the style QGIS draws the input {in_name} {path} with: "
                                     "writing it would change how that layer looks; choose another output name")
                what = "" if part == path else f" (a file of {path})"
                raise LmhldError(f"{out_name} {out} is the input {in_name} {path}{what}: writing it would destroy "
                                 "what the run reads; choose another output path")
    for k, (name_a, a) in enumerate(outs):
        for name_b, b in outs[k + 1:]:
            if same_file(a, b) or _is_inside(b, a) or _is_inside(a, b):
                raise LmhldError(f"{name_a} {a} and {name_b} {b} would overwrite each other; give different paths")
    for dir_name, folder in dirs:
        for in_name, path in ins:
            if _is_inside(path, folder):
                raise LmhldError(f"the input {in_name} {path} lies inside the output folder {dir_name} {folder}, "
                                 "which the run creates or replaces as a whole; choose an output folder elsewhere")


def _check_file_output(name: str, path: Path, overwrite: bool | None) -> None:
    if path.is_dir():
        raise LmhldError(f"{name} {path} is a folder; give a file name")
    _check_writable(name, path)
    if overwrite is False and (path.exists() or path.is_symlink()):
        raise LmhldError(f"{name} {path} exists; pass --overwrite to replace it, or choose another path")


GPKG_SYSTEM_LAYERS = {"layer_styles"}  # QGIS's styles table: lmhld writes it too


def check_other_layers(name: str, path: Path, own: Mapping[str, Iterable[str]] | Iterable[str]) -> None:
    """Refuse to replace a GeoPackage that holds layers this output does not write: replacing the file would
    delete them (an inventory or an area of interest kept in the same file, a review's negatives layer beside its
    detections). `own`: the layers it writes, or {layer: the fields that make it this run's kind}: a layer of the
    same name without them is a user's (create-inventory names its inventory `landslides`, as detection names its
    polygons). --overwrite replaces lmhld's own output, not a user's other layers."""
    if not path.is_file() or path.suffix.lower() != ".gpkg":
        return
    from osgeo import gdal

    signatures = {layer: tuple(fields) for layer, fields in own.items()} if isinstance(own, Mapping) else \
        {layer: () for layer in own}
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        ds = gdal.OpenEx(str(path), gdal.OF_VECTOR)
        held = {} if ds is None else {lyr.GetName(): {d.GetName() for d in lyr.schema}
                                      for lyr in (ds.GetLayer(i) for i in range(ds.GetLayerCount()))}
        ds = None
    except RuntimeError:  # not a GeoPackage after all: no layer of the user's to lose
        held = {}
    finally:
        gdal.PopErrorHandler()
    others = sorted(set(held) - set(signatures) - GPKG_SYSTEM_LAYERS)
    if others:
        raise LmhldError(f"{name} {path} holds the layer(s) {', '.join(others)}, which this run does not write and "
                         "replacing the file would delete; choose another output file")
    for layer, fields in signatures.items():
        missing = [f for f in fields if layer in held and f not in held[layer]]
        if missing:
            raise LmhldError(f"{name} {path} holds a layer {layer} that this run did not write (it has no "
                             f"{', '.join(missing)} field: an inventory?), which replacing the file would delete; "
                             "choose another output file")


def _existing_ancestor(path: Path) -> Path:
    anc = Path(os.path.abspath(path)).parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    return anc


def _check_writable(name: str, path: Path) -> None:
    anc = _existing_ancestor(path)
    if not anc.is_dir():
        raise LmhldError(f"cannot write {name} {path}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise LmhldError(f"cannot write {name} {path}: folder {anc} is read-only (no permission to write there); "
                         "choose another folder")
    _check_name_length(name, path, anc)


def _check_name_length(name: str, path: Path, folder: Path) -> None:
    """A name the file system takes, but not with what lmhld adds while writing it aside (a 235-byte name: the
    whole detection ran, then failed with 'File name too long')."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # Windows has no pathconf
        limit = 255
    extra = len(longest_aside_name(path).encode()) - len(path.name.encode())
    if len(path.name.encode()) + extra > limit:
        raise LmhldError(f"{name} {path}: its name is {len(path.name.encode())} bytes, and lmhld writes it aside "
                         f"first under one {extra} bytes longer, past this file system's {limit} bytes a name; "
                         f"shorten it to {limit - extra} bytes or fewer")


@contextlib.contextmanager
def claim_outputs(paths: Iterable[PathLike]) -> Iterator[None]:
    """Hold the locks of `paths` for the whole block (their folders are created; on failure, folders the block
    created and left empty are removed again)."""
    created: list[Path] = []
    with contextlib.ExitStack() as stack:
        try:
            for path in dict.fromkeys(Path(os.path.abspath(p)) for p in paths):
                created += _new_dirs(path.parent)
                make_dirs(path.parent)
                stack.enter_context(output_lock(path))
            yield
        except BaseException:
            stack.close()
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
            raise


def _new_dirs(folder: Path) -> list[Path]:
    """The folders that creating `folder` would create, outermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]

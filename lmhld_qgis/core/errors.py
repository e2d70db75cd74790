"""Errors that front doors show to people as they are: each names the problem and the fix.

`explain` turns any other exception into one plain sentence (a full disk, a read-only folder, a missing file, a
truncated GeoTIFF, GeoPackage, ONNX or checkpoint file) and says whether the input or the machine was at fault.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType


class _Said:
    """A message for a person, in their terms: `str()` (a traceback, a print, an f-string) gives a Python caller
    keywords for the command line's flags (core/terms.py), and the command line and QGIS the flags, which QGIS
    turns into its parameters; `message` is the text as raised (an experiment says it in its file's keys)."""

    args: tuple[object, ...]

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        from .terms import for_reader

        return for_reader(self.message)


class LmhldError(_Said, ValueError):
    """Bad input or an impossible request; the message is meant for the user."""


class CancelledError(_Said, RuntimeError):
    """The user cancelled; nothing half-written is left behind."""


KINDS = {str: "text", bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a table"}


def given(value: object) -> str:
    """A value as an error message quotes it, with its kind where that is what is wrong: a tile of "128" given as
    text was refused with "got 128", which read as if 128 itself were refused."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value}"
    return f"{value!r} ({KINDS.get(type(value), type(value).__name__)})"


def whole(value: object) -> bool:
    """An integer (a float without a fraction counts, as a sweep's 128.0 does; text and booleans do not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, SIGHUP): raised like Ctrl-C so that every `finally` runs."""


BAD_INPUT, UNEXPECTED, CANCELLED = 2, 1, 130  # the command line's exit codes

_held: BaseException | None = None  # a stop signal's exception, kept while a C call with a Python callback runs
_holding = 0


def raise_or_hold(exc: BaseException) -> None:
    """For signal handlers: raise `exc` now or, inside `hold_signals`, keep it for the block's end. A signal lands
    at any bytecode, also on the first line of a GDAL progress callback, outside its `try`: raised there, the
    exception is printed by GDAL's binding with a traceback and lost, and the call fails as a bare "User
    terminated"."""
    global _held
    if not _holding:
        raise exc
    if _held is None:  # the first stop asked for is the one raised
        _held = exc


_asked: BaseException | None = None  # a stop signal's exception, from the signal to the command's end


def note_stop(exc: BaseException | None) -> None:
    """For signal handlers: a stop was asked for (None: settled). Kept apart from the exception itself, which a
    library may swallow: `from osgeo import ...` on first use loses a KeyboardInterrupt raised inside it."""
    global _asked
    _asked = exc


def stop_asked() -> BaseException | None:
    """The stop asked for and not yet settled, or None."""
    return _asked


def raise_if_stop_asked() -> None:
    """Before an output replaces what was at its path: a stop asked for since the command began cancels the
    commit, even one whose exception a library swallowed (create-inventory --overwrite, stopped while it imported
    GDAL, went on and replaced an inventory of nine polygons by an empty one, with exit 0)."""
    exc = _asked
    if exc is not None:
        note_stop(None)
        raise exc


def import_native(name: str) -> ModuleType:
    """Import a module built on a C++ extension with stop signals held: a KeyboardInterrupt raised while its
    initialisation runs crosses C++ code (onnx's nanobind bindings) and aborts the process ("terminate called",
    exit 134) instead of cancelling; held, it is raised once the import is done."""
    import importlib

    with hold_signals():
        return importlib.import_module(name)


def held_signal() -> BaseException | None:
    """The stop a signal asked for while signals were held (the callback then tells GDAL to stop), or None."""
    return _held


@contextlib.contextmanager
def hold_signals() -> Iterator[None]:
    """Signals' exceptions are kept while the block runs and raised when it ends (over any error the stop caused)."""
    global _held, _holding
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if not _holding and _held is not None:
            exc, _held = _held, None
            raise exc


@dataclass(frozen=True)
class Explained:
    message: str
    exit_code: int
    expected: bool  # False: a defect or an unknown failure, worth a log file with the traceback


_OS_WORDS = {
    errno.ENOSPC: ("the disk is full", "free some space (or write elsewhere) and run again", UNEXPECTED),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space (or write elsewhere) and run again", UNEXPECTED),
    errno.EFBIG: ("a file grew larger than this system allows (file-size limit)",
                  "write to another file system or raise the limit (ulimit -f)", UNEXPECTED),
    errno.EROFS: ("the folder is on a read-only file system", "choose a writable output folder", BAD_INPUT),
    errno.EACCES: ("permission denied", "choose a folder you may write to, or fix the permissions", BAD_INPUT),
    errno.EPERM: ("operation not permitted", "choose a folder you may write to, or fix the permissions", BAD_INPUT),
    errno.ENOENT: ("a file or folder is missing", "check the path", BAD_INPUT),
    errno.ENOTDIR: ("a path that should be a folder is a file", "check the path", BAD_INPUT),
    errno.EISDIR: ("a path that should be a file is a folder", "give a file name", BAD_INPUT),
    errno.EIO: ("an input/output error occurred", "check the disk and run again", UNEXPECTED),
}

# Messages of libraries reading a damaged file, and what to tell the user.
_PEER_GONE = ("gloo/transport", "Connection closed by peer", "Connection reset by peer", "NCCL error",
              "ProcessGroupNCCL", "ProcessGroupGloo")  # a torch.distributed collective that lost a peer

_DAMAGED = (
    (("TIFFRead", "TIFFFetch", "TIFFReadDirectory", "Read error", "IReadBlock failed", "not recognized as a supported",
      "not a TIFF", "TIFF directory", "Cannot read TIFF"),
     "a raster file is truncated, damaged or not in a format GDAL reads"),
    (("sqlite3_", "file is not a database", "database disk image is malformed", "not a GeoPackage"),
     "a GeoPackage (SQLite) file is truncated or damaged"),
    (("Protobuf parsing failed", "INVALID_PROTOBUF"),
     "the ONNX model file is truncated or damaged; export it again (lmhld export-onnx)"),
    (("PytorchStreamReader", "failed finding central directory", "UnpicklingError", "Ran out of input"),
     "the checkpoint is truncated or damaged; use another one (e.g. best.pt or an earlier run's)"),
)

# A package missing from a machine set up for part of the work (a GPU node that only trains has no GDAL).
_MISSING_PACKAGES = {
    "osgeo": "GDAL's Python bindings (osgeo) are not installed, and this command reads or writes GIS files with "
             "them; run it where QGIS is installed, or install them (apt install python3-gdal, or conda install "
             "gdal); training does not need them",
}


def peer_gone(exc: BaseException) -> bool:
    """A torch.distributed collective failed because another process of the run ended."""
    text = f"{type(exc).__name__}: {exc}"
    return any(words in text for words in _PEER_GONE)


def explain(exc: BaseException) -> Explained:
    """One sentence for the user about any exception (without the traceback)."""
    if isinstance(exc, LmhldError):
        return Explained(str(exc), BAD_INPUT, True)
    if isinstance(exc, MemoryError):
        return Explained("out of memory; use a smaller tile, batch, chunk width or patch size, or close other "
                         "programs", UNEXPECTED, True)
    if isinstance(exc, OSError) and exc.errno is None and "No such file or directory" in str(exc):
        return Explained(f"a file is missing ({_short(str(exc))}); check the path, or whether a folder lost files",
                         BAD_INPUT, True)  # rasterio's and GDAL's words for ENOENT
    if isinstance(exc, OSError) and exc.errno in _OS_WORDS:
        words, fix, code = _OS_WORDS[exc.errno]
        where = f" ({_os_detail(exc)})" if _os_detail(exc) else ""
        return Explained(f"{words}{where}; {fix}", code, True)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        package = exc.name.split(".")[0]
        return Explained(_MISSING_PACKAGES.get(package, f"the Python package {package!r} is not installed; install "
                                               "the pinned versions (pip install -r lmhld_qgis/requirements.txt), "
                                               "or in QGIS use the plugin's Python dependencies dialog"),
                         UNEXPECTED, True)
    if isinstance(exc, OverflowError):
        return Explained(f"a number is too large or too small to compute with ({_short(str(exc))}); check the values "
                         "given", BAD_INPUT, True)
    if isinstance(exc, UnicodeDecodeError):
        return Explained(f"a text file is not UTF-8 ({_short(str(exc))}); save it as UTF-8", BAD_INPUT, True)
    if type(exc).__name__ in ("JSONDecodeError", "TOMLDecodeError"):
        return Explained(f"a {type(exc).__name__[:4]} file cannot be parsed ({_short(str(exc))}); fix or replace it",
                         BAD_INPUT, True)
    text = f"{type(exc).__name__}: {exc}"
    if peer_gone(exc):  # gloo/NCCL: not a file's damage ("Read error")
        return Explained("another process of this multi-process run ended (its own message says why); continue "
                         "with the same command and --resume", UNEXPECTED, True)
    damaged = damage(text)
    if damaged:
        return Explained(f"{damaged} ({_short(str(exc))})", BAD_INPUT, True)
    return Explained(f"unexpected error: {_short(text)}", UNEXPECTED, False)


def damage(text: str) -> str | None:
    """What a library's message about a file says in plain words (truncated raster, damaged GeoPackage, ...)."""
    for needles, words in _DAMAGED:
        if any(n in text for n in needles):
            return words
    return None


def _os_detail(exc: OSError) -> str:
    names = [str(n) for n in (exc.filename, exc.filename2) if n]
    if names:
        return " -> ".join(names)
    text = exc.strerror or ""
    return "" if exc.errno is None or text == os.strerror(exc.errno) else text


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."

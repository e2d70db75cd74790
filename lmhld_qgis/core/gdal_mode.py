"""GDAL's Python exceptions, on while this library's code runs inside a host that owns the setting (QGIS).

The core modules switch GDAL, OGR and OSR exceptions on when imported: their code reads errors as exceptions, the
way GDAL 4 will by default. In GDAL before 3.7 that switch is one flag for the whole process, and QGIS's own Python
(DB Manager's GeoPackage connector, processing/algs) and other plugins test `gdal.OpenEx(...) is None` instead, so
left on it changes how they behave. The QGIS adapters therefore run every call into the core inside
`gdal_exceptions()`, which gives the process its previous setting back when the last such call ends.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_depth = 0  # calls inside gdal_exceptions() now, in every thread (the flag they share is process-wide)
_before: list[bool] = []  # the host's setting of gdal, ogr and osr when the first of them began
_held = threading.local()  # .count: this thread's blocks open now (what gdal_exceptions_paused() lets go)


def _modules() -> tuple[Any, ...]:
    from osgeo import gdal, ogr, osr

    return gdal, ogr, osr


def _enter() -> None:
    global _depth, _before
    modules = _modules()
    with _lock:
        if _depth == 0:
            _before = [bool(m.GetUseExceptions()) for m in modules]
        _depth += 1
        for m in modules:
            m.UseExceptions()


def _leave() -> None:
    global _depth
    modules = _modules()
    with _lock:
        _depth -= 1
        if _depth == 0:  # in reverse: GDAL keeps the modules' error handlers on one stack
            for m, was_on in reversed(list(zip(modules, _before, strict=True))):
                if not was_on:
                    with contextlib.suppress(RuntimeError):  # someone else pushed a handler: leave it on
                        m.DontUseExceptions()


@contextlib.contextmanager
def gdal_exceptions() -> Iterator[None]:
    """Exceptions on for the block (and for modules imported in it); the host's setting back after the last block
    open in any thread ends (blocks nest and overlap across threads)."""
    _enter()
    _held.count = getattr(_held, "count", 0) + 1
    try:
        yield
    finally:
        _held.count -= 1
        _leave()


@contextlib.contextmanager
def gdal_exceptions_paused() -> Iterator[None]:
    """This thread's gdal_exceptions() blocks let go for the block: a long wait that runs no GDAL code here (a child
    process training for hours) gives the host its own setting meanwhile, unless another thread's block is open.
    Outside any block it changes nothing."""
    mine = getattr(_held, "count", 0)
    for _ in range(mine):
        _leave()
    _held.count = 0
    try:
        yield
    finally:
        for _ in range(mine):
            _enter()
        _held.count = mine


def with_gdal_exceptions(func: F) -> F:
    """Decorator: `func` runs inside `gdal_exceptions()`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with gdal_exceptions():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]

"""argparse value types that check ranges before any work starts.

Each answers a bad value with the allowed range, e.g. "--threshold: must be a number in [0, 1], got 2", through
argparse's own error (exit 2, usage line, no traceback). Every numeric option of every sub-command uses one.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An integer in [low, high] (either bound may be open-ended)."""

    def parse(text: str) -> int:
        value = int(_number(text, int))
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {_describe(low, high)}, got {value}")
        return value

    parse.__name__ = f"integer {_describe(low, high)}"  # argparse names the type in its message
    return parse


def float_range(low: float | None = None, high: float | None = None, *, low_open: bool = False,
                high_open: bool = False) -> Callable[[str], float]:
    """A finite number in the interval given by its bounds ([low, high] by default; open ends on request)."""

    def parse(text: str) -> float:
        value = float(_number(text, float))
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be a number in {_interval(low, high, low_open, high_open)}, "
                                             f"got {text}")
        return value

    parse.__name__ = f"number in {_interval(low, high, low_open, high_open)}"
    return parse


def _describe(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"from {low} to {high}"
    if low is not None:
        return f">= {low}"
    if high is not None:
        return f"<= {high}"
    return ""


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


# The ranges the commands share.
positive_int = int_range(1)
non_negative_int = int_range(0)
probability = float_range(0.0, 1.0)  # thresholds, fractions, shares
overlap_fraction = float_range(0.0, 1.0, high_open=True)  # window overlap: 1 would never advance
positive_float = float_range(0.0, low_open=True)  # learning rates, sizes in metres
non_negative_float = float_range(0.0)  # areas, tolerances


def checked_by(parse: Callable[[str], object], name: str) -> Callable[[str], str]:
    """A text option checked by a core parser before any work (e.g. core.splits.parse_ratios); the command gets
    the text unchanged and parses it again. The parser's LmhldError becomes argparse's message (exit 2)."""

    def check(text: str) -> str:
        from ..core.errors import LmhldError

        try:
            parse(text)
        except LmhldError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
        return text

    check.__name__ = name
    return check


def _extent(text: str) -> object:
    from ..core.extent import parse_extent

    return parse_extent(text)


extent_text = checked_by(_extent, "xmin,ymin,xmax,ymax [CRS]")  # --extent: four finite numbers, min < max


def path_ending(*suffixes: str) -> Callable[[str], str]:
    """An output path whose format is fixed by the command (a GeoTIFF, a GeoPackage, ONNX): its name must say so,
    so that no GeoTIFF is written under a .jpg name."""

    def check(text: str) -> str:
        if not text.lower().endswith(suffixes):
            raise argparse.ArgumentTypeError(f"the file is written as {suffixes[0][1:].upper()}; give a name ending "
                                             f"in {' or '.join(suffixes)}, got {text!r}")
        return text

    check.__name__ = f"{suffixes[0]} path"
    return check


def _parse_bands(text: str) -> object:
    from ..core.bands import parse_band_list

    return parse_band_list(text)


band_list = checked_by(_parse_bands, "band list")  # --bands 3,2,1,4: 1-based raster bands in the model's order


def _split_ratios(text: str) -> object:
    from ..core.splits import parse_ratios

    return parse_ratios(text)


split_ratios = checked_by(_split_ratios, "three ratios such as 0.7,0.2,0.1")  # --split of export, preview, split

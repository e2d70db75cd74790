"""Whether detection runs its coarse context pass (core.multiscale), and at which factor.

Kept apart from the pass itself, which needs GDAL, so that the command line can offer the choices on a machine
that only trains (a GPU node with torch and rasterio, no GDAL Python bindings).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LmhldError
from .inventory import DEFAULT_FRACTION
from .modelcard import ModelCard

CONTEXT_MODES = ("auto", "off", "2", "3", "4")
AUTO_FACTOR = 2.0
AUTO_TILE_SHARE = 2 * DEFAULT_FRACTION  # "too large for the tile": the large landslides cover this share or more


@dataclass(frozen=True)
class ContextChoice:
    """The coarse pass's factor (None: one pass) and why, for the log and the result."""

    factor: float | None
    reason: str


def check_context(mode: str) -> None:
    """Refuse a `context` option that is not one of CONTEXT_MODES, naming the allowed ones."""
    if mode not in CONTEXT_MODES:
        raise LmhldError(f"context must be one of {', '.join(CONTEXT_MODES)}, got {mode!r}")


def choose_context(mode: str, card: ModelCard, pixel_area: float, tile: int) -> ContextChoice:
    """Resolve the `context` option against the model's training inventory and the tile."""
    check_context(mode)
    if mode == "off":
        return ContextChoice(None, "off")
    if mode != "auto":
        return ContextChoice(float(mode), f"a coarse pass at 1/{mode} of the resolution (asked)")
    large = card.large_landslide_area_m2
    if not large:
        return ContextChoice(None, "one pass (the model does not say how large its landslides are)")
    if card.relative_bands and card.relative_surface != "level":
        # Their scale is the relief left around one tile's plane; a coarse tile spans 4 times the ground and more
        # of the hill's curve, which the network never saw (bench/uav.toml: unseen F1 0.985 one pass, 0.62 fused).
        return ContextChoice(None, "one pass (the model's relative-level bands are scaled for the relief of one "
                                   "tile's ground; a coarse tile covers more)")
    share = large / pixel_area / (tile * tile)
    if share < AUTO_TILE_SHARE:
        return ContextChoice(None, f"one pass (the large training landslides cover {share:.0%} of a tile)")
    return ContextChoice(AUTO_FACTOR, f"a coarse pass at 1/{AUTO_FACTOR:g} of the resolution: the large training "
                                      f"landslides ({large:.0f} m2) cover {share:.0%} of a {tile} px tile")


__all__ = ["AUTO_FACTOR", "CONTEXT_MODES", "ContextChoice", "check_context", "choose_context"]

"""Imagery with bands known to be blue, green and red is shown in true colour when added to the map.

QGIS 3.22 paints bands 1, 2, 3 as red, green, blue whatever they hold; LMHLD imagery and patches are stored blue,
green, red, nir (the paper's order), so a new layer would show false colours. A layer gets true colour only when it
is newly added (not read from a project, whose styles are the user's) and has no sidecar style of its own."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsContrastEnhancement,
    QgsMapLayerType,
    QgsMultiBandColorRenderer,
    QgsRaster,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
)

COLOURS = {QgsRaster.RedBand: "red", QgsRaster.GreenBand: "green", QgsRaster.BlueBand: "blue"}


def colour_bands(layer: QgsRasterLayer) -> dict[str, int]:
    """{"red": band, "green": band, "blue": band} from the bands' colour interpretation (or their names)."""
    provider = layer.dataProvider()
    found: dict[str, int] = {}
    for band in range(1, layer.bandCount() + 1):
        colour = COLOURS.get(provider.colorInterpretation(band))
        if colour is None:  # "Band 3: red" -> red
            name = layer.bandName(band).split(":")[-1].strip().lower()
            colour = name if name in ("red", "green", "blue") else None
        if colour and colour not in found:
            found[colour] = band
    return found


def wants_true_colour(layer) -> dict[str, int] | None:
    """The colour bands of a newly added raster that QGIS would paint in the wrong order, else None."""
    if layer.type() != QgsMapLayerType.RasterLayer or layer.bandCount() < 3 or layer.originalXmlProperties():
        return None
    renderer = layer.renderer()
    if renderer is None or renderer.type() != "multibandcolor":
        return None
    if (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) != (1, 2, 3):
        return None
    if Path(layer.source()).with_suffix(".qml").exists():
        return None  # the file has its own style
    found = colour_bands(layer)
    if len(found) < 3 or (found["red"], found["green"], found["blue"]) == (1, 2, 3):
        return None
    return found


def apply_true_colour(layers) -> int:
    """Give newly added rasters with known colour bands a true-colour renderer (2-98 % stretch); returns how many."""
    changed = 0
    for layer in layers:
        found = wants_true_colour(layer)
        if found is None:
            continue
        layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), found["red"], found["green"],
                                                    found["blue"]))
        layer.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum,
                                     QgsRasterMinMaxOrigin.CumulativeCut)
        layer.triggerRepaint()
        changed += 1
    return changed

"""lmhld:stackrasters: an orthophoto and a surface model (any rasters of one place) as one multi-band GeoTIFF."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, optional_number, raster_path


class StackRasters(LmhldAlgorithm):
    RASTERS, PIXEL_SIZE, NAMES, OUTPUT = "RASTERS", "PIXEL_SIZE", "NAMES", "OUTPUT"

    ALG_ID = "stackrasters"
    CLI_FLAGS = (("out", "OUTPUT"), ("raster", "RASTERS"))
    TITLE = "Stack imagery and elevation (one raster per scene)"
    GROUP_ID = "imagery"
    ICON = "stack.svg"
    README_HEADING = "### 0. Imagery — `lmhld:stackrasters`, `lmhld stack`"
    HELP = ("Puts rasters of one place on one grid as a single multi-band GeoTIFF, the scene every other step reads: "
            "typically the orthophoto of a UAV flight, then its surface model (DSM).\n\nThe grid is the first "
            "raster's, or its extent at the chosen pixel size (in its CRS units). The other rasters are warped onto "
            "it (another CRS too): interpolated where their pixels are as large or larger, averaged where they are "
            "finer. Every band is kept except alpha bands, which mask their own raster's bands; a pixel one raster "
            "lacks (nodata, alpha, outside its footprint) is nodata in that raster's bands only.\n\nBands keep their "
            "names or colours; a single-band raster is named by its file, as elevation when the name says so "
            "(site_dsm.tif gives dsm), and training then uses its local relief, not its altitude. Band names, when "
            "given, replace those found, one per stacked band in order.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.RASTERS, self.tr("Rasters, in band order (the first gives the grid)"), QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, self.tr("Pixel size (not set: the first raster's)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.0))
        self.addAdvancedParameter(QgsProcessingParameterString(
            self.NAMES, self.tr("Band names, e.g. red,green,blue,dsm"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Stacked scene")))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.stack import stack_rasters

        layers = self.parameterAsLayerList(parameters, self.RASTERS, context)
        if not layers:
            raise QgsProcessingException(self.tr("Choose at least one raster: the image, then the surface model."))
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        names_text = self.parameterAsString(parameters, self.NAMES, context).strip()
        names = [n.strip() for n in names_text.split(",")] if names_text else None
        pixel_size = optional_number(self, parameters, self.PIXEL_SIZE, context)
        with core_errors(self.displayName(), self):
            result = stack_rasters([raster_path(layer) for layer in layers], out, names=names, pixel_size=pixel_size,
                                   progress=FeedbackProgress(feedback, self))
        for i, band in enumerate(result.bands, start=1):
            feedback.pushInfo(self.tr("band {0}: {1} ({2} band {3}{4})").format(
                i, band.name, band.source.name, band.band, f", {band.how}" if band.how else ""))
        for source, band in result.masks:
            feedback.pushInfo(self.tr("mask: {0} band {1} (alpha: nodata where 0, in {0}'s bands)").format(
                source.name, band))
        return {self.OUTPUT: out}

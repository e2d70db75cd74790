"""lmhld:ranktiles: the windows of a probability raster where the model is least sure: label those next."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from .annotation import style_from_text
from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, optional_number, raster_path
from .outputs import layer_destination, safe_stem

SCORES = ["combined", "near", "entropy"]


class RankTiles(LmhldAlgorithm):
    PROBABILITY, WINDOW, STRIDE, THRESHOLD, MARGIN, TOP, SCORE, MIN_VALID = (
        "PROBABILITY", "WINDOW", "STRIDE", "THRESHOLD", "MARGIN", "TOP", "SCORE", "MIN_VALID")
    OUTPUT, N_WINDOWS = "OUTPUT", "N_WINDOWS"

    ALG_ID = "ranktiles"
    CLI_FLAGS = (("out", "OUTPUT"),)
    TITLE = "Rank tiles to label next (model uncertainty)"
    GROUP_ID = "detection"
    ICON = "rank.svg"
    README_HEADING = "### What to label next — `lmhld:ranktiles`, `lmhld rank`"
    HELP = ("Scores every window of a probability raster (from Detect landslides) by the model's uncertainty: the "
            "share of pixels near the threshold (within the uncertainty margin) and the mean binary entropy (1 at p = "
            "0.5). Writes the chosen number of windows, none overlapping another, as polygons with their rank and "
            "scores, so the next hour of annotation goes where the model is least sure. The raster is read in stripes:"
            " any size works. Left at [Create temporary layer], the windows are written beside the probability "
            "raster (NAME_to_label.gpkg), since a temporary folder is deleted when QGIS closes.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer(self.PROBABILITY, self.tr("Landslide probability raster")))
        self.addParameter(QgsProcessingParameterNumber(self.WINDOW, self.tr("Window size (pixels)"),
                                                       QgsProcessingParameterNumber.Integer, 128, minValue=2))
        self.addParameter(QgsProcessingParameterNumber(self.STRIDE,
                                                       self.tr("Window step, px (not set: window size)"),
                                                       QgsProcessingParameterNumber.Integer, optional=True,
                                                       minValue=1))
        self.addParameter(QgsProcessingParameterNumber(self.THRESHOLD,
                                                       self.tr("The model's threshold (not set: the raster's)"),
                                                       QgsProcessingParameterNumber.Double, optional=True,
                                                       minValue=0, maxValue=1))
        self.addParameter(QgsProcessingParameterNumber(self.MARGIN, self.tr("Uncertain within (probability)"),
                                                       QgsProcessingParameterNumber.Double, 0.1, minValue=0.001,
                                                       maxValue=1))
        self.addParameter(QgsProcessingParameterNumber(self.TOP, self.tr("Number of windows"),
                                                       QgsProcessingParameterNumber.Integer, 20, minValue=1))
        self.addParameter(QgsProcessingParameterEnum(
            self.SCORE, self.tr("Rank by"),
            [self.tr("both measures"), self.tr("share near the threshold"), self.tr("mean entropy")],
            defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(self.MIN_VALID,
                                                       self.tr("Skip windows with less valid pixels than"),
                                                       QgsProcessingParameterNumber.Double, 0.5, minValue=0,
                                                       maxValue=1))
        self.addParameter(QgsProcessingParameterVectorDestination(self.OUTPUT, self.tr("Windows to label next"),
                                                                  QgsProcessing.TypeVectorPolygon))
        self.addOutput(QgsProcessingOutputNumber(self.N_WINDOWS, self.tr("Windows scored")))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.rank import RankOptions, rank_tiles, tiles_style

        with core_errors(self.displayName(), self):
            prob = raster_path(self.parameterAsRasterLayer(parameters, self.PROBABILITY, context))
        # left at temporary: beside the probability raster (a temporary folder is deleted when QGIS closes)
        default = Path(prob).parent / f"{safe_stem(Path(prob).stem)}_to_label.gpkg"
        out = layer_destination(self, parameters, self.OUTPUT, context, default).path
        if not out.lower().endswith(".gpkg"):
            raise QgsProcessingException(self.tr("The output must be a GeoPackage (.gpkg), got {0}").format(out))
        options = RankOptions(
            window=self.parameterAsInt(parameters, self.WINDOW, context),
            stride=optional_number(self, parameters, self.STRIDE, context, as_int=True),
            threshold=optional_number(self, parameters, self.THRESHOLD, context),
            margin=self.parameterAsDouble(parameters, self.MARGIN, context),
            top=self.parameterAsInt(parameters, self.TOP, context),
            score=SCORES[self.parameterAsEnum(parameters, self.SCORE, context)],
            min_valid=self.parameterAsDouble(parameters, self.MIN_VALID, context))
        with core_errors(self.displayName(), self):
            result = rank_tiles(prob, out, options, progress=FeedbackProgress(feedback, self))
        for t in result.tiles[:5]:
            feedback.pushInfo(self.tr("#{0}: score {1:.3f} (near threshold {2:.0%}, entropy {3:.3f})").format(
                t.rank, t.score, t.near_share, t.entropy))
        style_from_text(context, out, tiles_style())
        return {self.OUTPUT: out, self.N_WINDOWS: result.n_windows}

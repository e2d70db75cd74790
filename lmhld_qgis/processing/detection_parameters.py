"""Detection's settings (threshold, windows, post-processing, bands, device) as advanced parameters, shared by Detect
landslides and Evaluate landslide model: a scene evaluated with a detection's settings is scored on the polygons that
detection delivers, so a chain of the two in a model reports on what it hands over."""

from __future__ import annotations

from typing import ClassVar

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .common import optional_number

PROVIDERS = ("auto", "cpu", "cuda")
TTA = ("none", "flips", "d4")  # core.tta.TTA_MODES, in the order of the dialog's choices
CONTEXT = ("auto", "off", "2", "3", "4")  # core.context.CONTEXT_MODES, in the order of the dialog's choices


class DetectionParameters:
    """Mixed into an LmhldAlgorithm: add_detection_parameters() in initAlgorithm, detection_options() to run."""

    THRESHOLD = "THRESHOLD"
    OVERLAP = "OVERLAP"
    TILE = "TILE"
    MIN_AREA = "MIN_AREA"
    FILL_HOLES = "FILL_HOLES"
    GROW_THRESHOLD = "GROW_THRESHOLD"
    MIN_MEAN_PROB = "MIN_MEAN_PROB"
    SIMPLIFY = "SIMPLIFY"
    BANDS = "BANDS"
    RESAMPLE = "RESAMPLE"
    TTA = "TTA"
    CONTEXT = "CONTEXT"
    BATCH_SIZE = "BATCH_SIZE"
    PROVIDER = "PROVIDER"

    def add_detection_parameters(self) -> None:
        tr, add = self.tr, self.addAdvancedParameter  # type: ignore[attr-defined]
        double, integer = QgsProcessingParameterNumber.Double, QgsProcessingParameterNumber.Integer
        for key, label, kind, low, high in (
                (self.THRESHOLD, tr("Threshold (not set: the model's)"), double, 0.0, 1.0),
                (self.OVERLAP, tr("Window overlap, 0-0.99 (not set: model's)"), double, 0.0, 0.99),  # fits the dialog
                (self.TILE, tr("Window size, px (not set: the model's)"), integer, 1, None),
                (self.MIN_AREA, tr("Minimum area, m² (not set: the model's)"), double, 0.0, None),
                (self.FILL_HOLES, tr("Fill holes below, m² (not set: min. area)"), double, 0.0, None),
                (self.GROW_THRESHOLD, tr("Grow down to probability (not set: off)"), double, 0.0, 1.0),
                (self.MIN_MEAN_PROB, tr("Min. mean probability (not set: auto)"), double, 0.0, 1.0)):
            add(QgsProcessingParameterNumber(key, label, kind, optional=True, minValue=low,
                                             **({} if high is None else {"maxValue": high})))
        add(QgsProcessingParameterNumber(self.SIMPLIFY, tr("Simplify, map units (0: pixel outlines)"), double, 0.0,
                                         minValue=0.0))
        add(QgsProcessingParameterString(self.BANDS, tr("Bands in the model's order, e.g. 3,2,1,4"), optional=True))
        add(QgsProcessingParameterBoolean(self.RESAMPLE, tr("Resample to the model's resolution"), defaultValue=True))
        add(QgsProcessingParameterEnum(self.TTA, tr("Test-time augmentation"), [
            tr("None"), tr("Flips (4 per window)"), tr("Flips and rotations (8 per window)")], defaultValue=0))
        add(QgsProcessingParameterEnum(self.CONTEXT, tr("Coarse context pass"), [
            tr("Automatic (large landslides)"), tr("Off"), tr("Pixels 2 times larger"), tr("Pixels 3 times larger"),
            tr("Pixels 4 times larger")], defaultValue=0))
        add(QgsProcessingParameterNumber(self.BATCH_SIZE, tr("Windows per batch"), integer, 8, minValue=1))
        add(QgsProcessingParameterEnum(self.PROVIDER, tr("Run on"), [
            tr("Automatic: a GPU when there is one"), tr("CPU"), tr("GPU (CUDA)")], defaultValue=0))

    def detection_options(self, parameters: dict, context, **extra):
        """The core's DetectOptions from these parameters (those not set: the model's), with `extra` (an extent,
        an area of interest)."""
        from ..core.bands import parse_band_list
        from ..core.detect import DetectOptions

        def value(key: str, as_int: bool = False):
            return optional_number(self, parameters, key, context, as_int)

        as_int, as_double = self.parameterAsInt, self.parameterAsDouble  # type: ignore[attr-defined]
        as_enum, as_bool = self.parameterAsEnum, self.parameterAsBool  # type: ignore[attr-defined]
        return DetectOptions(  # a number not set is None: the model's
            tile=value(self.TILE, as_int=True), overlap=value(self.OVERLAP), threshold=value(self.THRESHOLD),
            batch_size=as_int(parameters, self.BATCH_SIZE, context),
            simplify=as_double(parameters, self.SIMPLIFY, context),
            provider=PROVIDERS[as_enum(parameters, self.PROVIDER, context)],
            bands=parse_band_list(self.parameterAsString(parameters, self.BANDS, context)),  # type: ignore[attr-defined]
            resample=as_bool(parameters, self.RESAMPLE, context),
            tta=TTA[as_enum(parameters, self.TTA, context)], grow_threshold=value(self.GROW_THRESHOLD),
            min_mean_prob=value(self.MIN_MEAN_PROB), context=CONTEXT[as_enum(parameters, self.CONTEXT, context)],
            min_area_m2=value(self.MIN_AREA), fill_holes_m2=value(self.FILL_HOLES), **extra)

    # DetectOptions field -> the parameter that sets it (scene_only_given names them)
    FIELD_PARAMETERS: ClassVar[dict[str, str]] = {
        "tile": "TILE", "overlap": "OVERLAP", "batch_size": "BATCH_SIZE", "simplify": "SIMPLIFY", "bands": "BANDS",
        "resample": "RESAMPLE", "tta": "TTA", "grow_threshold": "GROW_THRESHOLD", "min_mean_prob": "MIN_MEAN_PROB",
        "context": "CONTEXT", "min_area_m2": "MIN_AREA", "fill_holes_m2": "FILL_HOLES"}

    def scene_only_given(self, parameters: dict, context) -> list[str]:
        """The detection parameters set away from their defaults that only a scene uses (all but the threshold and
        Run on), by their dialog labels: scoring dataset patches ignored them without a word."""
        given, default = self.detection_options(parameters, context), self.detection_options({}, context)
        keys = {key for name, key in self.FIELD_PARAMETERS.items() if getattr(given, name) != getattr(default, name)}
        return [d.description() for d in self.parameterDefinitions()  # type: ignore[attr-defined]  # dialog order
                if d.name() in keys]

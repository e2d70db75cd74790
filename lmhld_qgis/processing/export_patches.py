"""lmhld:exportpatches: training patches from rasters and a landslide inventory (LMHLD sec. 2.3)."""

from __future__ import annotations

import shutil
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ..core.splits import SPLIT_NAMES
from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, layer_origin, required_source
from .outputs import folder_destination, is_skipped, is_temporary, load_when_asked, safe_stem
from .patch_parameters import PatchPlanParameters
from .styling import ResultLayer


class ExportPatches(PatchPlanParameters, LmhldAlgorithm):
    NAME, SENSOR, DATE, OVERWRITE = "NAME", "SENSOR", "DATE", "OVERWRITE"
    OUTPUT_FOLDER, OUTPUT_FOOTPRINTS, OUTPUT_JSON = "OUTPUT_FOLDER", "OUTPUT_FOOTPRINTS", "OUTPUT_JSON"
    N_TRAIN, N_VAL, N_TEST = "N_TRAIN", "N_VAL", "N_TEST"  # patches per split (SPLIT_NAMES' order)

    ALG_ID = "exportpatches"
    CLI_FLAGS = (("out", "OUTPUT_FOLDER"), ("raster", "RASTERS"))
    GROUP_ID = "patches"
    ICON = "export.svg"
    README_HEADING = ("### 2. Patch export — `lmhld:exportpatches`, `lmhld export`; preview — `lmhld:previewpatches`, "
                      "`lmhld preview`")

    def displayName(self) -> str:
        return self.tr("Export training patches")

    def shortHelpString(self) -> str:
        return self.tr(
            "Cuts training patches from the imagery where the inventory has landslides, writes their masks and "
            "splits them into training, validation and test sets. Preview training patches shows, with the same "
            "values, which windows are kept and why.\n\n") + self.tr(self.PLAN_HELP) + self.tr(
            "\n\nThe dataset folder holds dataset.json, img/, mask/, splits/ and patches.gpkg (the patch outlines, "
            "coloured by set, loaded on the map). Left at [Save to temporary folder], it is created beside the "
            "inventory instead, since a temporary folder is deleted when QGIS closes.")

    def initAlgorithm(self, config=None) -> None:
        self.add_plan_parameters()
        self.addAdvancedParameter(QgsProcessingParameterString(self.NAME, self.tr("Area name"), optional=True))
        self.addAdvancedParameter(QgsProcessingParameterString(self.SENSOR, self.tr("Sensor"), optional=True))
        self.addAdvancedParameter(QgsProcessingParameterDateTime(
            self.DATE, self.tr("Image date"), QgsProcessingParameterDateTime.Date, optional=True))
        self.addAdvancedParameter(QgsProcessingParameterBoolean(
            self.OVERWRITE, self.tr("Replace a non-empty dataset folder"), defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Dataset folder (temporary → beside inventory)")))
        # a destination, so that QGIS decides whether it is loaded (the dialog's "Open output file", batch mode's
        # "Load layers on completion", a model's outputs); an output of another kind was loaded every time
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT_FOOTPRINTS, self.tr("Patch outlines (temporary → in the dataset)"),
            QgsProcessing.TypeVectorPolygon, optional=True))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_JSON, self.tr("Dataset card (dataset.json)")))
        for key, label in ((self.N_TRAIN, self.tr("Training patches")), (self.N_VAL, self.tr("Validation patches")),
                           (self.N_TEST, self.tr("Test patches"))):
            self.addOutput(QgsProcessingOutputNumber(key, label))

    def checkParameterValues(self, parameters, context):
        ok, message = self.check_patch_size(parameters)
        return (ok, message) if not ok else super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.export import export_patches

        date = self.parameterAsDateTime(parameters, self.DATE, context)
        with core_errors(self.displayName(), self):
            rasters, polygons, options = self.plan_inputs(
                parameters, context, name=self.parameterAsString(parameters, self.NAME, context),
                sensor=self.parameterAsString(parameters, self.SENSOR, context),
                date=date.date().toString("yyyy-MM-dd") if date.isValid() else "",
                overwrite=self.parameterAsBool(parameters, self.OVERWRITE, context))
            source = required_source(self, parameters, self.INVENTORY, context)
            out = folder_destination(self, parameters, self.OUTPUT_FOLDER, context,
                                     self._default_folder(parameters, context, source, options.patch_size)).path
            report = export_patches(rasters, polygons, out, options, progress=FeedbackProgress(feedback, self))
        feedback.pushInfo(self.tr("Dataset: {0}").format(report.out_dir))
        footprints = self._footprints(parameters, context, report.out_dir / "patches.gpkg", report.card["name"])
        return {self.OUTPUT_FOLDER: str(report.out_dir), self.OUTPUT_FOOTPRINTS: footprints,
                self.OUTPUT_JSON: str(report.out_dir / "dataset.json"),
                **{key: report.counts.get(split, 0) for key, split in zip(
                    (self.N_TRAIN, self.N_VAL, self.N_TEST), SPLIT_NAMES, strict=True)}}

    def _default_folder(self, parameters, context, source, patch_size: int) -> Path:
        """Beside the inventory file: <inventory>_patches_<size>px (or in the home folder for a non-file layer)."""
        origin = layer_origin(self, parameters, self.INVENTORY, context)
        path = Path(origin[0]) if origin is not None else None
        folder = path.parent if path is not None and path.parent.is_dir() else Path.home()
        stem = safe_stem(path.stem if path is not None else source.sourceName())
        return folder / f"{stem}_patches_{patch_size}px"

    def _footprints(self, parameters, context, inside: Path, name: str) -> str:
        """The patch outlines: the dataset folder's patches.gpkg, or a copy of it where the user chose a file;
        loaded, named and styled where QGIS was asked to load the output."""
        from ..core.atomic import atomic_file
        from ..core.styles import PATCHES_QML

        value = parameters.get(self.OUTPUT_FOOTPRINTS)
        if is_temporary(value) or is_skipped(value):
            footprints = str(inside) + "|layername=patches"
            load_when_asked(self, parameters, self.OUTPUT_FOOTPRINTS, context, footprints,
                            self.tr("Patches — {0}").format(name))
        else:
            footprints = self.parameterAsOutputLayer(parameters, self.OUTPUT_FOOTPRINTS, context)
            if not footprints.lower().endswith(".gpkg"):
                raise QgsProcessingException(self.tr("Patch outlines must be a GeoPackage (.gpkg), got {0}; the "
                                                     "dataset folder holds them anyway (patches.gpkg)").format(
                                                         footprints))
            with core_errors(self.displayName(), self), atomic_file(footprints) as tmp:
                shutil.copyfile(inside, tmp)
        ResultLayer.attach(context, footprints, self.tr("Patches — {0}").format(name), str(PATCHES_QML))
        return footprints

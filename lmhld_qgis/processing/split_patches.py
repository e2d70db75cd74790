"""lmhld:splitpatches: a folder of patches as released (CAS, image/mask folders, Landslide4Sense) divided into
train, val and test (`lmhld split`)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from ..core.splits import SPLIT_NAMES
from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors
from .outputs import folder_destination, safe_stem


class SplitPatches(LmhldAlgorithm):
    FOLDER, TOLERANCE, SEED, OVERWRITE = "FOLDER", "TOLERANCE", "SEED", "OVERWRITE"
    TRAIN_SHARE, VAL_SHARE, TEST_SHARE = "TRAIN_SHARE", "VAL_SHARE", "TEST_SHARE"  # as Export training patches
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    N_TRAIN, N_VAL, N_TEST = "N_TRAIN", "N_VAL", "N_TEST"  # patches per split (SPLIT_NAMES' order)

    ALG_ID = "splitpatches"
    CLI_FLAGS = (("out", "OUTPUT_FOLDER"),)
    TITLE = "Split a patch folder (CAS, Landslide4Sense) into train, validation and test"
    GROUP_ID = "patches"
    ICON = "split.svg"
    README_HEADING = "### Splitting a released patch folder — `lmhld:splitpatches`, `lmhld split`"
    HELP = ("Divides a folder of patches as released, which says nothing of which patches are held out (a CAS "
            "sub-dataset's img/ + mask/, images/ + masks/, a flat Landslide4Sense folder), into training, "
            "validation and test sets with the paper's split: the landslide-pixel proportions of the sets agree "
            "within the tolerance. The new folder holds links to the source's files (copies where the disk cannot "
            "link) in train/, val/ and test/ and split.csv; the source is not changed. Training, evaluation and "
            "experiments then have a test set training never saw.\n\n"
            "Left at [Save to temporary folder], the split folder is created beside the source instead, since a "
            "temporary folder is deleted when QGIS closes.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile(self.FOLDER, self.tr("Patch folder"),
                                                     behavior=QgsProcessingParameterFile.Folder))
        for key, label, share in ((self.TRAIN_SHARE, self.tr("Training share"), 0.7),
                                  (self.VAL_SHARE, self.tr("Validation share"), 0.2),
                                  (self.TEST_SHARE, self.tr("Test share"), 0.1)):
            self.addParameter(QgsProcessingParameterNumber(key, label, QgsProcessingParameterNumber.Double, share,
                                                           minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.TOLERANCE, self.tr("Tolerance of landslide shares"), QgsProcessingParameterNumber.Double, 0.01,
            minValue=0.0, maxValue=1.0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(self.SEED, self.tr("Random seed of the split"),
                                                               QgsProcessingParameterNumber.Integer, 0, minValue=0))
        self.addAdvancedParameter(QgsProcessingParameterBoolean(
            self.OVERWRITE, self.tr("Replace a split folder written before"), defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Split folder (temporary → beside the source)")))
        for key, label in ((self.N_TRAIN, self.tr("Training patches")), (self.N_VAL, self.tr("Validation patches")),
                           (self.N_TEST, self.tr("Test patches"))):
            self.addOutput(QgsProcessingOutputNumber(key, label))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.split_folder import split_folder
        from ..core.splits import parse_ratios

        folder = Path(self.parameterAsFile(parameters, self.FOLDER, context))
        if not folder.is_dir():
            raise QgsProcessingException(self.tr("Patch folder {0} does not exist: choose the folder that holds the "
                                                 "patches (img/ and mask/ for CAS)").format(folder))
        with core_errors(self.displayName(), self):
            ratios = parse_ratios([self.parameterAsDouble(parameters, key, context)
                                   for key in (self.TRAIN_SHARE, self.VAL_SHARE, self.TEST_SHARE)])
            out = folder_destination(self, parameters, self.OUTPUT_FOLDER, context,
                                     folder.parent / f"{safe_stem(folder.name)}_split").path
            result = split_folder(folder, out, ratios=ratios,
                                  tolerance=self.parameterAsDouble(parameters, self.TOLERANCE, context),
                                  seed=self.parameterAsInt(parameters, self.SEED, context),
                                  overwrite=self.parameterAsBool(parameters, self.OVERWRITE, context),
                                  progress=FeedbackProgress(feedback, self))
        feedback.pushInfo(result.describe())
        return {self.OUTPUT_FOLDER: str(result.path),
                **{key: result.split.counts[split] for key, split in zip(
                    (self.N_TRAIN, self.N_VAL, self.N_TEST), SPLIT_NAMES, strict=True)}}

"""lmhld:trainmodel: training in a child process (`lmhld train --progress-json`, see `child`). Progress reaches the
feedback; cancel stops the child within one batch and keeps last.pt; the run's HTML report (with its curves) opens
in the results viewer at the end."""

from __future__ import annotations

import math
import time
from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .. import PLUGIN_NAME
from .base import LmhldAlgorithm
from .child import lmhld_child, run_child
from .common import core_errors
from .outputs import folder_destination, is_temporary, safe_stem
from .parameters import folder_list, folder_list_parameter, folder_list_value

MODES = ("single", "mix", "part")
DEVICES = ("auto", "cpu", "cuda")
RECIPES = ("default", "paper")
OPTIMIZERS = ("sgd", "adam", "adamw")
LOSSES = ("bce_dice", "bce", "ce", "focal", "tversky", "focal_tversky")
SCHEDULES = ("cosine", "exponential", "constant")
AUGMENTS = (None, "strong", "flips", "none")  # None: the recipe's
AMP = ("auto", "bf16", "off")


class TrainModel(LmhldAlgorithm):
    DATA = "DATA"
    INIT_FROM = "INIT_FROM"
    MODEL_NAME = "MODEL_NAME"
    MODE = "MODE"
    EPOCHS = "EPOCHS"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    RESUME = "RESUME"
    WIDTH = "WIDTH"
    OPTIMIZER = "OPTIMIZER"
    LEARNING_RATE = "LEARNING_RATE"
    LOSS = "LOSS"
    WORKERS = "WORKERS"
    GPU = "GPU"
    PROCESSES = "PROCESSES"
    AMP = "AMP"
    AUGMENT = "AUGMENT"
    RECIPE = "RECIPE"
    SCHEDULE = "SCHEDULE"
    EARLY_STOPPING = "EARLY_STOPPING"
    THRESHOLD = "THRESHOLD"
    RELATIVE_BANDS = "RELATIVE_BANDS"
    SEED = "SEED"
    CHECKPOINT_EVERY = "CHECKPOINT_EVERY"
    MODEL_OPTIONS = "MODEL_OPTIONS"
    CONFIG = "CONFIG"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    MODEL_ONNX = "MODEL_ONNX"
    REPORT = "REPORT"
    BEST_F1 = "BEST_F1"
    BEST_CHECKPOINT = "BEST_CHECKPOINT"

    ALG_ID = "trainmodel"
    CLI_FLAGS = (("out", "OUTPUT_FOLDER"), ("model", "MODEL_NAME"), ("lr", "LEARNING_RATE"),
                 ("model-option", "MODEL_OPTIONS"))
    GROUP_ID = "training"
    ICON = "train.svg"
    README_HEADING = "### 3. Training — `lmhld:trainmodel`, `lmhld train`"

    def displayName(self) -> str:
        return self.tr("Train landslide model")

    def shortHelpString(self) -> str:
        return self.tr(
            "Trains a network of the U-Net family (or a baseline: FCN-8s, DeepLab-v3+, LinkNet, PSPNet, FPN) on "
            "dataset folders written by Export training patches (or Landslide4Sense, CAS, image/mask folders).\n\n"
            "Mode: single trains on one dataset; mix on all datasets together; part on one dataset after another, "
            "the LMHLD paper's serialized training.\n\n"
            f"Training runs in a separate Python process that needs torch (Plugins > {PLUGIN_NAME} > Python "
            "dependencies). Cancel stops it within one batch and keeps last.pt and best.pt: tick \"Continue the "
            "stopped run in the folder\" to go on later, or export best.pt with Export a training checkpoint as a "
            "model file to detect with the best epoch so far.\n\n"
            "Recipe: the default one generalises to unseen areas: AdamW with a warm-up epoch then cosine decay, "
            "binary cross-entropy + Dice, strong augmentation (flips, rotations, scale, band gain, contrast, blur, "
            "noise), best weights by validation F1 with early stopping after 10 epochs without progress, and the "
            "detection threshold calibrated on the validation set. The paper's recipe is LMHLD's: SGD 0.01 with "
            "momentum, exponential decay, flips and rotations, 50 epochs, batch 16, threshold 0.5. Batch size not "
            "set: 16, or as few as 4 when the training set is small, so that each epoch still makes about 20 "
            "steps.\n\n"
            "Advanced options not set take the configuration file's value, else the recipe's; options set here "
            "override both. Network, Mode and Epochs left at their defaults take the configuration file's values "
            "too, and so do Dataset folders left empty (a relative folder in the file is relative to the file). "
            "Early stopping at 0 never stops early. Relative-level bands (1-based, e.g. 4; none for "
            "none) lose each patch's best-fit plane, as a surface model (DSM/DEM) should: the network then sees "
            "local relief, not altitude or hillslope, and an unseen area at another altitude is no surprise; not "
            "set, bands named as elevation or "
            "whose level varies between patches far more than within them are chosen. Mixed precision is bfloat16 "
            "on a GPU only; last.pt is saved every 5 minutes, at the end of the run and when it is stopped (Cancel "
            "loses at most the current batch), or every N batches when asked. Processes above one train on as "
            "many GPUs of this machine at once (PyTorch DDP; the batch size is split among them). Fine-tune from a "
            "checkpoint starts from a trained network's weights (same network and width) instead of random "
            "ones: a few epochs after adding the detections rejected in the review dock as negatives, or on a "
            "new area, at a lower learning rate (e.g. 0.0003).\n\n"
            "The run folder receives model.onnx (for Detect landslides), best.pt, last.pt, metrics.csv, curves.png "
            "and report.html. Left at [Save to temporary folder], it is created in runs/ beside the first dataset "
            "instead, since a temporary folder is deleted when QGIS closes.")

    def initAlgorithm(self, config=None) -> None:
        from ..models.registry import MODEL_NAMES, TITLES

        self.addParameter(folder_list_parameter(
            self.DATA, self.tr("Dataset folders (in order for part mode)"), optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.MODEL_NAME, self.tr("Network"), [f"{TITLES[n]} ({n})" for n in MODEL_NAMES], defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            self.MODE, self.tr("Mode"), [self.tr("Single: one dataset"), self.tr("Mix: all datasets at once"),
                                         self.tr("Part: one dataset after another")], defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            self.RECIPE, self.tr("Recipe"), [self.tr("Generalise to unseen areas (default)"),
                                             self.tr("The LMHLD paper's")], defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.EPOCHS, self.tr("Epochs (per dataset in part mode)"), QgsProcessingParameterNumber.Integer, 50,
            minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.BATCH_SIZE, self.tr("Batch size (not set: automatic)"), QgsProcessingParameterNumber.Integer,
            optional=True, minValue=1))
        self.addParameter(QgsProcessingParameterEnum(
            self.DEVICE, self.tr("Device"), [self.tr("Automatic: a GPU when there is one"), self.tr("CPU"),
                                             self.tr("GPU (CUDA)")], defaultValue=0))
        self.addParameter(QgsProcessingParameterBoolean(
            self.RESUME, self.tr("Continue the stopped run in the folder"), defaultValue=False))
        self._add_advanced_parameters()
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Run folder (temporary → runs/ by dataset)")))
        self.addOutput(QgsProcessingOutputFile(self.MODEL_ONNX, self.tr("Model (ONNX)")))
        self.addOutput(QgsProcessingOutputFile(self.BEST_CHECKPOINT, self.tr("Best checkpoint (best.pt)")))
        self.addOutput(QgsProcessingOutputHtml(self.REPORT, self.tr("Training report")))
        self.addOutput(QgsProcessingOutputNumber(self.BEST_F1, self.tr("Best validation F1 (empty without "
                                                                       "validation)")))

    def _add_advanced_parameters(self) -> None:
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.GPU, self.tr("GPU number (not set: the first)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.PROCESSES, self.tr("Processes, one per GPU (not set: one)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=1))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.WORKERS, self.tr("Data loading processes"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=0))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.OPTIMIZER, self.tr("Optimizer (not set: the recipe's)"),
            [self.tr("SGD with momentum"), self.tr("Adam"), self.tr("AdamW")], optional=True))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.LEARNING_RATE, self.tr("Learning rate (not set: the recipe's)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=1e-9, maxValue=10.0))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.SCHEDULE, self.tr("Schedule (not set: the recipe's)"),
            [self.tr("Warm-up then cosine decay"), self.tr("Exponential decay"), self.tr("Constant")],
            optional=True))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.LOSS, self.tr("Loss (not set: the recipe's)"),
            [self.tr("Binary cross-entropy + Dice"), self.tr("Binary cross-entropy"),
             self.tr("Two-class cross-entropy"), self.tr("Focal"), self.tr("Tversky"), self.tr("Focal Tversky")],
            optional=True))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.EARLY_STOPPING, self.tr("Early stopping, epochs (not set: recipe's)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.THRESHOLD, self.tr("Threshold in the model (not set: recipe's)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.0, maxValue=1.0))
        self.addAdvancedParameter(QgsProcessingParameterString(
            self.RELATIVE_BANDS, self.tr("Relative-level bands (not set: auto)"), optional=True))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.AMP, self.tr("Mixed precision (not set: auto)"),
            [self.tr("Automatic"), self.tr("bfloat16"), self.tr("Off")], optional=True))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.WIDTH, self.tr("Base width (not set: network's own)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=1))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.AUGMENT, self.tr("Augmentation"),
            [self.tr("The recipe's"), self.tr("Strong (geometry and radiometry)"),
             self.tr("Flips and rotations"), self.tr("None")], defaultValue=0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Random seed"), QgsProcessingParameterNumber.Integer, optional=True,
            minValue=0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.CHECKPOINT_EVERY, self.tr("Save last.pt every N batches"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=1))
        self.addAdvancedParameter(QgsProcessingParameterString(
            self.MODEL_OPTIONS, self.tr("Network options (KEY=VALUE; …)"),
            optional=True))
        self.addAdvancedParameter(QgsProcessingParameterFile(
            self.INIT_FROM, self.tr("Fine-tune from a checkpoint (best.pt)"), optional=True,
            fileFilter=self.tr("Training checkpoints (*.pt)")))
        self.addAdvancedParameter(QgsProcessingParameterFile(
            self.CONFIG, self.tr("Configuration file (TOML/YAML)"), optional=True,
            fileFilter=self.tr("Configuration files (*.toml *.yaml *.yml)")))

    def processAlgorithm(self, parameters, context, feedback):
        from ..models.registry import MODEL_NAMES

        config = self.parameterAsFile(parameters, self.CONFIG, context)
        in_file = self._config_values(config)
        data = folder_list_value(self, parameters, self.DATA, context)
        if not data and in_file.get("data"):
            data = [str(_beside(config, d)) for d in _as_list(in_file["data"])]
            feedback.pushInfo(self.tr("Dataset folders from the configuration file: {0}").format("; ".join(data)))
        if not data:
            raise QgsProcessingException(self.tr("Choose at least one dataset folder."))
        for folder in data:  # before a child process starts: a missing folder is a typo, said in the dialog's words
            if not Path(folder).exists():
                raise QgsProcessingException(self.tr(
                    "Dataset folder {0} does not exist: choose a folder written by Export training patches"
                ).format(folder))
            if Path(folder).is_file():  # dataset.json, a scene: told as evaluation tells it (a folder: the child)
                with core_errors(self.tr("Training"), self):
                    from ..core.datasets.detect import detect_format

                    detect_format(folder)
        network = MODEL_NAMES[self.parameterAsEnum(parameters, self.MODEL_NAME, context)]
        mode = MODES[self.parameterAsEnum(parameters, self.MODE, context)]
        epochs = self.parameterAsInt(parameters, self.EPOCHS, context)
        chosen = {"model": network, "mode": mode, "epochs": epochs}
        taken = self._from_file(chosen, in_file, feedback)  # the file's, where the dialog's are its defaults
        network, mode = str(taken.get("model", network)), str(taken.get("mode", mode))  # the child checks them
        epochs = taken.get("epochs", epochs)
        resume = self.parameterAsBool(parameters, self.RESUME, context)
        if resume and is_temporary(parameters.get(self.OUTPUT_FOLDER)):
            raise QgsProcessingException(self.tr("To continue a run, choose its run folder."))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        default = Path(data[0]).parent / "runs" / f"{safe_stem(Path(data[0]).name)}_{network}_{mode}_{stamp}"
        out = folder_destination(self, parameters, self.OUTPUT_FOLDER, context, default).path
        if resume and isinstance(epochs, int):
            epochs = self._continued(out, network, mode, epochs, feedback)
        args = ["--out", out]
        for key, flag, value in (("model", "--model", network), ("mode", "--mode", mode),
                                 ("epochs", "--epochs", str(epochs))):
            if key not in taken or (key == "epochs" and resume):
                args += [flag, value]
        for folder in data:
            args += ["--data", folder]
        args += self._option_args(parameters, context)
        if resume:
            args.append("--resume")
        with core_errors(self.displayName(), self):
            summary = run_child(lmhld_child("train", *args), feedback, what=self.tr("training"), alg=self,
                                on_cancel=lambda: self._kept(out))
        feedback.pushInfo(self.tr("Run folder: {0}").format(out))
        best = str(Path(out) / "best.pt")
        model = summary.get("onnx")
        if not model:  # the export failed (the log says why): the checkpoint runs too, where torch is installed
            feedback.pushWarning(self.tr("No ONNX model was written; Model (ONNX) is the checkpoint {0}, which "
                                         "detection runs with torch").format(best))
        f1 = summary.get("best_f1")  # none without validation: empty, not a NaN a graphical model passes on
        return {self.OUTPUT_FOLDER: out, self.MODEL_ONNX: model or best, self.BEST_CHECKPOINT: best,
                self.REPORT: str(Path(out) / "report.html"),
                self.BEST_F1: f1 if isinstance(f1, int | float) and math.isfinite(f1) else None}

    def _config_values(self, config: str) -> dict:
        """The configuration file's [train] table ({} without a file); a file that cannot be read is said here."""
        if not config:
            return {}
        with core_errors(self.tr("Configuration file"), self):
            from ..training.config import read_config_file

            return read_config_file(config)

    def _from_file(self, chosen: dict, in_file: dict, feedback) -> dict:
        """Network, Mode and Epochs must have a value in the dialog, so their defaults were passed on and overrode a
        configuration file's (a file's resunet for 1 epoch trained a U-Net for 50, with the file's recipe): the
        file's value holds where the dialog's is its default, and each choice is said with where it came from."""
        taken = {}
        labels = {"model": self.tr("Network"), "mode": self.tr("Mode"), "epochs": self.tr("Epochs")}
        defaults = {"model": _default_choice(self, self.MODEL_NAME), "mode": MODES[0],
                    "epochs": self.parameterDefinition(self.EPOCHS).defaultValue()}
        for key, value in chosen.items():
            if key not in in_file or in_file[key] == value:
                continue
            if value == defaults[key]:
                taken[key] = in_file[key]
                feedback.pushInfo(self.tr("{0}: {1}, from the configuration file (the dialog's {2} is its default, "
                                          "which the file overrides)").format(labels[key], in_file[key], value))
            else:
                feedback.pushInfo(self.tr("{0}: {1}, set in the dialog over the configuration file's {2}").format(
                    labels[key], value, in_file[key]))
        return taken

    def _kept(self, out: str) -> str:
        """What a cancelled run left, and what to do with it, in the dialog's words."""
        text = self.tr("last.pt is kept in the run folder {0}: tick \"Continue the stopped run in the folder\" to go "
                       "on").format(out)
        if (Path(out) / "best.pt").is_file():
            text += self.tr(", or export best.pt with \"Export a training checkpoint as a model file\" to detect "
                            "with the best epoch so far")
        return text

    def _continued(self, out: str, network: str, mode: str, epochs: int, feedback) -> int:
        """Continue a run with what it is: the command line's advice ("leave it out") has no meaning in a dialog
        whose Network is required, so another network or mode is refused here in the dialog's words; Epochs left
        at its default continues the run's own number (it extended a 3-epoch run to 50 without a word)."""
        import json

        try:
            stored = json.loads((Path(out) / "config.json").read_text())
        except (OSError, ValueError):
            return epochs  # no run there yet, or not one lmhld can read: the child says what it finds
        for what, dialog, run in ((self.tr("Network"), network, stored.get("model")),
                                  (self.tr("Mode"), mode, stored.get("mode"))):
            if run and dialog != run:
                raise QgsProcessingException(self.tr(
                    "The run in {0} trains with {1} {2}, not {3}: a run keeps what it was started with; choose {2} "
                    "to continue it, or another run folder for a new run").format(out, what, run, dialog))
        planned = int(stored.get("epochs") or 0)
        if planned and epochs == self.parameterDefinition(self.EPOCHS).defaultValue() and epochs != planned:
            feedback.pushInfo(self.tr("Continuing the run's own {0} epochs (set Epochs to more to extend it)").format(
                planned))
            return planned
        if planned and epochs > planned:
            feedback.pushWarning(self.tr("Extending the run from {0} to {1} epochs (Epochs)").format(planned, epochs))
        return epochs

    def _option_args(self, parameters, context) -> list[str]:
        """Command-line options for what the user set (what is not set is left to the configuration file)."""
        args: list[str] = []

        def is_set(key: str) -> bool:
            return parameters.get(key) not in (None, "")

        device = DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)]
        processes = self.parameterAsInt(parameters, self.PROCESSES, context) if is_set(self.PROCESSES) else 1
        if processes > 1:
            if is_set(self.GPU):
                raise QgsProcessingException(self.tr(
                    "GPU number picks the GPU of one process; with {0} processes each takes its own (the first {0}): "
                    "clear GPU number, or set Processes to 1").format(processes))
            args += ["--processes", str(processes)]
        if device == "cuda" and is_set(self.GPU):
            device = f"cuda:{self.parameterAsInt(parameters, self.GPU, context)}"
        if device != "auto":  # automatic is the default: a configuration file's device then holds
            args += ["--device", device]
        recipe = RECIPES[self.parameterAsEnum(parameters, self.RECIPE, context)]
        if recipe != RECIPES[0]:  # the default is left unsaid: a configuration file's recipe then holds
            args += ["--recipe", recipe]
        for key, flag, choices in ((self.OPTIMIZER, "--optimizer", OPTIMIZERS), (self.LOSS, "--loss", LOSSES),
                                   (self.SCHEDULE, "--schedule", SCHEDULES), (self.AMP, "--amp", AMP)):
            if is_set(key):
                args += [flag, choices[self.parameterAsEnum(parameters, key, context)]]
        for key, flag in ((self.BATCH_SIZE, "--batch-size"), (self.WORKERS, "--workers"), (self.WIDTH, "--width"),
                          (self.SEED, "--seed"), (self.CHECKPOINT_EVERY, "--checkpoint-every"),
                          (self.EARLY_STOPPING, "--early-stopping")):
            if is_set(key):
                args += [flag, str(self.parameterAsInt(parameters, key, context))]
        if is_set(self.LEARNING_RATE):
            args += ["--lr", repr(self.parameterAsDouble(parameters, self.LEARNING_RATE, context))]
        if is_set(self.THRESHOLD):
            args += ["--threshold", repr(self.parameterAsDouble(parameters, self.THRESHOLD, context))]
        relative = self.parameterAsString(parameters, self.RELATIVE_BANDS, context).strip()
        if relative:
            args += ["--relative-bands", relative]
        augment = AUGMENTS[self.parameterAsEnum(parameters, self.AUGMENT, context)]
        if augment:
            args += ["--augment", augment]
        for option in folder_list(self.parameterAsString(parameters, self.MODEL_OPTIONS, context)):
            args += ["--model-option", option]
        init_from = self.parameterAsFile(parameters, self.INIT_FROM, context)
        if init_from:
            args += ["--init-from", init_from]
        config = self.parameterAsFile(parameters, self.CONFIG, context)
        if config:
            args += ["--config", config]
        return args


def _default_choice(alg: LmhldAlgorithm, name: str) -> str:
    """The network an enum parameter offers by default, by its registry name."""
    from ..models.registry import MODEL_NAMES

    return MODEL_NAMES[int(alg.parameterDefinition(name).defaultValue())]


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _beside(config: str, folder: str) -> Path:
    """A folder a configuration file names, relative to the file (a dialog has no working folder to be relative
    to)."""
    path = Path(folder).expanduser()
    return path if path.is_absolute() else Path(config).parent / path

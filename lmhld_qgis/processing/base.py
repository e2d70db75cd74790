"""What every lmhld algorithm shares: translation, toolbox group, help link, icon, advanced parameters and errors.

Subclasses follow QGIS's own idiom (processing/algs/qgis/QgisAlgorithm.py, ScriptTemplate.py): parameter and
output keys are class constants, every user-visible string goes through self.tr() with a literal, and a missing
source is answered with invalidSourceError.
"""

from __future__ import annotations

import functools
import os
import re

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

import lmhld_qgis

from ..core.gdal_mode import with_gdal_exceptions
from .parameters import parameter_help

HOME = "https://github.com/lmhld-qgis/lmhld_qgis"
GDAL_STEPS = ("checkParameterValues", "prepareAlgorithm", "processAlgorithm", "postProcessAlgorithm")
ICONS = os.path.join(os.path.dirname(lmhld_qgis.__file__), "icons")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading (lower case, punctuation dropped, spaces to hyphens)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lstrip("#").strip().lower())
    return text.replace(" ", "-")


class LmhldAlgorithm(QgsProcessingAlgorithm):
    """Subclasses set ALG_ID, GROUP_ID, ICON (a file in icons/) and README_HEADING (their section of the README),
    and implement displayName, shortHelpString, initAlgorithm and processAlgorithm (an algorithm that only sets
    TITLE and HELP gets them translated as they are)."""

    ALG_ID = GROUP_ID = ICON = README_HEADING = TITLE = HELP = ""
    CLI_FLAGS: tuple[tuple[str, str], ...] = ()  # (the command line's option without dashes, this algorithm's
    # parameter) where the two names differ (the rest match: --init-from is INIT_FROM): see common.in_dialog_terms

    def __init_subclass__(cls, **kwargs) -> None:
        """Each algorithm's steps run with GDAL's exceptions on and give QGIS its own setting back
        (core.gdal_mode: other plugins and QGIS's own Python expect GDAL as they left it)."""
        super().__init_subclass__(**kwargs)
        if "processAlgorithm" in cls.__dict__:
            cls.processAlgorithm = _late_cancel_said(cls.__dict__["processAlgorithm"])  # type: ignore[method-assign]
        for step in GDAL_STEPS:
            if step in cls.__dict__:
                setattr(cls, step, with_gdal_exceptions(cls.__dict__[step]))

    def tr(self, text: str, context: str = "") -> str:
        return QCoreApplication.translate(context or type(self).__name__, text)

    def name(self) -> str:
        return self.ALG_ID

    def displayName(self) -> str:
        return self.tr(self.TITLE)

    def shortHelpString(self) -> str:
        return self.tr(self.HELP)

    def group(self) -> str:
        return group_name(self.GROUP_ID)

    def groupId(self) -> str:
        return self.GROUP_ID

    def helpUrl(self) -> str:
        return f"{HOME}#{github_anchor(self.README_HEADING)}" if self.README_HEADING else HOME

    def icon(self) -> QIcon:
        return QIcon(self.svgIconPath())

    def svgIconPath(self) -> str:
        return os.path.join(ICONS, self.ICON) if self.ICON else os.path.join(os.path.dirname(ICONS), "icon.svg")

    def createInstance(self):
        return type(self)()

    def addParameter(self, parameter: QgsProcessingParameterDefinition, createOutput: bool = True) -> bool:
        """Add `parameter`; a decimal number field shows the decimals its values need instead of QGIS's six, and
        qgis_process help says whether it is optional, its default and its range (parameters.parameter_help)."""
        if isinstance(parameter, QgsProcessingParameterNumber) \
                and parameter.dataType() == QgsProcessingParameterNumber.Double:
            metadata = parameter.metadata()
            wrapper = dict(metadata.get("widget_wrapper") or {})
            wrapper.setdefault("decimals", field_decimals(parameter.defaultValue(), parameter.minimum()))
            parameter.setMetadata({**metadata, "widget_wrapper": wrapper})
        if not parameter.help():
            parameter.setHelp(parameter_help(parameter))
        return super().addParameter(parameter, createOutput)

    def checkParameterValues(self, parameters, context):
        """A file of the wrong kind named with the kinds it takes (QGIS said "Incorrect parameter value for MODEL")."""
        for parameter in self.parameterDefinitions():
            value = parameters.get(parameter.name())
            if not isinstance(parameter, QgsProcessingParameterFile) or not isinstance(value, str) or not value \
                    or parameter.behavior() != QgsProcessingParameterFile.File:
                continue
            kinds = re.findall(r"\*\.(\w+)", parameter.fileFilter()) or [e for e in [parameter.extension()] if e]
            if kinds and os.path.splitext(value)[1].lower().lstrip(".") not in kinds:
                return False, self.tr("{0}: {1} is not a {2} file; choose one").format(
                    parameter.description(), os.path.basename(value), self.tr(" or ").join(f".{k}" for k in kinds))
        return super().checkParameterValues(parameters, context)

    def addAdvancedParameter(self, parameter) -> None:
        """A parameter most runs leave alone: shown folded under "Advanced Parameters" in the dialog."""
        parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
        self.addParameter(parameter)


def _late_cancel_said(process):
    """A Cancel pressed after the outputs were in place: QGIS then reports the run as failed and loads no layer
    (its runner task counts any cancel), while the files are whole; the log says which, so that they are neither
    taken for lost nor left unnoticed."""

    @functools.wraps(process)
    def run(self, parameters, context, feedback):
        results = process(self, parameters, context, feedback)
        if feedback is not None and feedback.isCanceled():
            written = [str(v) for v in (results or {}).values() if isinstance(v, str) and v and os.path.exists(v)]
            if written:
                feedback.pushWarning(QCoreApplication.translate("LmhldAlgorithm", (
                    "Cancel came after the run had written its outputs, which are complete: {0}. QGIS reports the "
                    "run as failed and loads no layer: add them from the Browser panel, or delete them")).format(
                    ", ".join(written)))
        return results

    return run


def field_decimals(*values: object, least: int = 2, most: int = 6) -> int:
    """The decimals a number field needs to show `values` (its default, its least value) exactly: 0.05 -> 2,
    0.001 -> 3; at least `least`, at most `most`."""
    needed = least
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < abs(value) < 1e6:
            digits = f"{abs(value):.{most}f}".rstrip("0").split(".")[1]
            needed = max(needed, len(digits) if abs(float(value)) >= 10 ** -most else most)
    return min(needed, most)


def group_name(group_id: str) -> str:
    """One group per step of the workflow, numbered so that the toolbox lists them in the order they are used."""
    names = {"imagery": QCoreApplication.translate("LmhldAlgorithm", "0 - Imagery"),
             "inventory": QCoreApplication.translate("LmhldAlgorithm", "1 - Inventory"),
             "patches": QCoreApplication.translate("LmhldAlgorithm", "2 - Training patches"),
             "training": QCoreApplication.translate("LmhldAlgorithm", "3 - Training"),
             "evaluation": QCoreApplication.translate("LmhldAlgorithm", "4 - Evaluation"),
             "detection": QCoreApplication.translate("LmhldAlgorithm", "5 - Detection")}
    return names[group_id]

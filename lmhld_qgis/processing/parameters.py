"""Parameter types QGIS 3.22 lacks, built from the ones it has (so qgis_process, batch and the modeler read them)."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterString

FOLDER_LIST_WRAPPER = "lmhld_qgis.ui.folder_list.FolderListWidgetWrapper"


def folder_list_parameter(name: str, description: str, optional: bool = False) -> QgsProcessingParameterString:
    """Several folders, in order: a text value (one folder per line, or separated by ;) that the algorithm
    dialog shows as a list with a folder picker."""
    parameter = QgsProcessingParameterString(name, description, multiLine=True, optional=optional)
    parameter.setMetadata({"widget_wrapper": {"class": FOLDER_LIST_WRAPPER}})
    return parameter


def folder_list(value) -> list[str]:
    """The folders of a folder-list value: text (one per line or separated by ';'), or a list of such texts (a
    model's sources, a parameter given several times to qgis_process)."""
    if isinstance(value, list | tuple):
        return [d for v in value for d in folder_list(v)]
    return [d.strip() for line in str(value or "").splitlines() for d in line.split(";") if d.strip()]


def folder_list_value(alg, parameters: dict, name: str, context) -> list[str]:
    """The folders of a folder-list parameter as the algorithm received it (a list stays a list: QGIS's string
    conversion would lose it)."""
    value = parameters.get(name)
    if isinstance(value, list | tuple):
        return folder_list(value)
    return folder_list(alg.parameterAsString(parameters, name, context))

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

"""Parameter types QGIS 3.22 lacks, built from the ones it has (so qgis_process, batch and the modeler read them),
and the help qgis_process prints for each parameter."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

FOLDER_LIST_WRAPPER = "lmhld_qgis.ui.folder_list.FolderListWidgetWrapper"


def folder_list_parameter(name: str, description: str, optional: bool = False) -> QgsProcessingParameterString:
    """Several folders, in order: a text value (one folder per line, or separated by ;) that the algorithm
    dialog shows as a list with a folder picker."""
    parameter = QgsProcessingParameterString(name, description, multiLine=True, optional=optional)
    parameter.setMetadata({"widget_wrapper": {"class": FOLDER_LIST_WRAPPER}})
    parameter.setHelp(("Optional. " if optional else "") + f"Several folders, in order: {name}=a;b, or {name} "
                      "given once per folder")
    return parameter


def parameter_help(parameter: QgsProcessingParameterDefinition) -> str:
    """What qgis_process help (and processing.algorithmHelp) say of a parameter beside its label and type:
    whether it may be left out, its default, its range. QGIS prints none of these itself, so a script writer
    learnt them from the README or a failed run."""
    said = ["Optional"] if parameter.flags() & QgsProcessingParameterDefinition.FlagOptional else []
    default = parameter.defaultValue()
    if parameter.isDestination():
        said.append("A path, or TEMPORARY_OUTPUT")
    elif isinstance(parameter, QgsProcessingParameterEnum) and default is not None:
        options = parameter.options()
        index = int(default[0] if isinstance(default, list) else default)
        if 0 <= index < len(options):
            said.append(f"Default: {index} ({options[index]})")
    elif isinstance(parameter, QgsProcessingParameterBoolean):
        said.append(f"Default: {'true' if default else 'false'}")
    elif default not in (None, ""):
        said.append(f"Default: {default}")
    if isinstance(parameter, QgsProcessingParameterNumber):
        low, high = parameter.minimum(), parameter.maximum()
        bound = [f"at least {low:g}" if low > -1e300 else "", f"at most {high:g}" if high < 1e300 else ""]
        if any(bound):
            said.append(" and ".join(b for b in bound if b).capitalize())
    return ". ".join(said)


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

"""The graphical modeler's step dialog with QGIS's GUI: the dataset folders of training and evaluation can come from
an earlier step (an export's dataset folder) or a model input, and opening a step keeps its connections."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def chain(qgis_processing, lmhld_provider):
    """A model: export -> train, train's dataset folders wired to the export's folder."""
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelParameter,
        QgsProcessingParameterFile,
    )

    model = QgsProcessingModelAlgorithm("chain", "tests")
    model.addModelParameter(QgsProcessingParameterFile("more", "More datasets", QgsProcessingParameterFile.Folder),
                            QgsProcessingModelParameter("more"))
    for child_id, alg in (("export", "lmhld:exportpatches"), ("train", "lmhld:trainmodel"),
                          ("second", "lmhld:exportpatches"), ("evaluate", "lmhld:evaluatemodel")):
        child = QgsProcessingModelChildAlgorithm(alg)
        child.setChildId(child_id)
        child.setDescription(child.algorithm().displayName())  # as the modeler names a step it adds
        if child_id == "train":
            child.addParameterSources("DATA", [
                QgsProcessingModelChildParameterSource.fromChildOutput("export", "OUTPUT_FOLDER")])
        model.addChildAlgorithm(child)
    return model


def open_step(model, child_id: str):
    from processing.modeler.ModelerParametersDialog import ModelerParametersDialog

    child = model.childAlgorithm(child_id)
    dialog = ModelerParametersDialog(child.algorithm(), model, child_id, child.configuration())
    return dialog, dialog.widget.widget.wrappers["DATA"]


def described(sources) -> list[tuple]:
    return [(s.source(), s.staticValue(), s.outputChildId(), s.outputName(), s.parameterName()) for s in sources]


def test_training_step_keeps_its_dataset_from_the_export_step(chain, tmp_path):
    """Opening the step and pressing OK turned the connection into the text '<QgsProcessingModelChildParameterSource
    object at ...>': the model lost its order and failed with 'Dataset folder <qgis._core...> does not exist'."""
    dialog, wrapper = open_step(chain, "train")
    offered = [wrapper.widget.list.item(i).text() for i in range(wrapper.widget.list.count())]
    assert any("Dataset folder" in text and "Export" in text for text in offered), offered
    assert any("More datasets" in text for text in offered), offered
    from qgis.PyQt.QtWidgets import QApplication

    dialog.show()
    dialog.resize(640, 520)  # QGIS opens it at 300 x 330
    QApplication.processEvents()
    out = Path(os.environ.get("LMHLD_GUI_OUT", tmp_path)) / "modeler_train_step.png"
    assert dialog.grab().save(str(out)) and out.stat().st_size > 10_000  # look at it
    before = described(chain.childAlgorithm("train").parameterSources()["DATA"])
    after = dialog.createAlgorithm()
    assert described(after.parameterSources()["DATA"]) == before
    dialog.close()


def test_part_modes_order_is_kept_and_can_be_changed(chain):
    """The list showed the sources in its own order and saved the ticked ones so: [second, export] came back as
    [export, second], and part mode trained the areas the other way round."""
    from qgis.core import QgsProcessingModelChildParameterSource as Source

    order = [Source.fromChildOutput("second", "OUTPUT_FOLDER"), Source.fromChildOutput("export", "OUTPUT_FOLDER")]
    chain.childAlgorithm("train").addParameterSources("DATA", order)
    dialog, wrapper = open_step(chain, "train")
    assert [s.outputChildId() for s in dialog.createAlgorithm().parameterSources()["DATA"]] == ["second", "export"]
    wrapper.widget.list.setCurrentRow(1)
    wrapper.widget.move(-1)
    assert [s.outputChildId() for s in dialog.createAlgorithm().parameterSources()["DATA"]] == ["export", "second"]
    dialog.close()
    dialog, wrapper = open_step(chain, "evaluate")  # a training step's run folder is no dataset to offer
    offered = [wrapper.widget.list.item(i).text() for i in range(wrapper.widget.list.count())]
    assert sum("Dataset folder" in text for text in offered) == 2 and not any("Run folder" in t for t in offered)
    dialog.close()


def test_a_step_takes_several_sources_and_fixed_folders(chain):
    from qgis.core import QgsProcessingModelChildParameterSource as Source
    from qgis.PyQt.QtCore import Qt

    dialog, wrapper = open_step(chain, "train")
    widget = wrapper.widget
    for i in range(widget.list.count()):
        widget.list.item(i).setCheckState(Qt.Checked)
    widget.fixed.setText("/data/a ; /data/b")
    sources = dialog.createAlgorithm().parameterSources()["DATA"]
    assert [(s.source(), s.staticValue()) for s in sources][-1] == (Source.StaticValue, "/data/a;/data/b")
    assert {s.source() for s in sources[:-1]} == {Source.ChildOutput, Source.ModelParameter}
    chain.setChildAlgorithm(dialog.createAlgorithm())
    dialog.close()
    dialog, wrapper = open_step(chain, "train")  # opened again, it shows what was chosen
    assert wrapper.widget.fixed.text() == "/data/a;/data/b"
    assert all(wrapper.widget.list.item(i).checkState() == Qt.Checked for i in range(wrapper.widget.list.count()))
    dialog.close()

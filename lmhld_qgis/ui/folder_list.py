"""A list of folders with Add / Remove / Up / Down, for folder-list parameters in the algorithm dialog; in the
graphical modeler, the model's inputs and other steps' outputs to tick (an export's dataset folder feeds training)
beside fixed folders; in batch mode a text box (folders separated by ;) with a button that adds one."""

from __future__ import annotations

import os

from processing.gui.wrappers import DIALOG_MODELER, DIALOG_STANDARD, WidgetWrapper
from qgis.core import QgsSettings
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..processing.parameters import folder_list

LAST_FOLDER_KEY = "lmhld/last_dataset_folder"


class FolderListWidget(QWidget):
    """Folders in order; the dialog to add one starts where the last one was chosen."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.list = QListWidget(self)
        self.list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.list.setTextElideMode(Qt.ElideMiddle)  # long paths keep their start and their folder's name
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setMinimumHeight(72)
        self.list.setMaximumHeight(120)
        buttons = QVBoxLayout()
        for text, slot in ((self.tr("Add folder…"), self.add_folder), (self.tr("Remove"), self.remove_selected),
                           (self.tr("Up"), lambda: self.move(-1)), (self.tr("Down"), lambda: self.move(1))):
            button = QPushButton(text, self)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)  # a few rows, however tall the dialog
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    def folders(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def set_folders(self, folders: list[str]) -> None:
        self.list.clear()
        self.list.addItems(folders)
        for i in range(self.list.count()):
            self.list.item(i).setToolTip(self.list.item(i).text())

    def add_folder(self) -> None:
        folder = choose_folder(self)
        if folder:
            self.list.addItem(folder)
            self.list.item(self.list.count() - 1).setToolTip(folder)

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))

    def move(self, step: int) -> None:
        row = self.list.currentRow()
        if row < 0 or not 0 <= row + step < self.list.count():
            return
        item = self.list.takeItem(row)
        self.list.insertItem(row + step, item)
        self.list.setCurrentRow(row + step)


def choose_folder(parent: QWidget) -> str:
    """A dataset folder from the folder dialog, which starts where the last one was chosen ("" when cancelled)."""
    settings = QgsSettings()
    folder = QFileDialog.getExistingDirectory(parent, parent.tr("Dataset folder"),
                                              settings.value(LAST_FOLDER_KEY, "") or "")
    if folder:
        settings.setValue(LAST_FOLDER_KEY, os.path.dirname(folder))
    return folder


class BatchFolders(QWidget):
    """A batch row's folders: the text (separated by ;) with a button that adds one from the folder dialog. A bare
    text box had every folder of every row typed by hand."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(self.tr("folder;folder…"))
        button = QToolButton(self)
        button.setText("…")
        button.setToolTip(self.tr("Add a dataset folder"))
        button.clicked.connect(self.add_folder)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(button)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:  # QLineEdit's name: the wrapper treats both alike
        self.edit.setText(text)

    def add_folder(self) -> None:
        folder = choose_folder(self)
        if folder:
            self.edit.setText(";".join([*folder_list(self.edit.text()), folder]))


class ModelerFolderSources(QWidget):
    """In the modeler: the model's inputs and the outputs of other steps that can give a folder, to tick and put in
    order (part mode trains in that order: Up / Down), then fixed folders typed in after them."""

    def __init__(self, sources: list[tuple[str, object]], parent=None) -> None:
        super().__init__(parent)
        self.list = QListWidget(self)
        self.list.setMaximumHeight(120)
        self.list.setTextElideMode(Qt.ElideMiddle)  # long descriptions keep their start and their step's name
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # as wide as the dialog, no wider
        self.entries: list[tuple[str, object]] = []  # (description, source), in the list's order
        self.fixed = QLineEdit(self)
        self.fixed.setPlaceholderText(self.tr("fixed folders, separated by ;"))
        buttons = QHBoxLayout()  # under the list, on the left: QGIS's step dialog is often narrower than its content
        self.move_buttons = []
        for text, step in ((self.tr("Up"), -1), (self.tr("Down"), 1)):
            button = QPushButton(text, self)
            button.clicked.connect(lambda _=False, step=step: self.move(step))
            buttons.addWidget(button)
            self.move_buttons.append(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(self.tr("From the model's inputs or earlier steps (ticked ones, in this order):"), self)
        self.label.setWordWrap(True)  # no wider than the dialog
        layout.addWidget(self.label)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.fixed)
        self._show([(description, source, False) for description, source in sources])

    def _show(self, rows: list[tuple[str, object, bool]]) -> None:
        self.list.clear()
        self.entries = [(description, source) for description, source, _ in rows]
        for description, _, ticked in rows:
            item = QListWidgetItem(description, self.list)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if ticked else Qt.Unchecked)
        for widget in (self.label, self.list, *self.move_buttons):
            widget.setVisible(bool(rows))

    def _rows(self) -> list[tuple[str, object, bool]]:
        return [(d, s, self.list.item(i).checkState() == Qt.Checked) for i, (d, s) in enumerate(self.entries)]

    def move(self, step: int) -> None:
        i = self.list.currentRow()
        if i < 0 or not 0 <= i + step < self.list.count():
            return
        rows = self._rows()
        rows.insert(i + step, rows.pop(i))
        self._show(rows)
        self.list.setCurrentRow(i + step)

    def set_sources(self, values: list, describe) -> None:
        """Tick the sources among `values`, first and in their order (`describe` names one the list lacks); static
        values (folders) go to the text box."""
        from qgis.core import QgsProcessingModelChildParameterSource as Source

        chosen: list[tuple[str, object, bool]] = []
        fixed: list[str] = []
        for value in values:
            if isinstance(value, Source) and value.source() == Source.StaticValue:
                value = value.staticValue()
            if isinstance(value, Source):
                match = next((d for d, s in self.entries if s == value), None)
                chosen.append((match if match is not None else str(describe(value)), value, True))
            else:
                fixed += folder_list(value)
        rest = [(d, s, False) for d, s in self.entries if not any(s == c for _, c, _ in chosen)]
        self._show(chosen + rest)
        self.fixed.setText(";".join(fixed))

    def chosen(self) -> list:
        """The ticked sources in the list's order, then the fixed folders as one static value."""
        from qgis.core import QgsProcessingModelChildParameterSource as Source

        chosen = [source for _, source, ticked in self._rows() if ticked]
        fixed = folder_list(self.fixed.text())
        if fixed:
            chosen.append(Source.fromStaticValue(";".join(fixed)))
        return chosen


class FolderListWidgetWrapper(WidgetWrapper):
    """The folder list in the algorithm dialog, the sources to tick in the modeler, a text box with a folder button
    in batch mode. The
    value is text, one folder a line (in the modeler: the sources chosen)."""

    def createWidget(self):
        if self.dialogType == DIALOG_STANDARD:
            return FolderListWidget()
        if self.dialogType == DIALOG_MODELER:
            from qgis.core import (
                QgsProcessingOutputFolder,
                QgsProcessingOutputString,
                QgsProcessingParameterFile,
                QgsProcessingParameterString,
            )

            found = self.dialog.getAvailableValuesOfType(
                [QgsProcessingParameterFile, QgsProcessingParameterString],
                [QgsProcessingOutputFolder, QgsProcessingOutputString])  # folders, not files such as dataset.json
            found = [s for s in found if not self._run_folder(s)]
            return ModelerFolderSources([(str(self.dialog.resolveValueDescription(s)), s) for s in found])
        return BatchFolders()

    def _run_folder(self, source) -> bool:
        """A training or experiment step's output folder: a run, not a dataset."""
        from qgis.core import QgsProcessingModelChildParameterSource as Source

        if source.source() != Source.ChildOutput:
            return False
        child = self.dialog.model.childAlgorithm(source.outputChildId())
        return child.algorithmId() in ("lmhld:trainmodel", "lmhld:runexperiment")

    def setValue(self, value) -> None:
        if isinstance(self.widget, ModelerFolderSources):
            self.widget.set_sources(value if isinstance(value, list) else [] if value is None else [value],
                                    self.dialog.resolveValueDescription)
        elif isinstance(self.widget, FolderListWidget):
            self.widget.set_folders(folder_list(value))
        else:
            self.widget.setText(";".join(folder_list(value)))

    def value(self):
        if isinstance(self.widget, ModelerFolderSources):
            return self.widget.chosen() or None
        folders = self.widget.folders() if isinstance(self.widget, FolderListWidget) else folder_list(
            self.widget.text())
        return "\n".join(folders) if folders else None

"""A list of folders with Add / Remove / Up / Down, for folder-list parameters in the algorithm dialog (batch and
modeler dialogs keep a text box: one folder per line, or separated by ;)."""

from __future__ import annotations

import os

from processing.gui.wrappers import DIALOG_STANDARD, WidgetWrapper
from qgis.core import QgsSettings
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

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
        settings = QgsSettings()
        start = settings.value(LAST_FOLDER_KEY, "") or ""
        folder = QFileDialog.getExistingDirectory(self, self.tr("Dataset folder"), start)
        if folder:
            self.list.addItem(folder)
            self.list.item(self.list.count() - 1).setToolTip(folder)
            settings.setValue(LAST_FOLDER_KEY, os.path.dirname(folder))

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


def split_folders(value) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip()]
    return [d.strip() for line in str(value or "").splitlines() for d in line.split(";") if d.strip()]


class FolderListWidgetWrapper(WidgetWrapper):
    """The folder list in the algorithm dialog; a text box elsewhere. The value is always text, one folder a line."""

    def createWidget(self):
        if self.dialogType == DIALOG_STANDARD:
            return FolderListWidget()
        return QLineEdit()

    def setValue(self, value) -> None:
        if isinstance(self.widget, FolderListWidget):
            self.widget.set_folders(split_folders(value))
        else:
            self.widget.setText(";".join(split_folders(value)))

    def value(self):
        folders = self.widget.folders() if isinstance(self.widget, FolderListWidget) else split_folders(
            self.widget.text())
        return "\n".join(folders) if folders else None

"""The "Python dependencies" dialog: which packages the plugin finds and where, whether a GPU is usable, and an
install of the pinned versions into the plugin's own folder, with progress, cancel and a kept log.

The checks run in a child Python (lmhld_qgis.deps.probe) on a worker thread: QGIS never imports torch to show
this dialog, and stays responsive while torch is imported elsewhere."""

from __future__ import annotations

import threading
from pathlib import Path

from qgis.PyQt.QtCore import QThread, QUrl, pyqtSignal
from qgis.PyQt.QtGui import QDesktopServices
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from .. import deps


class _Worker(QThread):
    """Runs one function off the GUI thread; its result or its one-line error comes back as a signal."""

    finished_with = pyqtSignal(object, str)  # result, error ("" when none)
    line = pyqtSignal(str)

    def __init__(self, work, parent=None) -> None:
        super().__init__(parent)
        self.work = work

    def run(self) -> None:
        try:
            self.finished_with.emit(self.work(self.line.emit), "")
        except Exception as exc:  # shown as one line in the dialog, never as a traceback
            self.finished_with.emit(None, str(exc) or type(exc).__name__)


def summary_lines(report: deps.DependencyReport) -> list[str]:
    """What a user needs to know, in words: can they detect, can they train, on which device."""
    if report.error:
        return [report.error]
    lines = []
    missing_detect = [s.package.dist for s in report.missing(deps.DETECTION)]
    lines.append("Detection: ready." if not missing_detect else
                 f"Detection needs {', '.join(missing_detect)}.")
    missing_train = [s.package.dist for s in report.missing(deps.TRAINING)]
    lines.append("Training and experiments: ready." if not missing_train else
                 f"Training and experiments need {', '.join(missing_train)} (about 1 to 3 GB to download).")
    lines.append(f"GPU for training: {report.cuda_summary()}.")
    lines.append(f"GPU for detection: {report.detection_gpu_summary()}.")
    return lines


class DependenciesDialog(QDialog):
    """Shows a DependencyReport; installs what is missing into `target` (the plugin's folder)."""

    def __init__(self, target: Path, parent=None, python: str | None = None) -> None:
        super().__init__(parent)
        self.target, self.python = Path(target), python or deps.python_for_child()
        self.report: deps.DependencyReport | None = None
        self.worker: _Worker | None = None
        self.setWindowTitle(self.tr("LMHLD Python dependencies"))
        layout = QVBoxLayout(self)
        self.header = QLabel(self)
        self.header.setWordWrap(True)
        layout.addWidget(self.header)
        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels([self.tr("Package"), self.tr("Needed for"), self.tr("Version"),
                                              self.tr("Found in")])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        self.install_button = buttons.addButton(self.tr("Install missing packages…"), QDialogButtonBox.ActionRole)
        self.check_button = buttons.addButton(self.tr("Check again"), QDialogButtonBox.ActionRole)
        self.log_button = buttons.addButton(self.tr("Open install log"), QDialogButtonBox.ActionRole)
        self.install_button.clicked.connect(self.install_missing)
        self.check_button.clicked.connect(self.refresh)
        self.log_button.clicked.connect(self.open_log)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._set_header()
        self.resize(900, 430)

    def _set_header(self) -> None:
        self.header.setText(self.tr(
            "Python used by QGIS for training: <b>{0}</b><br>Packages the plugin installs go to: {1}<br>"
            "Detection needs only onnxruntime; training needs torch and the packages below it.").format(
            self.python, self.target))

    def refresh(self) -> None:
        """Check again (in the background: importing torch takes a few seconds)."""
        self.summary.setText(self.tr("Checking… (importing torch takes a few seconds)"))
        self._set_busy(True)
        self.worker = _Worker(lambda _emit: deps.probe(self.python, self.target), self)
        self.worker.finished_with.connect(self._probed)
        self.worker.start()

    def _probed(self, report, error: str) -> None:
        self._set_busy(False)
        if error:
            self.summary.setText(self.tr("The check failed: {0}").format(error))
            return
        self.show_report(report)

    def show_report(self, report: deps.DependencyReport) -> None:
        self.report = report
        self.table.setRowCount(len(report.packages))
        for row, status in enumerate(report.packages):
            where = status.location or "" if status.available else (status.error or "").split("\n")[0]
            for col, text in enumerate((status.package.dist, status.package.needed_for,
                                        status.version if status.available else self.tr("missing"), where)):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.summary.setText("\n".join(summary_lines(report)))
        self.install_button.setEnabled(bool(report.missing(deps.DETECTION + deps.TRAINING)) and not report.error)

    def _set_busy(self, busy: bool) -> None:
        for button in (self.install_button, self.check_button):
            button.setEnabled(not busy)

    def install_missing(self) -> None:
        if self.report is None:
            return
        missing = [s.package.module for s in self.report.missing(deps.DETECTION + deps.TRAINING)]
        plan = deps.plan_install(missing, self.target, self.python)
        answer = QMessageBox.question(self, self.tr("Install Python packages"), self.tr(
            "pip will download and install into {0}:\n\n{1}\n\nTorch is large (about 1 to 3 GB with its CUDA "
            "libraries): this can take several minutes. Continue?").format(
            self.target, "\n".join(plan.requirements)))
        if answer != QMessageBox.Yes:
            return
        InstallDialog(plan, self).exec_()
        self.refresh()

    def open_log(self) -> None:
        log = deps.install_log(self.target)
        if not log.exists():
            QMessageBox.information(self, self.tr("Install log"), self.tr("Nothing was installed yet: {0} does "
                                                                          "not exist.").format(log))
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log)))


class InstallDialog(QDialog):
    """pip's steps as they come, a busy bar, Cancel (which leaves the previous folder untouched)."""

    def __init__(self, plan: deps.InstallPlan, parent=None) -> None:
        super().__init__(parent)
        self.plan, self.cancelled = plan, threading.Event()
        self.setWindowTitle(self.tr("Installing Python packages"))
        layout = QVBoxLayout(self)
        self.status = QLabel(self.tr("Starting pip…"), self)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # pip does not say how much is left: a busy bar
        layout.addWidget(self.bar)
        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        layout.addWidget(self.details)
        self.button = QPushButton(self.tr("Cancel"), self)
        self.button.clicked.connect(self._cancel_or_close)
        layout.addWidget(self.button)
        self.resize(720, 360)
        self.done_ok = False
        self.worker = _Worker(lambda emit: deps.install(plan, on_line=emit, is_cancelled=self.cancelled.is_set),
                              self)
        self.worker.line.connect(self._line)
        self.worker.finished_with.connect(self._finished)
        self.worker.start()

    def _line(self, line: str) -> None:
        self.status.setText(line)
        self.details.appendPlainText(line)

    def _finished(self, result, error: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if not error else 0)
        self.done_ok = not error
        self.status.setText(error or self.tr("Installed into {0}. The full log: {1}").format(result, self.plan.log))
        self.button.setText(self.tr("Close"))

    def _cancel_or_close(self) -> None:
        if self.worker.isRunning():
            self.cancelled.set()
            self.status.setText(self.tr("Cancelling…"))
        else:
            self.accept()

    def reject(self) -> None:  # Esc or the window's close button while pip runs: cancel first
        if self.worker.isRunning():
            self.cancelled.set()
            self.worker.wait()
        super().reject()


def show_dependencies(target: Path, parent=None) -> DependenciesDialog:
    dialog = DependenciesDialog(target, parent)
    dialog.refresh()
    dialog.show()
    return dialog

"""A dialog that shows what a model expects (its card): bands, tile size, resolution, normalisation, threshold.

Analysts open it before running detection on a new scene, to check that the scene's bands and pixel size fit.
"""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout

from ..core.modelcard import ModelCard


def card_rows(card: ModelCard) -> list[tuple[str, str]]:
    """The card as (field, value) rows, in the order a user checks them."""
    def numbers(values) -> str:
        return ", ".join(f"{v:.4g}" for v in values)

    return [
        ("network", f"{card.architecture} {card.model_options or ''}".strip()),
        ("input bands", ", ".join(card.bands)),
        ("tile size", f"{card.patch_size} px" + (f" (any multiple of {card.size_multiple})" if card.dynamic_size
                                                  else " (fixed)")),
        ("training resolution", "unknown" if card.resolution_m is None else f"{card.resolution_m:.3g} m"),
        ("normalisation mean", numbers(card.mean)),
        ("normalisation std", numbers(card.std)),
        ("threshold", f"{card.threshold:g}"),
        ("default overlap", f"{card.tiles_overlap:.0%}"),
        ("classes", ", ".join(card.class_names)),
        ("trained on", card.training_dataset or "unknown"),
        ("lmhld_qgis version", card.version or "unknown"),
        *card.usage_rows(),  # input convention, declared shape, which tools run the file
    ]


class ModelInfoDialog(QDialog):
    def __init__(self, card: ModelCard, source: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("LMHLD model information")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(source))
        rows = card_rows(card)
        self.table = QTableWidget(len(rows), 2, self)
        self.table.setHorizontalHeaderLabels(["", "value"])
        self.table.verticalHeader().setVisible(False)
        for i, (key, value) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(key))
            self.table.setItem(i, 1, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(640, 420)


def show_model_info(parent=None) -> None:
    """Ask for a model file and show its card (errors in a message box)."""
    from qgis.PyQt.QtWidgets import QFileDialog, QMessageBox

    from ..core.errors import LmhldError
    from ..core.modelcard import read_onnx_card

    path, _ = QFileDialog.getOpenFileName(parent, "Model", "", "ONNX models (*.onnx)")
    if not path:
        return
    try:
        card = read_onnx_card(path)
    except LmhldError as exc:
        QMessageBox.warning(parent, "LMHLD model information", str(exc))
        return
    ModelInfoDialog(card, path, parent).exec_()

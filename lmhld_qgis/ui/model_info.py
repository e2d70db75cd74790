"""A dialog that shows what a model expects (its card): bands, tile size, resolution, normalisation, threshold;
and checks a raster layer of the project against it (bands, resolution, size) before a detection is run.

Analysts open it before running detection on a new scene, to check that the scene's bands and pixel size fit.
"""

from __future__ import annotations

import os

from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..core.gdal_mode import gdal_exceptions
from ..core.modelcard import ModelCard
from ..core.postprocess import default_min_area_px

LAST_FOLDER_KEY = "lmhld/last_model_folder"


def tr(text: str) -> str:
    return QCoreApplication.translate("ModelInfoDialog", text)


def format_value(value) -> str:
    """Model options and lists as a user reads them: `base_width=4, encoder=resnet18`, never a Python dict."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in sorted(value.items())) or tr("the network's defaults")
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, bool):
        return tr("yes") if value else tr("no")
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def card_rows(card: ModelCard) -> list[tuple[str, str]]:
    """The card as (field, value) rows, in the order a user checks them."""
    threshold = f"{card.threshold:g}" + (tr(" (calibrated on validation)") if card.threshold_source == "validation"
                                         else "")
    rows = [
        (tr("network"), card.architecture),
        (tr("network options"), format_value(card.model_options)),
        (tr("input bands"), format_value(card.bands)),
        (tr("tile size"), f"{card.patch_size} px" + (tr(" (any multiple of {0})").format(card.size_multiple)
                                                     if card.dynamic_size else tr(" (fixed)"))),
        (tr("training resolution"), tr("unknown") if card.resolution_m is None else f"{card.resolution_m:.3g} m"),
        (tr("normalisation mean"), format_value(list(card.mean))),
        (tr("normalisation std"), format_value(list(card.std))),
        (tr("input units"), tr("each band divided by {0} (a scene in its own units is divided alike)").format(
            format_value(list(card.input_divisor))) if card.input_divisor else tr("the imagery's own values")),
        (tr("relative-level bands"), ", ".join(card.bands[b] for b in card.relative_bands)
         + {"plane": tr(" (each tile's plane removed)"),
            "ground": tr(" (each tile's ground plane removed, under any trees)")}.get(
             card.relative_surface, tr(" (each tile's level removed)"))
         if card.relative_bands else tr("none (every band absolute)")),
        (tr("threshold"), threshold),
        (tr("default overlap"), f"{card.tiles_overlap:.0%}"),
        (tr("smallest polygon kept"), f"{card.min_area_m2:g} m²" if card.min_area_m2
         else tr("{0} px, 0.1% of its {1} px patch (the model gives none)").format(
             default_min_area_px(card.patch_size), card.patch_size)),
        (tr("holes filled below"), f"{card.fill_holes_m2:g} m²" if card.fill_holes_m2
         else tr("the smallest polygon kept")),
        (tr("a polygon's minimum mean probability"), _min_mean_prob_row(card.threshold)),
        (tr("large training landslides"), f"{card.large_landslide_area_m2:.0f} m² (90th percentile)"
         if card.large_landslide_area_m2 else tr("unknown")),
        (tr("classes"), format_value(card.class_names)),
        (tr("trained on"), card.training_dataset or tr("unknown")),
        (tr("validation F1"), _validation_row(card.validation_f1)),
        (tr("lmhld_qgis version"), card.version or tr("unknown")),
        *card.usage_rows(),  # input convention, declared shape, which tools run the file
    ]
    return rows


def _validation_row(f1: float | None) -> str:
    """The kept epoch's landslide F1 on the validation split, with a word when it is too low to trust."""
    if f1 is None:
        return tr("unknown (no validation split, or a model from before it was recorded)")
    if f1 < LOW_VALIDATION_F1:
        return tr("{0:.3f}: low, the model misses or invents most landslides of its own validation patches; "
                  "expect the same on a new scene").format(f1)
    return f"{f1:.3f}"


LOW_VALIDATION_F1 = 0.5


def _min_mean_prob_row(threshold: float) -> str:
    return tr("midway between the threshold ({0:g}) and the scene's surest polygon").format(threshold)


def read_only_table(rows: list[tuple[str, ...]], headers: list[str], parent=None) -> QTableWidget:
    """A table of wrapped, selectable, read-only cells whose rows follow the width of the value column."""
    table = QTableWidget(len(rows), len(headers), parent)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setWordWrap(True)
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setFlags(Qt.ItemIsSelectable | Qt.ItemIsEnabled)
            item.setToolTip(text)
            table.setItem(i, j, item)
    header = table.horizontalHeader()
    header.setStretchLastSection(True)
    header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
    header.sectionResized.connect(lambda *_: table.resizeRowsToContents())  # wrapped text: height follows width
    return table


def rows_height(table: QTableWidget) -> int:
    """The height that shows every row of `table` without scrolling, at its current column widths."""
    table.resizeRowsToContents()
    return table.horizontalHeader().height() + 2 * table.frameWidth() + sum(
        table.rowHeight(i) for i in range(table.rowCount()))


class ModelInfoDialog(QDialog):
    def __init__(self, card: ModelCard, source: str, parent=None) -> None:
        from qgis.core import QgsMapLayerProxyModel
        from qgis.gui import QgsMapLayerComboBox

        super().__init__(parent)
        self.card = card
        self.setWindowTitle(tr("LMHLD model information"))
        layout = QVBoxLayout(self)
        path = QLabel(source, self)
        path.setTextInteractionFlags(Qt.TextSelectableByMouse)
        path.setWordWrap(True)
        layout.addWidget(path)
        rows = card_rows(card)
        self.table = read_only_table(rows, [tr("Field"), tr("Value")], self)
        layout.addWidget(self.table, 3)  # the card's rows take most of the height, the verdict the rest
        box = QGroupBox(tr("Check a raster layer against this model"), self)
        box_layout = QVBoxLayout(box)
        line = QHBoxLayout()
        self.layers = QgsMapLayerComboBox(box)
        self.layers.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.layers.setAllowEmptyLayer(True)
        self.layers.setLayer(likely_scene(self._rasters(), card))
        line.addWidget(self.layers, 1)
        self.check_button = QPushButton(tr("Check"), box)
        self.check_button.clicked.connect(self.check_layer)
        line.addWidget(self.check_button)
        box_layout.addLayout(line)
        self.verdict = QLabel(tr("Press Check to test the chosen raster layer against this model."), box)
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.verdict.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        # a long verdict (a scene scaled otherwise, band by band) scrolls: it ran past the dialog's bottom
        self.verdict_area = QScrollArea(box)
        self.verdict_area.setWidgetResizable(True)
        self.verdict_area.setFrameShape(QFrame.NoFrame)
        self.verdict_area.setWidget(self.verdict)
        self.verdict_area.setMinimumHeight(4 * self.fontMetrics().lineSpacing())
        box_layout.addWidget(self.verdict_area)
        layout.addWidget(box, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._fitted = False
        self.resize(680, 560)

    def _rasters(self) -> list:
        """The raster layers, the highest in the legend first (the one the user looks at, above its outputs)."""
        from .legend import highest_first, offered

        return highest_first(offered(self.layers))

    def showEvent(self, event) -> None:
        """Once shown (the columns have their widths): as tall as every row needs, within the screen; the table
        scrolls when the screen is smaller."""
        super().showEvent(event)
        if self._fitted:
            return
        self._fitted = True
        full = rows_height(self.table)
        others = self.height() - self.table.height()
        screen = self.screen().availableGeometry()
        self.table.setMinimumHeight(min(full, 240))
        self.resize(self.width(), min(others + full, int(screen.height() * 0.9)))
        self.move(self.x(), max(screen.top(), min(self.y(), screen.bottom() - self.height())))

    def check_layer(self) -> list:
        """Bands, resolution and size of the chosen layer against the card, shown as a verdict."""
        from ..core.errors import LmhldError

        layer = self.layers.currentLayer()
        if layer is None:
            self.verdict.setText(tr("Choose a raster layer first."))
            return []
        if layer.providerType() != "gdal":
            self.verdict.setText(tr("{0} is not a file-based raster; save it as a GeoTIFF first.").format(
                layer.name()))
            return []
        try:
            with gdal_exceptions():  # not a decorator: a slot's wrapper would be handed clicked()'s argument
                from ..core.scene_check import check_scene

                checks = check_scene(self.card, layer.source())
        except LmhldError as exc:
            self.verdict.setText(_as_detect_says(str(exc)))
            return []
        marks = {True: "✔", None: "⚠", False: "✘"}
        first = {False: 0, None: 1, True: 2}  # what stops or spoils a detection comes first, where the eye lands
        shown = sorted(checks, key=lambda c: first[c.ok])
        self.verdict.setText("\n".join(f"{marks[c.ok]} {tr(c.what)}: {_as_detect_says(c.message)}" for c in shown))
        self._fit_verdict()
        return checks

    def _fit_verdict(self) -> None:
        """The verdict as tall as its text, up to 45 % of the dialog (the card's table gives way, and scrolls):
        a warning on its fifth line was cut mid-sentence in a four-line box."""
        width = self.verdict_area.viewport().width() or self.verdict_area.width()
        needed = self.verdict.heightForWidth(width) + 2 * self.fontMetrics().lineSpacing() // 3
        floor = 4 * self.fontMetrics().lineSpacing()
        self.verdict_area.setMinimumHeight(max(floor, min(needed, int(self.height() * 0.45))))


def _as_detect_says(message: str) -> str:
    """A core message's command-line options (--bands) as Detect landslides' parameters ("Bands in order"), the
    dialog where the fix is made."""
    if "--" not in message:
        return message
    from ..processing.common import in_dialog_terms
    from ..processing.detect_landslides import DetectLandslides

    alg = DetectLandslides()
    alg.initAlgorithm()
    return in_dialog_terms(message, alg)


# what lmhld itself writes from a scene: never the scene to check a model against
OUTPUT_RASTERS = ("Landslide probability", "Errors", "Landslides")


def likely_scene(rasters: list, card: ModelCard):
    """The raster layer to propose for the check: one of the model's band count that lmhld did not write (the top
    of the list was a detection's probability raster, which fails the check), else none."""
    fitting = [lyr for lyr in rasters
               if not lyr.name().startswith(OUTPUT_RASTERS) and lyr.bandCount() == card.in_channels]
    return fitting[0] if fitting else None


def choose_model(parent=None) -> str:
    """A file dialog for models that opens where the last model was chosen."""
    from qgis.core import QgsSettings
    from qgis.PyQt.QtWidgets import QFileDialog

    settings = QgsSettings()
    path, _ = QFileDialog.getOpenFileName(parent, tr("Model"), settings.value(LAST_FOLDER_KEY, "") or "",
                                          tr("ONNX models (*.onnx)"))
    if path:
        settings.setValue(LAST_FOLDER_KEY, os.path.dirname(path))
    return path


def show_model_info(iface=None, path: str | None = None) -> ModelInfoDialog | None:
    """Ask for a model file and show its card (errors in a message box, never a traceback)."""
    from qgis.PyQt.QtWidgets import QMessageBox

    from ..core.errors import LmhldError
    from ..core.modelcard import read_onnx_card

    parent = iface.mainWindow() if iface is not None else None
    path = path or choose_model(parent)
    if not path:
        return None
    try:
        card = read_onnx_card(path)
    except LmhldError as exc:
        QMessageBox.warning(parent, tr("LMHLD model information"), str(exc))
        return None
    except Exception as exc:  # an unreadable file of another kind: one line, not a traceback
        QMessageBox.warning(parent, tr("LMHLD model information"),
                            tr("{0} is not a model this plugin can read: {1}").format(path, exc))
        return None
    dialog = ModelInfoDialog(card, path, parent)
    dialog.exec_()
    return dialog

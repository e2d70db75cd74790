"""lmhld:analyseinventory: landslide areas in pixels, quartiles and patch sizes (LMHLD sec. 2.3 / 4.1)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsFeature,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QVariant

from .base import LmhldAlgorithm
from .common import (
    FeedbackProgress,
    added_or_failed,
    core_errors,
    features_to_copy,
    layer_origin,
    raster_path,
    required_source,
    source_wkb,
)
from .outputs import default_output, is_skipped, is_temporary, refuse_written_over, safe_stem


class AnalyseInventory(LmhldAlgorithm):
    INVENTORY = "INVENTORY"
    RASTER = "RASTER"
    PIXEL_SIZE = "PIXEL_SIZE"
    FRACTION = "FRACTION"
    CANDIDATES = "CANDIDATES"
    EXPLODE = "EXPLODE"
    OUTPUT_JSON = "OUTPUT_JSON"
    OUTPUT_HTML = "OUTPUT_HTML"
    OUTPUT = "OUTPUT"
    Q1_PX = "Q1_PX"
    MEDIAN_PX = "MEDIAN_PX"
    Q3_PX = "Q3_PX"
    PATCH_Q1 = "PATCH_Q1"
    PATCH_Q2 = "PATCH_Q2"
    PATCH_Q3 = "PATCH_Q3"

    ALG_ID = "analyseinventory"
    CLI_FLAGS = (("json", "OUTPUT_JSON"), ("html", "OUTPUT_HTML"), ("raster", "RASTER"))
    GROUP_ID = "inventory"
    ICON = "analyse.svg"
    README_HEADING = "### 1. Inventory analysis — `lmhld:analyseinventory`, `lmhld analyse`"

    def displayName(self) -> str:
        return self.tr("Analyse landslide inventory (patch sizes)")

    def shortHelpString(self) -> str:
        return self.tr(
            "Measures each landslide's true area in pixels of the imagery and recommends one training patch size "
            "per quartile of those areas, so that a landslide covers about the target fraction of a patch (LMHLD "
            "paper, sections 2.3 and 4.1).\n\n"
            "The pixel size comes from the reference raster or, without one, from the pixel size you give. An "
            "inventory over several scenes takes them all: each landslide is measured in pixels of the raster "
            "holding most of it. "
            "Invalid geometries are repaired and empty ones skipped; the report counts both.\n\n"
            "The report (JSON) feeds the Export training patches algorithm: choose it there as the analysis "
            "report and pick a quartile. Left at [Save to temporary file], the report (and its HTML page) is written "
            "beside the inventory instead.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVENTORY, self.tr("Landslide inventory (polygons)"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.RASTER, self.tr("Imagery (gives the pixel size)"), QgsProcessing.TypeRaster,
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, self.tr("Pixel size, m (without imagery)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.001))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.FRACTION, self.tr("Landslide share of a patch"), QgsProcessingParameterNumber.Double,
            defaultValue=0.10, minValue=0.001, maxValue=1.0))
        self.addAdvancedParameter(QgsProcessingParameterString(
            self.CANDIDATES, self.tr("Candidate patch sizes, px"),
            defaultValue="32,64,128,224,256"))
        self.addAdvancedParameter(QgsProcessingParameterBoolean(
            self.EXPLODE, self.tr("Count multipart parts separately"), defaultValue=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, self.tr("Report, JSON (temporary → beside inventory)"), self.tr("JSON files (*.json)")))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, self.tr("Report with histogram, HTML"), self.tr("HTML files (*.html)"),
            optional=True, createByDefault=True))  # a picture of the sizes, in the Results Viewer
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Inventory with areas"), QgsProcessing.TypeVectorPolygon, optional=True,
            createByDefault=False))
        for key, label in ((self.Q1_PX, self.tr("First quartile of areas (pixels)")),
                           (self.MEDIAN_PX, self.tr("Median area (pixels)")),
                           (self.Q3_PX, self.tr("Third quartile of areas (pixels)")),
                           (self.PATCH_Q1, self.tr("Patch size for Q1")), (self.PATCH_Q2, self.tr("Patch size for Q2")),
                           (self.PATCH_Q3, self.tr("Patch size for Q3"))):
            self.addOutput(QgsProcessingOutputNumber(key, label))

    def processAlgorithm(self, parameters, context, feedback):
        source = required_source(self, parameters, self.INVENTORY, context)
        refuse_written_over(self, parameters, [self.OUTPUT],
                            self.parameterAsVectorLayer(parameters, self.INVENTORY, context), context)
        rasters = [raster_path(layer) for layer in self.parameterAsLayerList(parameters, self.RASTER, context)]
        pixel_size = None
        if parameters.get(self.PIXEL_SIZE) not in (None, ""):
            pixel_size = self.parameterAsDouble(parameters, self.PIXEL_SIZE, context)
        json_path, beside_inventory = self._report_path(parameters, context)
        html_path = self._html_path(parameters, context, json_path if beside_inventory else None)
        explode = self.parameterAsBool(parameters, self.EXPLODE, context)
        with core_errors(self.displayName(), self):
            from ..core.outputs import check_outputs

            # refused before the work: the command line checks them so too
            check_outputs(inputs={}, files={"report": json_path, "HTML report": html_path or None})
            report = self._analyse(parameters, context, source, rasters, pixel_size, explode, feedback)
            from ..core.inventory import describe_patch_sizes
            from ..core.report import inventory_html, json_text

            # the layer first: QGIS makes it, and a destination it cannot make must leave no report behind
            wanted = not is_skipped(parameters.get(self.OUTPUT))
            layer = self._open_layer(parameters, context, source) if wanted else None
            from ..core.atomic import write_texts_atomic

            write_texts_atomic({json_path: json_text(report.to_json()),
                                **({html_path: inventory_html(report)} if html_path else {})})
        s, sizes = report.area_px, report.recommended_patch_sizes
        feedback.pushInfo(self.tr("{0} landslides; area in pixels: Q1 {1:.0f}, median {2:.0f}, Q3 {3:.0f}; "
                                  "recommended patch sizes {4}; report {5}").format(
            report.n_landslides, s.q1, s.median, s.q3, describe_patch_sizes(sizes), json_path))
        results = {self.OUTPUT_JSON: json_path, self.Q1_PX: s.q1, self.MEDIAN_PX: s.median, self.Q3_PX: s.q3,
                   self.PATCH_Q1: sizes[0], self.PATCH_Q2: sizes[1], self.PATCH_Q3: sizes[2]}
        if html_path:
            results[self.OUTPUT_HTML] = html_path
        if layer is not None:
            results[self.OUTPUT] = self._write_layer(layer, source, report,
                                                     self.parameterAsVectorLayer(parameters, self.INVENTORY, context))
        return results

    def _report_path(self, parameters, context) -> tuple[str, bool]:
        """The report's path; left at "temporary", beside the inventory file (the export reads it later), and then
        True."""
        if is_temporary(parameters.get(self.OUTPUT_JSON)):
            origin = layer_origin(self, parameters, self.INVENTORY, context)
            path = Path(origin[0]) if origin is not None else None
            if path is not None and path.parent.is_dir():
                return str(default_output(path.with_name(f"{safe_stem(path.stem)}_analysis.json"), context)), True
        return self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context), False

    def _html_path(self, parameters, context, json_beside: str | None) -> str:
        """The HTML report's path ("" for none); left at "temporary" while the JSON went beside the inventory, it goes
        beside the JSON too: QGIS deletes its temporary folder on closing."""
        value = parameters.get(self.OUTPUT_HTML)
        if is_skipped(value):
            return ""
        if json_beside is not None and is_temporary(value):
            return str(default_output(Path(json_beside).with_suffix(".html"), context))
        return self.parameterAsFileOutput(parameters, self.OUTPUT_HTML, context)

    def _analyse(self, parameters, context, source, rasters, pixel_size, explode, feedback):
        from ..core.inventory import analyse_polygons, parse_candidates
        from ..core.vector import polygons_from_wkb, refuse_patch_outlines

        candidates = parse_candidates(self.parameterAsString(parameters, self.CANDIDATES, context))
        refuse_patch_outlines(source.fields().names(), "inventory", source.sourceName())
        crs = source.sourceCrs()
        wkbs, fids = source_wkb(source)
        polygons = polygons_from_wkb(wkbs, fids, crs.toWkt(crs.WKT_PREFERRED) if crs.isValid() else None,
                                     explode=explode, what=f"inventory {source.sourceName()}")
        return analyse_polygons(
            polygons, pixel_size_m=pixel_size, rasters=rasters,
            fraction=self.parameterAsDouble(parameters, self.FRACTION, context), candidates=candidates,
            source=source.sourceName(), exploded=explode, progress=FeedbackProgress(feedback, self))

    def _open_layer(self, parameters, context, source) -> list:
        """The copy of the inventory to fill, with area_m2 and area_px: [sink, destination id, fields] (a list, so
        that filling it can let go of the sink: the file is complete only once the sink is gone)."""
        fields = QgsFields(source.fields())
        fields.append(QgsField("area_m2", QVariant.Double, len=20, prec=1))
        fields.append(QgsField("area_px", QVariant.Double, len=20, prec=1))
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, source.wkbType(),
                                             source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        return [sink, dest_id, fields]

    def _write_layer(self, layer: list, source, report, inventory) -> str:
        """Fill the copy of the inventory: the areas where the feature was measured, NULL where it was skipped; the
        sink is closed before QGIS loads the file (left open, the dialog's QGIS found a GeoPackage with no layer,
        "not correctly generated", and the dialog waited on)."""
        sink, dest_id, fields = layer
        layer.clear()
        areas, pixels = report.area_by_fid(), report.pixels_by_fid()
        for feat in features_to_copy(source, inventory):
            out = QgsFeature(fields)
            out.setGeometry(feat.geometry())
            area = areas.get(feat.id())
            out.setAttributes(feat.attributes() + ([round(area, 1), round(pixels[feat.id()], 1)]
                                                   if area is not None else [None, None]))
            added_or_failed(sink, out, self.tr("Inventory with areas"))
        del sink
        return dest_id

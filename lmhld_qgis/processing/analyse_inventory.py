"""lmhld:analyseinventory: landslide areas in pixels, quartiles and patch sizes (LMHLD sec. 2.3 / 4.1)."""

from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QVariant

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, raster_path, source_wkb


class AnalyseInventory(LmhldAlgorithm):
    INVENTORY, RASTER, PIXEL_SIZE, FRACTION, CANDIDATES, EXPLODE = (
        "INVENTORY", "RASTER", "PIXEL_SIZE", "FRACTION", "CANDIDATES", "EXPLODE")
    OUTPUT_JSON, OUTPUT_HTML, OUTPUT = "OUTPUT_JSON", "OUTPUT_HTML", "OUTPUT"

    ALG_ID = "analyseinventory"
    TITLE = "Analyse landslide inventory (patch sizes)"
    GROUP_ID = "inventory"
    HELP = (
            "Measures each landslide's true area (ellipsoidal) in pixels of the imagery, gives its quartiles and "
            "recommends one patch size per quartile so that a landslide covers about FRACTION of a patch "
            "(LMHLD paper, sec. 2.3 and 4.1). Pixel size comes from RASTER or PIXEL_SIZE (metres). "
            "Invalid geometries are repaired and null/empty ones skipped; both are counted in the report."
        )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVENTORY, "Landslide inventory (polygons)", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.RASTER, "Reference raster (gives the pixel size)", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, "Pixel size in metres (when no raster is given)",
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.FRACTION, "Target landslide fraction of a patch", QgsProcessingParameterNumber.Double,
            defaultValue=0.10, minValue=0.001, maxValue=0.999))
        self.addParameter(QgsProcessingParameterString(
            self.CANDIDATES, "Candidate patch sizes", defaultValue="32,64,128,224,256"))
        self.addParameter(QgsProcessingParameterBoolean(
            self.EXPLODE, "Count each part of a multipart feature as a landslide", defaultValue=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, "Report (JSON)", "JSON files (*.json)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, "Report (HTML)", "HTML files (*.html)", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Inventory with areas", QgsProcessing.TypeVectorPolygon, optional=True,
            createByDefault=False))
        for key, label in (("Q1_PX", "Q1 (px)"), ("MEDIAN_PX", "Median (px)"), ("Q3_PX", "Q3 (px)"),
                           ("PATCH_Q1", "Patch size for Q1"), ("PATCH_Q2", "Patch size for Q2"),
                           ("PATCH_Q3", "Patch size for Q3")):
            self.addOutput(QgsProcessingOutputNumber(key, label))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.inventory import analyse_polygons, parse_candidates
        from ..core.report import inventory_html, write_json
        from ..core.vector import polygons_from_wkb

        source = self.parameterAsSource(parameters, self.INVENTORY, context)
        if source is None:
            raise QgsProcessingException("INVENTORY: no polygon layer given")
        raster = raster_path(self.parameterAsRasterLayer(parameters, self.RASTER, context))
        pixel_size = parameters.get(self.PIXEL_SIZE)
        pixel_size = None if pixel_size in (None, "") else self.parameterAsDouble(parameters, self.PIXEL_SIZE, context)
        json_path = self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context)
        html_path = self.parameterAsFileOutput(parameters, self.OUTPUT_HTML, context)
        explode = self.parameterAsBool(parameters, self.EXPLODE, context)
        progress = FeedbackProgress(feedback)
        with core_errors():
            candidates = parse_candidates(self.parameterAsString(parameters, self.CANDIDATES, context))
            crs = source.sourceCrs()
            wkbs, fids = source_wkb(source)
            polygons = polygons_from_wkb(wkbs, fids, crs.toWkt(crs.WKT_PREFERRED) if crs.isValid() else None,
                                         explode=explode,
                                         what=f"inventory {source.sourceName()}")
            report = analyse_polygons(
                polygons, pixel_size_m=pixel_size, raster=raster,
                fraction=self.parameterAsDouble(parameters, self.FRACTION, context), candidates=candidates,
                source=source.sourceName(), exploded=explode, progress=progress)
            write_json(json_path, report.to_json())
            if html_path:
                from ..core.atomic import write_text_atomic

                write_text_atomic(html_path, inventory_html(report))
        s = report.area_px
        feedback.pushInfo(f"{report.n_landslides} landslides; area px Q1 {s.q1:.0f}, median {s.median:.0f}, "
                          f"Q3 {s.q3:.0f}; recommended patch sizes {report.recommended_patch_sizes}")
        results = {self.OUTPUT_JSON: json_path, "Q1_PX": s.q1, "MEDIAN_PX": s.median, "Q3_PX": s.q3,
                   "PATCH_Q1": report.recommended_patch_sizes[0], "PATCH_Q2": report.recommended_patch_sizes[1],
                   "PATCH_Q3": report.recommended_patch_sizes[2]}
        if html_path:
            results[self.OUTPUT_HTML] = html_path
        if parameters.get(self.OUTPUT) is not None:
            results[self.OUTPUT] = self._write_layer(parameters, context, source, report)
        return results

    def _write_layer(self, parameters, context, source, report) -> str:
        """A copy of the inventory with area_m2 and area_px (NULL where the feature was skipped)."""
        fields = QgsFields(source.fields())
        fields.append(QgsField("area_m2", QVariant.Double))
        fields.append(QgsField("area_px", QVariant.Double))
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, source.wkbType(),
                                             source.sourceCrs())
        if sink is None:
            return None
        areas = report.area_by_fid()
        for feat in source.getFeatures():
            out = QgsFeature(fields)
            out.setGeometry(feat.geometry())
            area = areas.get(feat.id())
            out.setAttributes(feat.attributes() + ([area, area / report.pixel_area_m2] if area is not None
                                                   else [None, None]))
            sink.addFeature(out, QgsFeatureSink.FastInsert)
        return dest_id

"""lmhld:validateinventory: an inventory's problems as a layer (one feature each, with a fix), a JSON summary and
an optional repaired copy."""

from __future__ import annotations

import uuid

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from .annotation import style_from_text
from .base import LmhldAlgorithm
from .common import (
    FeedbackProgress,
    added_or_failed,
    core_errors,
    features_to_copy,
    layer_origin,
    polygon_source,
    raster_path,
    source_wkb,
)
from .outputs import is_skipped, refuse_written_over


class ValidateInventory(LmhldAlgorithm):
    INVENTORY, RASTER, PIXEL_SIZE, MIN_PIXELS, SLIVER, DUPLICATE_IOU, MIN_OVERLAP = (
        "INVENTORY", "RASTER", "PIXEL_SIZE", "MIN_PIXELS", "SLIVER", "DUPLICATE_IOU", "MIN_OVERLAP")
    OUTPUT, OUTPUT_JSON, REPAIRED = "OUTPUT", "OUTPUT_JSON", "REPAIRED"
    N_PROBLEMS, N_BLOCKING = "N_PROBLEMS", "N_BLOCKING"

    ALG_ID = "validateinventory"
    CLI_FLAGS = (("problems", "OUTPUT"), ("json", "OUTPUT_JSON"), ("repair", "REPAIRED"))
    TITLE = "Validate landslide inventory"  # core.validate.VALIDATE_TITLE: its messages name it (a test holds them
    # equal; importing core.validate here would switch GDAL's exceptions on for the whole QGIS session)
    GROUP_ID = "inventory"
    ICON = "validate.svg"
    README_HEADING = "### Validation — `lmhld:validateinventory`, `lmhld validate`"
    HELP = ("Checks an inventory before export and writes one feature per problem, with its kind, severity and a "
            "suggested fix: null or empty geometries, non-polygons, invalid geometries and self-intersections "
            "(blocking: export refuses them), overlaps and duplicates, slivers (compactness 4πA/P² below the sliver "
            "limit), polygons smaller than the minimum number of pixels of the imagery, polygons outside every "
            "raster or on their nodata (an inventory over several scenes: choose them all; a polygon on any of "
            "them is covered), coordinates that do not fit the layer's CRS, a layer without CRS (blocking). The "
            "repaired inventory is a copy with invalid geometries fixed and empty, non-polygon and duplicate "
            "features dropped; the inventory itself is never changed.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVENTORY, self.tr("Landslide inventory"), [QgsProcessing.TypeVectorAnyGeometry]))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.RASTER, self.tr("Imagery (pixel size, footprint, nodata)"),
            QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, self.tr("Pixel size, m (without imagery)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=1e-6))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_PIXELS, self.tr("Report polygons smaller than (pixels)"), QgsProcessingParameterNumber.Double,
            10.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.SLIVER, self.tr("Sliver: compactness 4πA/P² below"),
            QgsProcessingParameterNumber.Double, 0.05, minValue=0.0, maxValue=0.99))
        self.addParameter(QgsProcessingParameterNumber(
            self.DUPLICATE_IOU, self.tr("Duplicate: overlap (IoU) from"),
            QgsProcessingParameterNumber.Double, 0.98, minValue=0.01, maxValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_OVERLAP, self.tr("Ignore overlaps smaller than (m²)"), QgsProcessingParameterNumber.Double, 1.0,
            minValue=0.0))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Problems"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, self.tr("Summary (JSON)"), self.tr("JSON files (*.json)"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.REPAIRED, self.tr("Repaired copy"), QgsProcessing.TypeVectorPolygon, optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber(self.N_PROBLEMS, self.tr("Number of problems")))
        self.addOutput(QgsProcessingOutputNumber(self.N_BLOCKING, self.tr("Number of problems that block export")))

    def _options(self, parameters, context):
        from ..core.validate import ValidateOptions

        pixel = parameters.get(self.PIXEL_SIZE)
        return ValidateOptions(
            rasters=[raster_path(layer) for layer in self.parameterAsLayerList(parameters, self.RASTER, context)],
            pixel_size_m=None if pixel in (None, "") else self.parameterAsDouble(parameters, self.PIXEL_SIZE,
                                                                                  context),
            min_pixels=self.parameterAsDouble(parameters, self.MIN_PIXELS, context),
            sliver_ratio=self.parameterAsDouble(parameters, self.SLIVER, context),
            duplicate_iou=self.parameterAsDouble(parameters, self.DUPLICATE_IOU, context),
            min_overlap_m2=self.parameterAsDouble(parameters, self.MIN_OVERLAP, context))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.report import write_json
        from ..core.validate import validate_wkb
        from ..core.validate_write import summary_line

        source = polygon_source(self, parameters, self.INVENTORY, context)  # invalid geometries are what it seeks
        if source is None:
            raise QgsProcessingException(self.tr("Choose the landslide inventory layer."))
        refuse_written_over(self, parameters, [self.OUTPUT, self.REPAIRED],
                            self.parameterAsVectorLayer(parameters, self.INVENTORY, context), context)
        with core_errors(self.displayName(), self):
            crs = source.sourceCrs()
            wkbs, fids = source_wkb(source)
            report = validate_wkb(wkbs, fids, crs.toWkt(crs.WKT_PREFERRED) if crs.isValid() else None,
                                  source.sourceName(), self._options(parameters, context),
                                  FeedbackProgress(feedback, self))
        # the problems drawn above the repaired copy, both above the inventory (the copy, drawn in the inventory's
        # own style, hid the problems' markers)
        inventory = self.parameterAsVectorLayer(parameters, self.INVENTORY, context)
        self._inventory_name = inventory.name() if inventory is not None else ""
        self._placing = {"run": f"validate-{uuid.uuid4().hex}",
                         "anchor_id": inventory.id() if inventory is not None else None}
        results = {self.OUTPUT: self._write_problems(parameters, context, source, report),
                   self.N_PROBLEMS: len(report.problems), self.N_BLOCKING: len(report.blocking)}
        json_path = self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context)
        if json_path:
            with core_errors(self.displayName(), self):
                write_json(json_path, report.to_json())
            results[self.OUTPUT_JSON] = json_path
        if not is_skipped(parameters.get(self.REPAIRED)):
            results[self.REPAIRED] = self._write_repaired(parameters, context, source, report)
        for p in report.blocking:
            feedback.reportError(self.tr("Blocking: {0}: {1} — {2}").format(p.where, p.message, p.fix),
                                 fatalError=False)
        feedback.pushInfo(summary_line(report))
        if not report.ok_for_export and not report.blocking:  # points read first from a project GeoPackage, say
            from ..core.vector import polygon_layer_hint

            feedback.pushWarning(self.tr("The layer holds no polygon export can use; {0}").format(polygon_layer_hint(
                layer_origin(self, parameters, self.INVENTORY, context), self.tr("digitize landslide polygons"))))
        return results

    def _write_problems(self, parameters, context, source, report) -> str:
        from ..core.validate_write import PROBLEM_FIELDS, problems_style

        fields = QgsFields()
        for name, _ in PROBLEM_FIELDS:
            fields.append(QgsField(name, QVariant.LongLong if name.endswith("_id") else QVariant.String))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.MultiPolygon,
                                          source.sourceCrs())
        for p in report.problems:
            feat = QgsFeature(fields)
            if p.geometry is not None:
                geom = QgsGeometry()
                geom.fromWkb(bytes(p.geometry.ExportToIsoWkb()))
                feat.setGeometry(QgsGeometry.collectGeometry([geom]) if not geom.isMultipart() else geom)
            feat.setAttributes([p.kind, p.fid, p.other_fid, "blocking" if p.blocking else "warning", p.message,
                                p.fix])
            sink.addFeature(feat, QgsFeatureSink.FastInsert)
        style_from_text(context, dest, problems_style(), name=self._named(self.OUTPUT, report), rank=0,
                        **self._placing)
        return dest

    def _named(self, output: str, report) -> str:
        """An output's layer name with the inventory's: "Problems — inv69" (every run's were "Problems",
        "Problems [2]", ..., which said nothing of the inventory they belong to)."""
        return f"{self.parameterDefinition(output).description()} — {self._inventory_name or report.layer}"

    def _write_repaired(self, parameters, context, source, report) -> str:
        from ..core.validate import repair
        from ..core.validate_write import repair_plan

        to_fix, to_drop = repair_plan(report)
        gpkg = self.parameterAsOutputLayer(_not_loaded(parameters, self.REPAIRED), self.REPAIRED, context)
        layer = self.parameterAsVectorLayer(parameters, self.INVENTORY, context)
        name = _file_layer_name(layer) or report.layer
        named = _as_layer(parameters, self.REPAIRED, gpkg, name) if gpkg.lower().endswith(".gpkg") else None
        sink, dest = self.parameterAsSink(named or parameters, self.REPAIRED, context, source.fields(),
                                          QgsWkbTypes.MultiPolygon, source.sourceCrs())
        for feat in features_to_copy(source, layer):
            if feat.id() in to_drop:
                continue
            geom = feat.geometry()
            if feat.id() in to_fix:
                from osgeo import ogr

                fixed = repair(ogr.CreateGeometryFromWkb(bytes(geom.asWkb())))
                if fixed is None:
                    continue
                geom = QgsGeometry()
                geom.fromWkb(bytes(ogr.ForceToMultiPolygon(fixed).ExportToIsoWkb()))
            out = QgsFeature(feat)
            geom.convertToMultiType()
            out.setGeometry(geom)
            added_or_failed(sink, out, self.tr("The repaired copy"))
        del sink  # closed: the file is whole before its style is stored in it
        if layer is not None:  # the copy keeps the inventory's style and edit form, as `lmhld validate --repair` does
            from qgis.PyQt.QtXml import QDomDocument

            doc = QDomDocument()
            layer.exportNamedStyle(doc)
            if named is not None:  # stored in the GeoPackage too: the annotator goes on digitizing in the copy
                from ..core.inventory_schema import embed_style

                with core_errors(self.displayName(), self):
                    embed_style(gpkg, name, doc.toString())
            style_from_text(context, dest, doc.toString(), name=self._named(self.REPAIRED, report), rank=1,
                            **self._placing)
        return dest


def _file_layer_name(layer) -> str | None:
    """The name of `layer` inside its file (`landslides` of inv.gpkg, named in its source or not; a shapefile's
    stem), not the one the layers panel shows; None for a layer not read from a file."""
    from qgis.core import QgsDataProvider

    if layer is None or layer.providerType() != "ogr":
        return None
    opened = layer.dataProvider().subLayers()  # the layer the provider opened: "0!!::!!landslides!!::!!9!!::!!..."
    parts = opened[0].split(QgsDataProvider.SUBLAYER_SEPARATOR) if opened else []
    return parts[1] if len(parts) > 1 and parts[1] else None


def _not_loaded(parameters: dict, name: str) -> dict:
    """`parameters` with output `name` not to be loaded (its path is asked for; the sink loads the layer)."""
    from qgis.core import QgsProcessingOutputLayerDefinition

    value = parameters.get(name)
    if not isinstance(value, QgsProcessingOutputLayerDefinition):
        return parameters
    definition = QgsProcessingOutputLayerDefinition(value)
    definition.destinationProject = None
    return {**parameters, name: definition}


def _as_layer(parameters: dict, name: str, gpkg: str, layer: str) -> dict:
    """`parameters` with output `name` written as layer `layer` of the GeoPackage `gpkg` (QGIS names a sink's
    layer after the file: the repaired copy of `landslides` was `inv69_fixed`), its loading kept as asked."""
    from qgis.core import QgsProcessingOutputLayerDefinition, QgsProperty

    value = parameters.get(name)
    definition = QgsProcessingOutputLayerDefinition(value) if isinstance(value, QgsProcessingOutputLayerDefinition) \
        else QgsProcessingOutputLayerDefinition(str(value))
    quoted = gpkg.replace("'", "\\'")
    definition.sink = QgsProperty.fromValue(f"ogr:dbname='{quoted}' table=\"{layer}\" (geom)")
    return {**parameters, name: definition}

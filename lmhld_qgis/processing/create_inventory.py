"""lmhld:createinventory: a new landslide inventory (GeoPackage) with its edit form, loaded ready to digitize."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .base import LmhldAlgorithm
from .common import core_errors, layer_file, raster_path
from .outputs import default_output, is_temporary, safe_stem
from .styling import ResultLayer


class CreateInventory(LmhldAlgorithm):
    OUTPUT, CRS, RASTER, LAYER_NAME, EVENT_DATE, AUTHOR, OVERWRITE = (
        "OUTPUT", "CRS", "RASTER", "LAYER_NAME", "EVENT_DATE", "AUTHOR", "OVERWRITE")
    OUTPUT_LAYER = "OUTPUT_LAYER"

    ALG_ID = "createinventory"
    TITLE = "Create landslide inventory"
    GROUP_ID = "inventory"
    ICON = "create.svg"
    README_HEADING = "### A new inventory — `lmhld:createinventory`, `lmhld create-inventory`"
    HELP = ("Creates an empty landslide inventory (GeoPackage polygon layer) with the project's schema: id, type "
            "(slide, flow, fall, complex, unknown), certainty (high, medium, low), event date, source (manual, "
            "model, reviewed), author, notes, and the provenance of accepted detections. Its edit form is stored "
            "in the file: drop-downs, defaults (event date, author) and the area shown read-only, so digitizing "
            "starts at once. The CRS is the one chosen, else the imagery's, else the project's. Left at "
            "temporary, the inventory is saved beside the imagery (NAME_inventory.gpkg): a temporary file would be "
            "deleted, with its polygons, when QGIS closes.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, self.tr("Inventory (temporary → beside the imagery)"), self.tr("GeoPackage (*.gpkg)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.RASTER, self.tr("Imagery you will digitize on (gives the CRS)"), optional=True))
        self.addParameter(QgsProcessingParameterCrs(self.CRS, self.tr("CRS (empty: the imagery's)"), optional=True))
        self.addParameter(QgsProcessingParameterString(self.LAYER_NAME, self.tr("Layer name"),
                                                       defaultValue="landslides"))
        self.addParameter(QgsProcessingParameterString(
            self.EVENT_DATE, self.tr("Event date (YYYY-MM-DD, the form's default)"), optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.AUTHOR, self.tr("Author (empty: your QGIS user name)"), optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.OVERWRITE, self.tr("Replace an existing file, losing its polygons"), defaultValue=False))
        self.addOutput(QgsProcessingOutputVectorLayer(self.OUTPUT_LAYER, self.tr("Inventory layer")))

    def _crs(self, parameters, context) -> str:
        crs = self.parameterAsCrs(parameters, self.CRS, context) if parameters.get(self.CRS) else None
        if crs is None or not crs.isValid():
            raster = self.parameterAsRasterLayer(parameters, self.RASTER, context)
            crs = raster.crs() if raster is not None else context.project().crs() if context.project() else None
        if crs is None or not crs.isValid():
            raise QgsProcessingException(self.tr("choose a CRS or the imagery the inventory is for"))
        return crs.authid() or crs.toWkt(crs.WKT_PREFERRED)

    def _path(self, parameters, context) -> str:
        """The file asked for; left at "temporary", beside the imagery (NAME_inventory.gpkg, numbered to leave an
        existing one alone): a temporary file is deleted when QGIS closes, with the polygons digitized in it."""
        if not is_temporary(parameters.get(self.OUTPUT)):
            return self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        raster = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        if raster is None or raster.providerType() != "gdal":
            raise QgsProcessingException(self.tr(
                "choose where to save the inventory, or the imagery it is for (it is then saved beside it): a "
                "temporary file is deleted when QGIS closes, and the polygons digitized in it with it"))
        scene = Path(raster_path(raster))
        return str(default_output(scene.with_name(f"{safe_stem(scene.stem)}_inventory.gpkg"), context))

    def _refuse_open(self, path: str, context) -> None:
        """Replacing a file a layer of the project reads (the inventory being digitized) left the layer on a file
        that was gone: its next save said "1 feature(s) added" and the file held none."""
        from qgis.core import QgsProject

        target = Path(path).resolve()
        project = context.project() or QgsProject.instance()
        for open_layer in project.mapLayers().values():
            found = layer_file(open_layer)
            if found is not None and Path(found[0]).is_file() and Path(found[0]).resolve() == target:
                raise QgsProcessingException(self.tr(
                    "{0} is open in this project as the layer \"{1}\": replacing it would leave that layer on a "
                    "file that is gone, and its next saves would be lost; remove the layer from the project first "
                    "(after saving or discarding its edits), or choose another file").format(path, open_layer.name()))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.inventory_schema import create_inventory

        path = self._path(parameters, context)
        layer = self.parameterAsString(parameters, self.LAYER_NAME, context) or "landslides"
        if Path(path).exists():  # said before "exists; ... or replace it", which would then be refused
            self._refuse_open(path, context)
        with core_errors(self.displayName(), self):
            create_inventory(path, crs=self._crs(parameters, context), layer=layer,
                             event_date=self.parameterAsString(parameters, self.EVENT_DATE, context) or None,
                             author=self.parameterAsString(parameters, self.AUTHOR, context) or None,
                             overwrite=self.parameterAsBool(parameters, self.OVERWRITE, context))
        uri = f"{path}|layername={layer}"
        context.addLayerToLoadOnCompletion(uri, QgsProcessingContext.LayerDetails(layer, context.project(),
                                                                                  self.OUTPUT_LAYER))
        # Processing loads a result without the style its GeoPackage stores: without it the edit form (drop-downs,
        # defaults, the next id) is gone and every polygon digitized is saved with empty attributes
        ResultLayer.attach(context, uri, layer, stored_style=True)
        feedback.pushInfo(self.tr("Inventory created: toggle editing and digitize landslides."))
        return {self.OUTPUT: path, self.OUTPUT_LAYER: uri}

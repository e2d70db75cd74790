<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16" styleCategories="Symbology">
 <pipe>
  <rasterrenderer type="singlebandpseudocolor" band="1" opacity="0.6" alphaBand="-1" nodataColor="" classificationMin="0" classificationMax="1">
   <rastershader>
    <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="0" maximumValue="1" labelPrecision="2">
     <item alpha="0" value="0" label="0.00" color="#ffffff"/>
     <item alpha="0" value="0.2" label="0.20" color="#ffffbf"/>
     <item alpha="60" value="0.4" label="0.40" color="#fee08b"/>
     <item alpha="90" value="0.6" label="0.60" color="#fc8d59"/>
     <item alpha="120" value="1" label="1.00" color="#b2182b"/>
    </colorrampshader>
   </rastershader>
  </rasterrenderer>
 </pipe>
</qgis>

<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16" styleCategories="Symbology">
 <pipe>
  <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" nodataColor="" classificationMin="0" classificationMax="1">
   <rastershader>
    <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="0" maximumValue="1" labelPrecision="2">
     <item alpha="0" value="0" label="0.00" color="#ffffb2"/>
     <item alpha="0" value="0.2" label="0.20" color="#ffffb2"/>
     <item alpha="150" value="0.4" label="0.40" color="#fecc5c"/>
     <item alpha="190" value="0.6" label="0.60" color="#fd8d3c"/>
     <item alpha="220" value="0.8" label="0.80" color="#f03b20"/>
     <item alpha="235" value="1" label="1.00" color="#bd0026"/>
    </colorrampshader>
   </rastershader>
  </rasterrenderer>
 </pipe>
</qgis>

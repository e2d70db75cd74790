<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16" styleCategories="Symbology">
 <pipe>
  <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
   <colorPalette>
    <paletteEntry value="1" label="TP (detected landslide)" color="#1a9641" alpha="255"/>
    <paletteEntry value="2" label="FP (false alarm)" color="#d7191c" alpha="255"/>
    <paletteEntry value="3" label="FN (missed landslide)" color="#2b83ba" alpha="255"/>
    <paletteEntry value="4" label="TN (background)" color="#ffffff" alpha="0"/>
   </colorPalette>
  </rasterrenderer>
 </pipe>
</qgis>

<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16" styleCategories="Symbology">
 <renderer-v2 type="categorizedSymbol" attr="category" symbollevels="0" enableorderby="0" forceraster="0">
  <categories>
   <category symbol="0" value="train" label="training patch" render="true"/>
   <category symbol="1" value="val" label="validation patch" render="true"/>
   <category symbol="2" value="test" label="test patch" render="true"/>
   <category symbol="3" value="dropped" label="dropped window (see its reason)" render="true"/>
   <category symbol="4" value="dropped overlap" label="dropped overlapping training window" render="false"/>
   <category symbol="5" value="kept" label="kept window (too few to split: export refuses)" render="true"/>
  </categories>
  <symbols>
   <symbol type="fill" name="0" alpha="1" clip_to_extent="1" force_rhr="0">
    <layer class="SimpleFill" enabled="1" pass="0" locked="0">
     <Option type="Map">
      <Option name="color" type="QString" value="31,120,180,70"/>
      <Option name="joinstyle" type="QString" value="miter"/>
      <Option name="outline_color" type="QString" value="31,120,180,255"/>
      <Option name="outline_style" type="QString" value="solid"/>
      <Option name="outline_width" type="QString" value="0.5"/>
      <Option name="outline_width_unit" type="QString" value="MM"/>
      <Option name="style" type="QString" value="solid"/>
     </Option>
    </layer>
   </symbol>
   <symbol type="fill" name="1" alpha="1" clip_to_extent="1" force_rhr="0">
    <layer class="SimpleFill" enabled="1" pass="0" locked="0">
     <Option type="Map">
      <Option name="color" type="QString" value="255,127,0,90"/>
      <Option name="joinstyle" type="QString" value="miter"/>
      <Option name="outline_color" type="QString" value="230,85,13,255"/>
      <Option name="outline_style" type="QString" value="solid"/>
      <Option name="outline_width" type="QString" value="0.5"/>
      <Option name="outline_width_unit" type="QString" value="MM"/>
      <Option name="style" type="QString" value="solid"/>
     </Option>
    </layer>
   </symbol>
   <symbol type="fill" name="2" alpha="1" clip_to_extent="1" force_rhr="0">
    <layer class="SimpleFill" enabled="1" pass="0" locked="0">
     <Option type="Map">
      <Option name="color" type="QString" value="152,78,163,90"/>
      <Option name="joinstyle" type="QString" value="miter"/>
      <Option name="outline_color" type="QString" value="106,61,154,255"/>
      <Option name="outline_style" type="QString" value="solid"/>
      <Option name="outline_width" type="QString" value="0.5"/>
      <Option name="outline_width_unit" type="QString" value="MM"/>
      <Option name="style" type="QString" value="solid"/>
     </Option>
    </layer>
   </symbol>
   <symbol type="fill" name="3" alpha="1" clip_to_extent="1" force_rhr="0">
    <layer class="SimpleFill" enabled="1" pass="0" locked="0">
     <Option type="Map">
      <Option name="color" type="QString" value="0,0,0,0"/>
      <Option name="joinstyle" type="QString" value="miter"/>
      <Option name="outline_color" type="QString" value="150,150,150,255"/>
      <Option name="outline_style" type="QString" value="dash"/>
      <Option name="outline_width" type="QString" value="0.2"/>
      <Option name="outline_width_unit" type="QString" value="MM"/>
      <Option name="style" type="QString" value="no"/>
     </Option>
    </layer>
   </symbol>
   <symbol type="fill" name="4" alpha="1" clip_to_extent="1" force_rhr="0">
    <layer class="SimpleFill" enabled="1" pass="0" locked="0">
     <Option type="Map">
      <Option name="color" type="QString" value="0,0,0,0"/>
      <Option name="joinstyle" type="QString" value="miter"/>
      <Option name="outline_color" type="QString" value="190,190,190,255"/>
      <Option name="outline_style" type="QString" value="dot"/>
      <Option name="outline_width" type="QString" value="0.15"/>
      <Option name="outline_width_unit" type="QString" value="MM"/>
      <Option name="style" type="QString" value="no"/>
     </Option>
    </layer>
   </symbol>
   <symbol type="fill" name="5" alpha="1" clip_to_extent="1" force_rhr="0">
    <layer class="SimpleFill" enabled="1" pass="0" locked="0">
     <Option type="Map">
      <Option name="color" type="QString" value="120,120,120,90"/>
      <Option name="joinstyle" type="QString" value="miter"/>
      <Option name="outline_color" type="QString" value="60,60,60,255"/>
      <Option name="outline_style" type="QString" value="solid"/>
      <Option name="outline_width" type="QString" value="0.5"/>
      <Option name="outline_width_unit" type="QString" value="MM"/>
      <Option name="style" type="QString" value="solid"/>
     </Option>
    </layer>
   </symbol>
  </symbols>
 </renderer-v2>
</qgis>

<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16" styleCategories="Symbology|Fields|Forms">
 <renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">
  <symbols>
   <symbol type="fill" name="0" alpha="1" clip_to_extent="1" force_rhr="0">
    <layer class="SimpleFill" enabled="1" pass="0" locked="0">
     <Option type="Map">
      <Option name="color" type="QString" value="255,110,90,25"/>
      <Option name="joinstyle" type="QString" value="round"/>
      <Option name="outline_color" type="QString" value="215,25,28,255"/>
      <Option name="outline_style" type="QString" value="solid"/>
      <Option name="outline_width" type="QString" value="0.6"/>
      <Option name="outline_width_unit" type="QString" value="MM"/>
      <Option name="style" type="QString" value="solid"/>
     </Option>
    </layer>
   </symbol>
  </symbols>
 </renderer-v2>
 <fieldConfiguration>
  <field name="area_m2" configurationFlags="None">
   <editWidget type="Range">
    <config>
     <Option type="Map">
      <Option name="AllowNull" type="bool" value="true"/>
      <Option name="Precision" type="int" value="0"/>
      <Option name="Style" type="QString" value="SpinBox"/>
     </Option>
    </config>
   </editWidget>
  </field>
  <field name="perimeter_m" configurationFlags="None">
   <editWidget type="Range">
    <config>
     <Option type="Map">
      <Option name="AllowNull" type="bool" value="true"/>
      <Option name="Precision" type="int" value="0"/>
      <Option name="Style" type="QString" value="SpinBox"/>
     </Option>
    </config>
   </editWidget>
  </field>
  <field name="mean_prob" configurationFlags="None">
   <editWidget type="Range">
    <config>
     <Option type="Map">
      <Option name="AllowNull" type="bool" value="true"/>
      <Option name="Precision" type="int" value="2"/>
      <Option name="Style" type="QString" value="SpinBox"/>
     </Option>
    </config>
   </editWidget>
  </field>
  <field name="max_prob" configurationFlags="None">
   <editWidget type="Range">
    <config>
     <Option type="Map">
      <Option name="AllowNull" type="bool" value="true"/>
      <Option name="Precision" type="int" value="2"/>
      <Option name="Style" type="QString" value="SpinBox"/>
     </Option>
    </config>
   </editWidget>
  </field>
 </fieldConfiguration>
</qgis>

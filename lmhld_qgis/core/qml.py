"""QGIS layer styles (QML) built from code: symbology and the attribute form of a layer.

The styles of the layers this project creates (an inventory with its edit form, problems, ranked tiles) are built
here from the same field definitions that create the layers, so a schema change cannot leave a stale form behind.
QGIS reads them from the GeoPackage's layer_styles table (core.styles.embed_vector_style) when the layer opens.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

QGIS_VERSION = "3.22.16"


@dataclass(frozen=True)
class FormField:
    """How one field appears in QGIS's attribute form."""

    name: str
    alias: str = ""
    widget: str = ""  # QGIS editor widget type: ValueMap, DateTime, TextEdit, Range, ... ("" = QGIS's default)
    config: Mapping[str, object] = field(default_factory=dict)
    value_map: Sequence[tuple[str, str]] = ()  # (label, stored value) pairs: a drop-down
    default: str = ""  # a QGIS expression evaluated for new features
    not_null: bool = False
    editable: bool = True


@dataclass(frozen=True)
class ExpressionField:
    """A virtual field QGIS computes from an expression (not stored in the file)."""

    name: str
    expression: str
    qvariant_type: int = 6  # QVariant::Double
    comment: str = ""
    alias: str = ""


@dataclass(frozen=True)
class FillSymbol:
    fill: str = "0,0,0,0"  # r,g,b,a
    outline: str = "255,0,0,255"
    width_mm: float = 0.5
    style: str = "solid"


def _option(parent: ET.Element, value: object, name: str | None = None) -> ET.Element:
    """QGIS's <Option> encoding of a scalar, list or map."""
    el = ET.SubElement(parent, "Option")
    if name is not None:
        el.set("name", name)
    if isinstance(value, Mapping):
        el.set("type", "Map")
        for key, item in value.items():
            _option(el, item, str(key))
    elif isinstance(value, list | tuple):
        el.set("type", "List")
        for item in value:
            _option(el, item)
    elif isinstance(value, bool):
        el.set("type", "bool")
        el.set("value", "true" if value else "false")
    elif isinstance(value, int):
        el.set("type", "int")
        el.set("value", str(value))
    elif isinstance(value, float):
        el.set("type", "double")
        el.set("value", repr(value))
    else:
        el.set("type", "QString")
        el.set("value", str(value))
    return el


def _fill_symbol(parent: ET.Element, name: str, symbol: FillSymbol) -> None:
    sym = ET.SubElement(parent, "symbol", type="fill", name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    layer = ET.SubElement(sym, "layer", {"class": "SimpleFill", "enabled": "1", "pass": "0", "locked": "0"})
    _option(layer, {"color": symbol.fill, "joinstyle": "round", "outline_color": symbol.outline,
                    "outline_style": "solid", "outline_width": str(symbol.width_mm), "outline_width_unit": "MM",
                    "style": symbol.style})


def single_renderer(root: ET.Element, symbol: FillSymbol) -> None:
    renderer = ET.SubElement(root, "renderer-v2", type="singleSymbol", symbollevels="0", enableorderby="0",
                             forceraster="0")
    _fill_symbol(ET.SubElement(renderer, "symbols"), "0", symbol)


def categorized_renderer(root: ET.Element, attribute: str, categories: Sequence[tuple[str, str, FillSymbol]],
                         fallback: FillSymbol | None = None) -> None:
    """Categories as (value, label, symbol); `fallback` draws every other value (including NULL)."""
    renderer = ET.SubElement(root, "renderer-v2", type="categorizedSymbol", attr=attribute, symbollevels="0",
                             enableorderby="0", forceraster="0")
    cats = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    items = list(categories) + ([("", "other", fallback)] if fallback is not None else [])
    for i, (value, label, symbol) in enumerate(items):
        ET.SubElement(cats, "category", render="true", symbol=str(i), value=value, label=label)
        _fill_symbol(symbols, str(i), symbol)


def labels(root: ET.Element, field_name: str, colour: str = "255,0,255,255", size: float = 11.0) -> None:
    """Label each feature with a field's value (bold, haloed, over the feature's centre)."""
    root.set("labelsEnabled", "1")
    settings = ET.SubElement(ET.SubElement(root, "labeling", type="simple"), "settings", calloutType="simple")
    ET.SubElement(settings, "text-style", fieldName=field_name, isExpression="0", fontSize=f"{size:g}",
                  fontSizeUnit="Point", fontWeight="75", textColor=colour, textOpacity="1", namedStyle="Bold")
    ET.SubElement(settings, "text-buffer", bufferDraw="1", bufferSize="1", bufferSizeUnits="MM",
                  bufferColor="255,255,255,255", bufferOpacity="1")
    ET.SubElement(settings, "placement", placement="1", offsetType="0", dist="0", priority="5")
    ET.SubElement(settings, "rendering", obstacle="0", displayAll="1", drawLabels="1", scaleVisibility="0")


def form(root: ET.Element, fields: Sequence[FormField], expression_fields: Sequence[ExpressionField] = ()) -> None:
    """The attribute form: widgets (drop-downs for value maps), aliases, defaults, constraints, read-only fields."""
    config = ET.SubElement(root, "fieldConfiguration")
    aliases = ET.SubElement(root, "aliases")
    defaults = ET.SubElement(root, "defaults")
    constraints = ET.SubElement(root, "constraints")
    for index, f in enumerate(fields):
        el = ET.SubElement(config, "field", name=f.name, configurationFlags="None")
        widget = ET.SubElement(el, "editWidget", type="ValueMap" if f.value_map else f.widget)
        options: dict[str, object] = dict(f.config)
        if f.value_map:
            options["map"] = [{label: value} for label, value in f.value_map]
        _option(ET.SubElement(widget, "config"), options)
        ET.SubElement(aliases, "alias", index=str(index), field=f.name, name=f.alias)
        ET.SubElement(defaults, "default", field=f.name, expression=f.default, applyOnUpdate="0")
        ET.SubElement(constraints, "constraint", field=f.name, constraints="1" if f.not_null else "0",
                      notnull_strength="1" if f.not_null else "0", unique_strength="0", exp_strength="0")
    for e in expression_fields:
        ET.SubElement(aliases, "alias", index=str(len(fields)), field=e.name, name=e.alias)
    expressions = ET.SubElement(root, "expressionfields")
    for e in expression_fields:
        ET.SubElement(expressions, "field", name=e.name, expression=e.expression, type=str(e.qvariant_type),
                      typeName="", length="0", precision="0", subType="0", comment=e.comment)
    ET.SubElement(root, "editorlayout").text = "generatedlayout"
    editable = ET.SubElement(root, "editable")
    for name in [f.name for f in fields if not f.editable] + [e.name for e in expression_fields]:
        ET.SubElement(editable, "field", name=name, editable="0")


def new_style(categories: str = "Symbology|Fields|Forms") -> ET.Element:
    return ET.Element("qgis", version=QGIS_VERSION, styleCategories=categories)


def to_text(root: ET.Element) -> str:
    ET.indent(root, " ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"

"""lmhld_qgis: landslide detection from multi-source high-resolution imagery (QGIS plugin and Python library).

Importing the package is cheap: QGIS calls `classFactory` at start-up, and nothing heavy (torch, onnxruntime)
is imported until an algorithm runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qgis.gui import QgisInterface

    from .plugin import LmhldPlugin

__version__ = "0.1.0"
PLUGIN_NAME = "LMHLD Landslide Detection"  # as metadata.txt names it: the menu, the provider, every help text


def classFactory(iface: QgisInterface) -> LmhldPlugin:
    """QGIS plugin entry point."""
    from .plugin import LmhldPlugin

    return LmhldPlugin(iface)

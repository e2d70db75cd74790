"""QGIS tests must release every layer before QGIS exits, or the interpreter segfaults at shutdown."""

import gc

import pytest


@pytest.fixture(autouse=True)
def release_layers():
    yield
    from qgis.core import QgsProject

    QgsProject.instance().clear()
    gc.collect()

"""Thin Processing adapters: QGIS parameters, layers and feedback in; core calls; files and layers out."""

"""Thin Processing adapters: QGIS parameters, layers and feedback in; core calls; files and layers out."""

from ..core.terms import speak

speak("flags")  # the core's messages keep their flags, which common.in_dialog_terms turns into parameters

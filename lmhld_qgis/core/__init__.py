"""The method, free of qgis and PyQt: every front door (Processing, `lmhld`, Python) calls into here."""

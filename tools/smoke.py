"""Setup smoke check: QGIS, torch, onnxruntime, rasterio, GDAL and the baselines' smp import together, over one
GDAL."""

import sys

import onnxruntime
import rasterio
import segmentation_models_pytorch as smp  # with timm and torchvision: fails when torchvision does not fit torch
import torch
from osgeo import gdal, gdal_array  # noqa: F401  (gdal_array fails under a NumPy 2 mismatch)
from qgis.core import Qgis

import lmhld_qgis

problems = []
if rasterio.__gdal_version__ != gdal.__version__:
    problems.append(f"two GDALs: rasterio links {rasterio.__gdal_version__}, osgeo {gdal.__version__}; "
                    "use Debian's python3-rasterio, not the PyPI wheel")
print(f"smoke: QGIS {Qgis.QGIS_VERSION}, GDAL {gdal.__version__}, torch {torch.__version__}, "
      f"onnxruntime {onnxruntime.__version__}, smp {smp.__version__}, lmhld_qgis {lmhld_qgis.__version__}")
if problems:
    sys.exit("smoke check failed:\n  " + "\n  ".join(problems))

"""Dataset readers: one module per format, one sample type for all, and `open_dataset` to pick the reader."""

from .base import PatchDataset, Sample
from .detect import open_dataset
from .mix import MixDataset

__all__ = ["MixDataset", "PatchDataset", "Sample", "open_dataset"]

"""The metadata a model carries (inside its ONNX file and its checkpoint), read back as one typed object.

ONNX metadata holds the keys the Deepness QGIS plugin reads (JSON-encoded values) so that our models also run
there, and the project's own keys under the `lmhld.` prefix.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import LmhldError

PREFIX = "lmhld."


@dataclass
class ModelCard:
    architecture: str
    in_channels: int
    num_classes: int = 1
    model_options: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=lambda: ["background", "landslide"])
    bands: list[str] = field(default_factory=list)  # band names in input order (e.g. blue, green, red, nir)
    patch_size: int = 128
    resolution_m: float | None = None  # training pixel size
    mean: list[float] = field(default_factory=list)  # per input band, raw units
    std: list[float] = field(default_factory=list)
    threshold: float = 0.5
    threshold_source: str = "default"  # "default" (the configured value) or "validation" (calibrated on val)
    min_area_m2: float = 0.0  # detections smaller than this are dropped by default (learnt from the inventory)
    fill_holes_m2: float = 0.0  # holes smaller than this are filled by default
    tiles_overlap: float = 0.25  # fraction of the tile
    min_segment_px: int = 0
    training_dataset: str = ""
    output: str = "probability"  # what the ONNX graph returns: "probability" (sigmoid/softmax applied) or "logits"
    dynamic_size: bool = True  # any size that is a multiple of size_multiple
    size_multiple: int = 16
    version: str = ""

    def __post_init__(self) -> None:
        if not self.bands:
            self.bands = [f"band{i + 1}" for i in range(self.in_channels)]
        if not self.mean:
            self.mean = [0.0] * self.in_channels
        if not self.std:
            self.std = [1.0] * self.in_channels
        if not (len(self.bands) == len(self.mean) == len(self.std) == self.in_channels):
            raise LmhldError(f"model card: {self.in_channels} input channels but {len(self.bands)} band names, "
                             f"{len(self.mean)} means and {len(self.std)} stds")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def onnx_metadata(self) -> dict[str, str]:
        """Metadata entries for the ONNX file: Deepness's keys and ours, values JSON-encoded."""
        deepness = {
            "model_type": "Segmentor",
            "class_names": {str(i): n for i, n in enumerate(self.class_names)},
            "resolution": None if self.resolution_m is None else self.resolution_m * 100.0,  # cm/px
            "tile_size": self.patch_size,
            "tiles_overlap": round(self.tiles_overlap * 100),  # percent
            "standardization_mean": self.mean,
            "standardization_std": self.std,
            "seg_thresh": self.threshold,
            "seg_small_segment": self.min_segment_px,
        }
        ours = {PREFIX + k: v for k, v in self.to_dict().items()}
        return {k: json.dumps(v) for k, v in {**deepness, **ours}.items()}

    @classmethod
    def from_onnx_metadata(cls, meta: dict[str, str], source: str = "model") -> ModelCard:
        ours = {k[len(PREFIX):]: json.loads(v) for k, v in meta.items() if k.startswith(PREFIX)}
        if "architecture" not in ours:
            raise LmhldError(f"{source} carries no lmhld metadata (lmhld.architecture missing); export it with "
                             "`lmhld export-onnx`, or give band names, patch size and normalisation explicitly")
        return cls.from_dict(ours)


def read_onnx_card(path: str | Path) -> ModelCard:
    """Read the model card from an ONNX file without loading the weights into a session (with the onnx package;
    without it, through an onnxruntime session: detection needs only onnxruntime)."""
    try:
        import onnx
    except ImportError:
        return _read_card_with_onnxruntime(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise LmhldError(f"cannot read ONNX model {path}: {exc}") from exc
    return ModelCard.from_onnx_metadata({p.key: p.value for p in model.metadata_props}, source=str(path))


def _read_card_with_onnxruntime(path: str | Path) -> ModelCard:
    import onnxruntime as ort

    try:
        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception as exc:
        raise LmhldError(f"cannot read ONNX model {path}: {exc}") from exc
    return ModelCard.from_onnx_metadata(dict(meta.custom_metadata_map), source=str(path))

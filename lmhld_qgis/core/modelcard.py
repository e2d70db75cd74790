"""The metadata a model carries (inside its ONNX file and its checkpoint), read back as one typed object.

ONNX metadata holds the project's own keys under the `lmhld.` prefix and, on files that other clients can run as
they are (probabilities out, a fixed input size), the keys the Deepness QGIS plugin reads (JSON-encoded values).

Two input conventions exist (`ModelCard.input`):
- "raw": the graph takes raw pixel values and does the rest itself: pixels that are not finite or equal `nodata`
  in any band become the band mean, the others are standardised, and the output says background at those pixels.
  Any ONNX client that passes raw pixels gets the project's result. What `lmhld export-onnx` and training write.
- "standardized": the caller feeds (x - mean) / std with invalid pixels at 0. Files written before the "raw"
  convention existed carry no `lmhld.input` key and read as this.

Either way the graph itself removes each tile's level from the relative-level bands (`relative_bands`, e.g. a DSM:
see training/relative.py), so clients need to know nothing about them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .errors import LmhldError, import_native

PREFIX = "lmhld."
RELATIVE_SURFACES = ("plane", "level", "ground")  # what a relative band loses per tile (training/relative.py)
INPUTS = ("raw", "standardized")
DEEPNESS_KEYS = ("model_type", "class_names", "resolution", "tile_size", "tiles_overlap", "standardization_mean",
                 "standardization_std", "seg_thresh", "seg_small_segment")

ModelOutput = Literal["probability", "logits"]  # sigmoid/softmax applied in the graph, or not
ModelInput = Literal["raw", "standardized"]  # pixel values (normalisation in the graph), or (x - mean) / std


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
    relative_bands: list[int] = field(default_factory=list)  # 0-based inputs whose level each tile loses (DSM/DEM)
    relative_scale: list[float] = field(default_factory=list)  # per relative band: std / within-patch std
    relative_surface: str = "level"  # what a relative band loses per tile: "level" (older models), "plane", or
    # "ground" (the plane through the pixels that are not canopy)
    relative_rough: list[float] = field(default_factory=list)  # "ground": per relative band, the canopy's
    # roughness limit in standardised units
    threshold: float = 0.5
    threshold_source: str = "default"  # "default" (the configured value) or "validation" (calibrated on val)
    min_area_m2: float = 0.0  # detections smaller than this are dropped by default (learnt from the inventory)
    fill_holes_m2: float = 0.0  # holes smaller than this are filled by default
    large_landslide_area_m2: float | None = None  # 90th percentile of the training landslides' areas (the
    # coarse context pass's "auto": core.multiscale)
    tiles_overlap: float = 0.25  # fraction of the tile
    min_segment_px: int = 0
    training_dataset: str = ""
    validation_f1: float | None = None  # landslide F1 of the kept epoch on the validation split (None: no split)
    output: ModelOutput = "probability"  # what the ONNX graph returns: probabilities (sigmoid/softmax in it) or logits
    dynamic_size: bool = True  # the graph computes at any size that is a multiple of size_multiple
    size_multiple: int = 16
    version: str = ""
    input: ModelInput = "standardized"  # what the ONNX graph takes: "raw" pixel values or "standardized" ones
    nodata: float | None = None  # a "raw" graph also treats this value (in any band) as missing; NaN/inf always
    fixed_input: bool = False  # the file declares height = width = patch_size (batch dynamic) whatever the graph
    deepness_keys: bool = False  # the file carries the keys Deepness reads, in Deepness's units
    # per input, what the imagery's values were divided by to give the training data's (Landslide4Sense's published
    # units); mean and std are in those units. Empty: the imagery's own values. Detection divides a scene in the
    # imagery's units alike (scene_check.scene_divisor decides), and Deepness's keys fold it in.
    input_divisor: list[float] = field(default_factory=list)

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
        if len(self.relative_bands) != len(self.relative_scale) or any(
                not 0 <= b < self.in_channels for b in self.relative_bands):
            raise LmhldError(f"model card: relative bands {self.relative_bands} (scales {self.relative_scale}) do "
                             f"not fit {self.in_channels} input channels")
        if self.relative_surface not in RELATIVE_SURFACES:
            raise LmhldError(f"model card: relative surface must be one of {', '.join(RELATIVE_SURFACES)}, "
                             f"got {self.relative_surface!r}")
        if self.relative_surface == "ground" and len(self.relative_rough) != len(self.relative_bands):
            raise LmhldError(f"model card: a ground surface needs a roughness limit per relative band, got "
                             f"{self.relative_rough} for bands {self.relative_bands}")
        if self.nodata is not None and not math.isfinite(self.nodata):
            self.nodata = None  # NaN nodata: non-finite values are missing anyway
        if self.input not in INPUTS:
            raise LmhldError(f"model card: input must be one of {', '.join(INPUTS)}, got {self.input!r}")
        if self.input_divisor and (len(self.input_divisor) != self.in_channels
                                   or not all(math.isfinite(d) and d > 0 for d in self.input_divisor)):
            raise LmhldError(f"model card: input_divisor {self.input_divisor} is not a positive number per input "
                             f"channel ({self.in_channels})")

    @property
    def declared_size(self) -> int | None:
        """Height = width the file declares for its input; None when they are symbolic (any multiple)."""
        return self.patch_size if self.fixed_input or not self.dynamic_size else None

    @property
    def runs_in_deepness(self) -> bool:
        """Whether Deepness can run the file as it is: it reads the tile size from the input shape (a number) and
        thresholds the output as probabilities. The export writes Deepness's keys exactly then."""
        return self.output == "probability" and self.declared_size is not None

    @property
    def safe_std(self) -> list[float]:
        """The std used to standardise: a zero std (a constant band) divides by 1."""
        return [s if s > 0 else 1.0 for s in self.std]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def deepness_metadata(self) -> dict[str, Any]:
        """The keys Deepness reads, in its units: it divides pixel values by 255, then standardises them with
        `standardization_mean/std` (a model trained on divided values, `input_divisor`, gets the division folded
        in); resolution in cm/px (left out when unknown: Deepness then keeps its own
        setting); overlap in percent."""
        # Deepness reads the imagery as it is: a divisor folds into both, ((x / 255) - m d / 255) / (s d / 255)
        divisor = self.input_divisor or [1.0] * self.in_channels
        if self.input == "raw":  # (x / 255 - 0) / (d / 255) gives the graph the values it was trained on
            mean, std = [0.0] * self.in_channels, [d / 255.0 for d in divisor]
        else:
            mean = [m * d / 255.0 for m, d in zip(self.mean, divisor, strict=True)]
            std = [s * d / 255.0 for s, d in zip(self.safe_std, divisor, strict=True)]
        keys: dict[str, Any] = {
            "model_type": "Segmentor",
            "class_names": {str(i): n for i, n in enumerate(self.class_names)},
            "tile_size": self.patch_size,
            "tiles_overlap": round(self.tiles_overlap * 100),
            "standardization_mean": mean,
            "standardization_std": std,
            "seg_thresh": self.threshold,
            "seg_small_segment": self.min_segment_px,
        }
        if self.resolution_m is not None:
            keys["resolution"] = self.resolution_m * 100.0
        return keys

    def onnx_metadata(self) -> dict[str, str]:
        """Metadata entries for the ONNX file, values JSON-encoded, no null values: ours, plus Deepness's keys
        when `deepness_keys` says so (the export sets it where Deepness can run the file)."""
        entries = {PREFIX + k: v for k, v in self.to_dict().items() if v is not None}
        if self.deepness_keys:
            entries.update(self.deepness_metadata())
        return {k: json.dumps(v) for k, v in entries.items()}

    @classmethod
    def from_onnx_metadata(cls, meta: dict[str, str], source: str = "model") -> ModelCard:
        ours = {}
        for key, text in meta.items():
            if key.startswith(PREFIX):
                try:
                    ours[key[len(PREFIX):]] = json.loads(text)
                except ValueError as exc:
                    raise LmhldError(f"{source}: metadata {key} is not valid JSON ({exc}); export the model again "
                                     "with `lmhld export-onnx`") from exc
        if "architecture" not in ours:
            what = ("it carries Deepness metadata only: a Deepness model, not one from lmhld"
                    if "model_type" in meta else "it carries no model card")
            raise LmhldError(f"{source} is not an lmhld model ({what}; lmhld.architecture is missing). lmhld runs "
                             "the model.onnx that training writes (`lmhld train`; in QGIS: Train landslide model), "
                             "or a checkpoint exported with `lmhld export-onnx best.pt --out model.onnx`")
        try:
            return cls.from_dict(ours)
        except TypeError as exc:
            raise LmhldError(f"{source}: its model card is incomplete or malformed ({exc}); export the model again "
                             "with `lmhld export-onnx`") from exc

    def usage_rows(self) -> list[tuple[str, str]]:
        """What the file takes and which tool runs it, as (field, value) rows for the Model information output."""
        if self.input == "raw":
            nodata = "non-finite values" + ("" if self.nodata is None else f" and {self.nodata:g} (in any band)")
            taken = f"raw pixel values; the model standardises them and treats {nodata} as missing"
        else:
            taken = "standardized values (x - mean) / std, computed by the caller (lmhld detect does it)"
        size = self.declared_size
        shape = f"N x {self.in_channels} x " + (f"{size} x {size}" if size else "H x W")
        if size and self.dynamic_size:
            shape += f" (lmhld detect also runs it at any multiple of {self.size_multiple})"
        if self.deepness_keys:
            clients = "lmhld detect, QGIS Processing and Deepness (Load default parameters"
            clients += ")" if self.resolution_m else ", then set the resolution to the raster's pixel size)"
        else:
            clients = ("lmhld detect and QGIS Processing; not Deepness (for it, export the checkpoint again: "
                       "`lmhld export-onnx best.pt --out model.onnx`)")
        return [("input values", taken), ("input shape", shape), ("runs in", clients)]


def require_model_file(path: str | Path) -> None:
    """Refuse a missing or empty model file (an empty one is a copy or a download that did not finish)."""
    if not Path(path).is_file():
        raise LmhldError(f"model {path} does not exist")
    if Path(path).stat().st_size == 0:
        raise LmhldError(f"model {path} is empty (0 bytes): a copy or a download that did not finish? Copy it again, "
                         "or use model.onnx from an lmhld run folder")


def read_onnx_proto(path: str | Path) -> Any:
    """The ONNX model (an onnx.ModelProto), with a clear error for a missing or unreadable file."""
    onnx = import_native("onnx")

    require_model_file(path)
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise _unreadable(path) from exc


def _unreadable(path: str | Path) -> LmhldError:
    """A file onnx cannot parse, said for what it likely is (the parser's own exception name, "DecodeError", meant
    nothing to a user)."""
    if Path(path).suffix.lower() in (".pt", ".pth", ".ckpt"):
        return LmhldError(f"{path} is a training checkpoint, not an ONNX model: give its run folder's model.onnx, or "
                          "export one from it (`lmhld export-onnx`)")
    return LmhldError(f"cannot read {path} as an ONNX model (it is damaged, or not an .onnx file): give an .onnx "
                      "file written by lmhld's training (`lmhld train`; in QGIS: Train landslide model) or "
                      "`lmhld export-onnx`")


def card_from_proto(proto: Any, source: str) -> ModelCard:
    return ModelCard.from_onnx_metadata({p.key: p.value for p in proto.metadata_props}, source=source)


def read_onnx_card(path: str | Path) -> ModelCard:
    """Read the model card from an ONNX file without creating an inference session (with the onnx package;
    without it, through an onnxruntime session: detection needs only onnxruntime)."""
    try:
        import_native("onnx")
    except ImportError:
        return _read_card_with_onnxruntime(path)
    return card_from_proto(read_onnx_proto(path), str(path))


def _read_card_with_onnxruntime(path: str | Path) -> ModelCard:
    ort = import_native("onnxruntime")

    require_model_file(path)
    try:
        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception as exc:
        raise _unreadable(path) from exc
    return ModelCard.from_onnx_metadata(dict(meta.custom_metadata_map), source=str(path))


GENERIC_MODEL_NAMES = frozenset({"model", "best", "last"})  # what training names every run's files


def model_display_name(path: str | Path) -> str:
    """A model's name for layer names and logs: its file name, or its run folder's for the files training writes
    (two runs' model.onnx would otherwise both read "model")."""
    path = Path(path)
    if path.stem.lower() in GENERIC_MODEL_NAMES and path.parent.name:
        return path.parent.name
    return path.stem

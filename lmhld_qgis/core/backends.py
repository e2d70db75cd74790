"""Inference backends: onnxruntime (what detection needs) here; torch (for .pt checkpoints) in training.backend.

A backend maps a standardized float32 batch (N, C, H, W), (x - mean) / std with invalid pixels at 0, to landslide
probabilities (N, H, W), whatever convention the model file follows: a file whose graph takes raw pixels
(card.input "raw") is given mean + x * std, which is the raw value again, and NaN at invalid pixels (which the
graph takes as missing, as it takes the raster's nodata). A file that declares a fixed input size but whose graph
holds at any multiple of its stride (card.dynamic_size) is run with its height and width relaxed, so detection may
tile at other sizes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from .errors import LmhldError, import_native
from .modelcard import ModelCard

Array = npt.NDArray[Any]
Provider = Literal["auto", "cpu", "cuda"]  # what to run on: the GPU when present (auto), or the one named


class Backend(Protocol):
    card: ModelCard
    provider: str  # what really runs, e.g. "CPUExecutionProvider", "CUDAExecutionProvider", "torch-cpu"

    def predict(self, batch: Array) -> Array: ...


def to_probability(out: Array, output: str) -> Array:
    """(N, K, H, W) network output -> (N, H, W) landslide probability."""
    if output == "logits":
        if out.shape[1] == 1:
            out = 1.0 / (1.0 + np.exp(-out))
        else:
            e = np.exp(out - out.max(axis=1, keepdims=True))
            out = e / e.sum(axis=1, keepdims=True)
    return out[:, -1] if out.shape[1] > 1 else out[:, 0]


class OnnxBackend:
    def __init__(self, path: str | Path, provider: Provider = "auto", threads: int = 0) -> None:
        ort = import_native("onnxruntime")
        self.card, model = _open_onnx(path)
        card = self.card
        if provider not in ("auto", "cpu", "cuda"):
            raise LmhldError(f"provider must be auto, cpu or cuda, got {provider!r}")
        wanted = ["CPUExecutionProvider"]
        if provider in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            wanted.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # a missing CUDA library is reported below, not as an ORT error dump
        with _quiet_ort(ort):
            try:
                self.session = ort.InferenceSession(model, options, providers=wanted)
            except Exception as exc:  # a truncated or foreign file: onnxruntime's own exception types
                raise LmhldError(f"cannot read ONNX model {path}: {exc}") from exc
        self.provider = self.session.get_providers()[0]
        if provider == "cuda" and self.provider != "CUDAExecutionProvider":
            raise LmhldError("CUDA was asked for but onnxruntime could not load it (needs onnxruntime-gpu with "
                             "CUDA 13 and cuDNN 9 libraries); use --provider auto or --provider cpu")
        self.input_name = self.session.get_inputs()[0].name
        self.raw_scale: tuple[Array, Array] | None = None
        if card.input == "raw":
            self.raw_scale = (np.asarray(card.safe_std, np.float32)[:, None, None],
                              np.asarray(card.mean, np.float32)[:, None, None])

    def predict(self, batch: Array) -> Array:
        x = np.asarray(batch, dtype=np.float32)
        if self.raw_scale is not None:
            std, mean = self.raw_scale
            missing = ~(x != 0).any(axis=1, keepdims=True)  # invalid pixels come at 0 in every band
            # ... and go to the graph as NaN, which it takes as missing: at the band mean they would count as
            # valid pixels, and a relative band's plane would be fitted through them (a tile half nodata flagged
            # a third of its valid pixels as landslide)
            x = np.where(missing, np.float32(np.nan), x * std + mean)
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[0]
        return to_probability(out, self.card.output)


def _open_onnx(path: str | Path) -> tuple[ModelCard, str | bytes]:
    """The model card and what onnxruntime should load: the graph with its declared height and width relaxed when
    the card says any multiple runs. Without the onnx package (a detection-only machine has onnxruntime alone) the
    file runs as declared: at its patch size."""
    from .modelcard import card_from_proto, read_onnx_card, read_onnx_proto

    try:
        import_native("onnx")
    except ImportError:
        card = read_onnx_card(path)
        if card.declared_size is not None:
            card.dynamic_size = False  # other tile sizes need the graph relaxed, which needs the onnx package
        return card, str(path)
    proto = read_onnx_proto(path)
    card = card_from_proto(proto, str(path))
    _check_input_channels(proto, card, path)
    if card.dynamic_size and _relax_declared_size(proto):
        return card, proto.SerializeToString()
    return card, str(path)


def _check_input_channels(proto: Any, card: ModelCard, path: str | Path) -> None:
    """The graph's input and the card must agree on the band count (a hand-edited card would mislead)."""
    if len(proto.graph.input) != 1:
        raise LmhldError(f"model {path} has {len(proto.graph.input)} inputs; lmhld models have one image input")
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise LmhldError(f"model {path}: its input has {len(dims)} dimensions, not 4 (batch, bands, height, width)")
    if dims[1].HasField("dim_value") and dims[1].dim_value != card.in_channels:
        raise LmhldError(f"model {path}: its graph takes {dims[1].dim_value} bands but its card lists "
                         f"{card.in_channels}; export it again with `lmhld export-onnx`")


def _relax_declared_size(proto: Any) -> bool:
    """Make a fixed declared input/output height and width symbolic again; True if anything changed."""
    changed = False
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        for axis, name in ((2, "height"), (3, "width")):
            if len(dims) > axis and dims[axis].HasField("dim_value"):
                dims[axis].Clear()
                dims[axis].dim_param = name
                changed = True
    return changed


@contextlib.contextmanager
def _quiet_ort(ort: Any) -> Iterator[None]:
    ort.set_default_logger_severity(4)
    try:
        yield
    finally:
        ort.set_default_logger_severity(2)


# Backends that live above core, by file suffix: "module:attribute" of a class taking (path, provider). A name, not an
# import, keeps core the bottom layer (it never imports training or torch) while load_backend stays the one way
# detect and evaluate open a model file; the module is imported only when such a file is opened.
LAZY_BACKENDS: dict[str, str] = {suffix: "lmhld_qgis.training.backend:TorchBackend"
                                 for suffix in (".pt", ".pth", ".ckpt")}


def _lazy_backend(target: str) -> Callable[[Path, Provider], Backend]:
    """The backend class `target` ("module:attribute") names, its module imported now."""
    module, _, attribute = target.partition(":")
    factory: Callable[[Path, Provider], Backend] = getattr(import_native(module), attribute)  # torch: C++ too
    return factory


def load_backend(model: str | Path, provider: Provider = "auto") -> Backend:
    """An ONNX file through onnxruntime, a .pt checkpoint through torch (training's TorchBackend)."""
    path = Path(model)
    if path.is_dir():
        inside = path / "model.onnx"
        raise LmhldError(f"model {path} is a folder; give the model file" + (f": {inside}" if inside.is_file() else
                                                                           " (model.onnx in a run folder)"))
    if not path.is_file():
        raise LmhldError(f"model {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return OnnxBackend(path, provider)
    if suffix in LAZY_BACKENDS:
        return _lazy_backend(LAZY_BACKENDS[suffix])(path, provider)
    raise LmhldError(f"model {path}: expected an .onnx file (or a .pt checkpoint from lmhld train)")

"""Inference backends: onnxruntime (what detection needs) and torch (for .pt checkpoints).

A backend maps a normalised float32 batch (N, C, H, W) to landslide probabilities (N, H, W).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import LmhldError
from .modelcard import ModelCard


class Backend(Protocol):
    card: ModelCard
    provider: str  # what really runs, e.g. "CPUExecutionProvider", "CUDAExecutionProvider", "torch-cpu"

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


def _to_probability(out: np.ndarray, output: str) -> np.ndarray:
    """(N, K, H, W) network output -> (N, H, W) landslide probability."""
    if output == "logits":
        if out.shape[1] == 1:
            out = 1.0 / (1.0 + np.exp(-out))
        else:
            e = np.exp(out - out.max(axis=1, keepdims=True))
            out = e / e.sum(axis=1, keepdims=True)
    return out[:, -1] if out.shape[1] > 1 else out[:, 0]


class OnnxBackend:
    def __init__(self, path: str | Path, provider: str = "auto", threads: int = 0) -> None:
        import onnxruntime as ort

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
                self.session = ort.InferenceSession(str(path), options, providers=wanted)
            except Exception as exc:  # a truncated or foreign file: onnxruntime's own exception types
                raise LmhldError(f"cannot read ONNX model {path}: {exc}") from exc
        # the card from the session's metadata: the file is parsed once (onnx.load first doubled the start-up)
        self.card = ModelCard.from_onnx_metadata(self.session.get_modelmeta().custom_metadata_map, source=str(path))
        self.provider = self.session.get_providers()[0]
        if provider == "cuda" and self.provider != "CUDAExecutionProvider":
            raise LmhldError("CUDA was asked for but onnxruntime could not load it (needs onnxruntime-gpu with "
                             "CUDA 13 and cuDNN 9 libraries); use --provider auto or cpu")
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
        return _to_probability(out, self.card.output)


@contextlib.contextmanager
def _quiet_ort(ort):
    ort.set_default_logger_severity(4)
    try:
        yield
    finally:
        ort.set_default_logger_severity(2)


class TorchBackend:
    def __init__(self, checkpoint: str | Path, provider: str = "auto") -> None:
        import torch

        from ..training.checkpoint import model_from_checkpoint

        self.model, self.card = model_from_checkpoint(checkpoint)
        self.card.output = "logits"
        use_cuda = provider in ("auto", "cuda") and torch.cuda.is_available()
        if provider == "cuda" and not use_cuda:
            raise LmhldError("CUDA was asked for but torch sees no GPU; use --provider auto or cpu")
        self.device = torch.device("cuda" if use_cuda else "cpu")
        self.model.to(self.device).eval()
        self.provider = f"torch-{self.device.type}"

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device))
        return _to_probability(out.float().cpu().numpy(), "logits")


def load_backend(model: str | Path, provider: str = "auto") -> Backend:
    """An ONNX file through onnxruntime, a .pt checkpoint through torch."""
    path = Path(model)
    if not path.is_file():
        raise LmhldError(f"model {path} does not exist")
    if path.suffix.lower() == ".onnx":
        return OnnxBackend(path, provider)
    if path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        return TorchBackend(path, provider)
    raise LmhldError(f"model {path}: expected an .onnx file (or a .pt checkpoint from lmhld train)")

"""Fine-tuning: a run that starts from a trained network's weights instead of random ones.

What it is for: the review loop (detections rejected in the review dock come back as negatives: a few epochs from
the model that made them teach it its mistakes, where a run from scratch would repeat the whole budget), and a
model carried to a new area or sensor with a small inventory there. Every weight whose name and shape match is
copied; the input convolution is left freshly initialised when the bands differ in number (as part mode does
between areas). The architecture and its size options must be the checkpoint's. Normalisation, relative bands and
the threshold are the new run's own, computed from its data as in any run.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..core.errors import LmhldError
from ..core.modelcard import ModelCard
from ..models.base import SegmentationNet
from .checkpoint import load_checkpoint


def checkpoint_path(source: str | Path) -> Path:
    """The checkpoint `source` names: a .pt file, or a run folder's best.pt; a clear error when there is none."""
    path = Path(source)
    if path.is_dir():
        best = path / "best.pt"
        if not best.is_file():
            raise LmhldError(f"init_from: the run folder {path} holds no best.pt; give a checkpoint (.pt) of a "
                             "finished or stopped run")
        return best
    if not path.is_file():
        raise LmhldError(f"init_from: {path} does not exist; give a checkpoint (.pt) or a run folder")
    if path.suffix.lower() == ".onnx":
        raise LmhldError(f"init_from: {path.name} is an ONNX model; fine-tuning starts from the training "
                         "checkpoint beside it (best.pt in its run folder)")
    return path


def load_initial_weights(model: SegmentationNet, source: str | Path, architecture: str) -> str:
    """Copy the weights of the checkpoint `source` into `model` (built for the new run); returns what was done,
    in words. Refused when the checkpoint is another architecture or size."""
    path = checkpoint_path(source)
    payload = load_checkpoint(path)
    card = ModelCard.from_dict(payload["card"])
    if card.architecture != architecture:
        raise LmhldError(f"init_from: {path.name} holds a {card.architecture} network; this run builds a "
                         f"{architecture}: give --model {card.architecture}")
    stored: dict[str, torch.Tensor] = payload["state_dict"]
    own = model.state_dict()
    inputs = {f"{name}.{part}" for name in model.input_layer_names() for part in ("weight", "bias")}
    copied, fresh_inputs, mismatched = {}, [], []
    for key, value in own.items():
        old = stored.get(key)
        if old is not None and old.shape == value.shape:
            copied[key] = old
        elif key in inputs:
            fresh_inputs.append(key)
        else:
            mismatched.append(key)
    if mismatched:
        options = {k: v for k, v in card.model_options.items() if k != "encoder_weights"}
        raise LmhldError(f"init_from: {path.name} is a {card.architecture} of another size ({mismatched[0]} "
                         f"differs); build the same network (its options: {options or 'the defaults'})")
    model.load_state_dict(copied, strict=False)
    note = f"fine-tuning from {path} ({card.architecture}, {len(copied)} of {len(own)} tensors copied"
    if fresh_inputs:
        note += (f"; the input convolution starts afresh: {model.in_channels} bands here, {card.in_channels} in "
                 "the checkpoint")
    return note + ")"

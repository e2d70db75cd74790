"""Fine-tuning: a run that starts from a trained network's weights instead of random ones.

What it is for: the review loop (detections rejected in the review dock come back as negatives: a few epochs from
the model that made them teach it its mistakes, where a run from scratch would repeat the whole budget), and a
model carried to a new area or sensor with a small inventory there. Every weight whose name and shape match is
copied. The new run reads its datasets in the checkpoint's band order, by name (training/stages.py), so the input
convolution's weights meet the bands they learnt; it is left freshly initialised when the bands differ in number or
in name (as part mode does between areas). The architecture and its size options must be the checkpoint's.
Normalisation, relative bands and the threshold are the new run's own, computed from its data as in any run.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..core.bands import match_model_bands
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


Checkpoint = tuple[Path, ModelCard, dict[str, torch.Tensor]]  # its path, model card and weights


def checkpoint_card(source: str | Path) -> Checkpoint:
    """The checkpoint `source` names, read once: its bands order a fine-tuning run's datasets, its weights start
    the network."""
    path = checkpoint_path(source)
    payload = load_checkpoint(path)
    return path, ModelCard.from_dict(payload["card"]), payload["state_dict"]


def _same_inputs(learnt: list[str], bands: list[str]) -> bool:
    """Whether data of `bands` feed a checkpoint's input convolution as it learnt: the same bands in its order, or
    names that say nothing of each other (unnamed bands), matched by position as detection matches them."""
    try:
        order, by_position = match_model_bands(learnt, bands, "the data", "")
    except LmhldError:
        return False
    return by_position or order == list(range(len(learnt)))


def load_initial_weights(model: SegmentationNet, checkpoint: Checkpoint, architecture: str,
                         bands: list[str] | None = None) -> str:
    """Copy the weights of `checkpoint` (checkpoint_card's) into `model` (built for the new run, whose inputs are
    `bands`); returns what was done, in words. The input convolution starts afresh when the checkpoint learnt other
    bands. Refused when the checkpoint is another architecture or size."""
    path, card, stored = checkpoint
    if card.architecture != architecture:
        raise LmhldError(f"the network to start from ({path}) is a {card.architecture}; this run builds "
                         f"{architecture}: give --model {card.architecture} (model = \"{card.architecture}\" in a "
                         "config file)")
    own = model.state_dict()
    inputs = {f"{name}.{part}" for name in model.input_layer_names() for part in ("weight", "bias")}
    other_bands = bands is not None and not _same_inputs(card.bands, bands)
    copied, fresh_inputs, mismatched = {}, [], []
    for key, value in own.items():
        old = stored.get(key)
        if old is not None and old.shape == value.shape and not (other_bands and key in inputs):
            copied[key] = old
        elif key in inputs:
            fresh_inputs.append(key)
        else:
            mismatched.append(key)
    if mismatched:
        options = {k: v for k, v in card.model_options.items() if k != "encoder_weights"}
        flags = " ".join(f"--width {v}" if k == "base_width" else f"--model-option {k}={v}" for k, v in options.items())
        keys = ", ".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
        said = f"{flags} ({keys} under model_options in a config file)" if options else "the network's own options"
        raise LmhldError(f"the network to start from ({path}) is a {card.architecture} of another size "
                         f"({mismatched[0]} differs); build the same network: {said}")
    model.load_state_dict(copied, strict=False)
    note = f"fine-tuning from {path} ({card.architecture}, {len(copied)} of {len(own)} tensors copied"
    if fresh_inputs and model.in_channels != card.in_channels:
        note += (f"; the input convolution starts afresh: {model.in_channels} bands here, {card.in_channels} in "
                 "the checkpoint")
    elif fresh_inputs:
        note += (f"; the input convolution starts afresh: the checkpoint learnt {', '.join(card.bands)}, these "
                 f"data hold {', '.join(bands or [])}")
    return note + ")"

"""The torch inference backend: a .pt checkpoint from `lmhld train`, run as detection runs an ONNX file.

It lives in training (not core) because reading a checkpoint rebuilds the network from `models`; core's
`load_backend` reaches it by module name, so importing core never imports torch or training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.backends import Array, Provider, to_probability
from ..core.errors import LmhldError
from .checkpoint import model_from_checkpoint
from .relative import RelativeLevels


class TorchBackend:
    """A checkpoint's bare network (logits from standardized input) on the CPU or, when asked and present, CUDA."""

    def __init__(self, checkpoint: str | Path, provider: Provider = "auto") -> None:
        self.model, self.card = model_from_checkpoint(checkpoint)
        self.card.output, self.card.input = "logits", "standardized"  # the bare network
        use_cuda = provider in ("auto", "cuda") and torch.cuda.is_available()
        if provider == "cuda" and not use_cuda:
            raise LmhldError("CUDA was asked for but torch sees no GPU; use --provider auto or --provider cpu")
        self.device = torch.device("cuda" if use_cuda else "cpu")
        self.model.to(self.device).eval()
        self.provider = f"torch-{self.device.type}"
        self.relative = RelativeLevels.from_card(self.card.relative_bands, self.card.relative_scale,
                                                 self.card.relative_surface, self.card.relative_rough)

    def predict(self, batch: Array) -> Array:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            out = self.model(self.relative.apply(x))
        return to_probability(out.float().cpu().numpy(), "logits")

"""The networks: one module per architecture, built by name through `registry.build_model`."""

from .registry import MODEL_NAMES, build_model, model_names

__all__ = ["MODEL_NAMES", "build_model", "model_names"]

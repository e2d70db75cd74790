"""A run's ONNX model in onnxruntime (CPU) against its best.pt on the torch backend of a device, on test tiles.

Usage: compare.py RUN_DIR DATASET DEVICE   (prints the largest and mean difference in probability)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import rasterio

from lmhld_qgis.core.modelcard import read_onnx_card
from lmhld_qgis.training.backend import TorchBackend


def main(run: Path, dataset: Path, device: str) -> None:
    onnx = run / "model.onnx"
    card = read_onnx_card(onnx)
    print(f"card: surface {card.relative_surface}, relative bands {card.relative_bands}, threshold {card.threshold}")
    ids = (dataset / "splits" / "test.txt").read_text().split()[:6]
    tiles = []
    for patch in ids:
        with rasterio.open(dataset / "img" / f"{patch}.tif") as src:
            tiles.append(src.read().astype(np.float32))
    batch = np.stack(tiles)
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    reference = session.run(None, {session.get_inputs()[0].name: batch})[0]
    mean = np.asarray(card.mean, np.float32)[:, None, None]
    std = np.asarray(card.std, np.float32)[:, None, None]
    backend = TorchBackend(run / "best.pt", device)  # type: ignore[arg-type]
    prob = backend.predict((batch - mean) / std).reshape(reference.shape)
    diff = np.abs(prob - reference)
    print(f"{backend.provider} against onnxruntime: largest difference {diff.max():.2e}, mean {diff.mean():.2e}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])

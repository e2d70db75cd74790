"""Training with torch: checkpoints, ONNX export, the trainer and its modes (single, mix, part)."""

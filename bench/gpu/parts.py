"""Where a training epoch's time outside the bare step goes, timed piece by piece with the device synchronised:
augmentation per batch (each policy) and the checkpoint snapshots (the training loop's share of best.pt and
last.pt), for U-Net and FCN-8s.

Usage: parts.py DATASET DEVICE [WIDTH]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch

from lmhld_qgis.core.datasets import open_dataset
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.models import build_model
from lmhld_qgis.training.augment import BatchAugment
from lmhld_qgis.training.cache import decode_to_memory
from lmhld_qgis.training.checkpoint import checkpoint_payload
from lmhld_qgis.training.data import normalisation
from lmhld_qgis.training.losses import segmentation_loss


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeat: int, finish: bool = True) -> float:
    """Best time of `repeat` calls, ms, the device idle before each; `finish`: until the device is done too
    (else the calling thread's share alone, what a training loop waits for)."""
    best = float("inf")
    for _ in range(repeat):
        sync(device)
        t0 = time.perf_counter()
        fn()
        if finish:
            sync(device)
        best = min(best, time.perf_counter() - t0)
    return 1000 * best


def augment_ms(augment: BatchAugment, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    """ms per batch of one augmentation policy (40 batches, each its own random draw)."""
    keys = iter(range(10**6))

    def forty() -> None:
        for _ in range(40):
            augment(x, y, (0, next(keys), 0))

    return timed(forty, device, 2) / 40


def network_pieces(name: str, width: int, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> str:
    """One training step and the snapshots of best.pt and last.pt, in words."""
    options = {"base_width": width}
    model = build_model(name, x.shape[1], **options).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = model(x)
        loss = segmentation_loss(out, y, "bce_dice")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    card = ModelCard(name, x.shape[1], model_options=options, patch_size=x.shape[-1])
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    best = timed(lambda: checkpoint_payload(model, card), device, 4, finish=False)
    landed = timed(lambda: checkpoint_payload(model, card).wait(), device, 4)
    last = timed(lambda: checkpoint_payload(model, card, {"optimizer": optimizer.state_dict()}), device, 2,
                 finish=False)
    return (f"{name} ({millions:.1f} M parameters): step {timed(step, device, 4):.1f} ms; best.pt snapshot "
            f"{best:.1f} ms for the loop ({landed:.1f} ms until the copies land); last.pt with AdamW's state "
            f"{last:.1f} ms for the loop")


def main(dataset: str, device: torch.device, width: int) -> None:
    ds = open_dataset(dataset, "train")
    arrays = decode_to_memory(ds, 4)
    x_raw = torch.from_numpy(arrays.images[:16].astype("float32")).to(device)
    y_raw = torch.from_numpy(arrays.masks[:16]).to(device)
    mean, std = normalisation(ds)
    for policy in ("none", "flips", "strong"):
        ms = augment_ms(BatchAugment(mean, std, policy, 0, device), x_raw, y_raw, device)
        print(f"augment {policy}: {ms:.2f} ms per batch of 16")
    x, y = BatchAugment(mean, std, "none", 0, device)(x_raw, y_raw, (0, 0, 0))
    x = x.contiguous(memory_format=torch.channels_last)
    for name in ("unet", "fcn8s"):
        print(network_pieces(name, width, x, y, device))


if __name__ == "__main__":
    main(sys.argv[1], torch.device(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 64)

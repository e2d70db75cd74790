"""Losses: BCE + Dice (default), BCE, or two-class cross-entropy; deep supervision averages over the heads."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum()
    return 1 - (2 * inter + eps) / (prob.sum() + target.sum() + eps)


def segmentation_loss(output: torch.Tensor | list[torch.Tensor], target: torch.Tensor, kind: str) -> torch.Tensor:
    outputs = output if isinstance(output, list) else [output]
    total = 0.0
    for logits in outputs:
        logits = logits.float()
        if kind == "ce":
            total = total + F.cross_entropy(logits, target[:, 0].long())
        else:
            loss = F.binary_cross_entropy_with_logits(logits, target)
            if kind == "bce_dice":
                loss = loss + dice_loss(logits, target)
            total = total + loss
    return total / len(outputs)


def landslide_prediction(output: torch.Tensor | list[torch.Tensor], threshold: float) -> torch.Tensor:
    """Boolean (N, H, W) landslide map from the main output."""
    logits = output[0] if isinstance(output, list) else output
    if logits.shape[1] > 1:
        return logits.argmax(dim=1) == 1
    return torch.sigmoid(logits.float())[:, 0] >= threshold

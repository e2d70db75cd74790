"""Losses: BCE + Dice (default), BCE, two-class cross-entropy, and for imbalanced classes focal loss (Lin et al.
2017), Tversky (Salehi et al. 2017: alpha weighs false positives, beta false negatives) and focal Tversky (Abraham
and Khan 2019). Deep supervision averages over the heads."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class LossSpec:
    kind: str = "bce_dice"
    focal_gamma: float = 2.0
    tversky_alpha: float = 0.3
    tversky_beta: float = 0.7


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum()
    return 1 - (2 * inter + eps) / (prob.sum() + target.sum() + eps)


def tversky_index(logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float,
                  eps: float = 1.0) -> torch.Tensor:
    prob = torch.sigmoid(logits)
    tp = (prob * target).sum()
    fp = (prob * (1 - target)).sum()
    fn = ((1 - prob) * target).sum()
    return (tp + eps) / (tp + alpha * fp + beta * fn + eps)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """Binary focal loss: BCE down-weighted on pixels already classified with confidence."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_true = torch.exp(-bce)  # the probability given to the true class
    return ((1 - p_true) ** gamma * bce).mean()


def _binary(logits: torch.Tensor, target: torch.Tensor, spec: LossSpec) -> torch.Tensor:
    if spec.kind == "focal":
        return focal_loss(logits, target, spec.focal_gamma)
    if spec.kind == "tversky":
        return 1 - tversky_index(logits, target, spec.tversky_alpha, spec.tversky_beta)
    if spec.kind == "focal_tversky":
        return (1 - tversky_index(logits, target, spec.tversky_alpha, spec.tversky_beta)) ** 0.75
    loss = F.binary_cross_entropy_with_logits(logits, target)
    if spec.kind == "bce_dice":
        loss = loss + dice_loss(logits, target)
    return loss


def segmentation_loss(output: torch.Tensor | list[torch.Tensor], target: torch.Tensor,
                      spec: LossSpec | str) -> torch.Tensor:
    """The loss of (N, C, H, W) logits (or a list of heads) against an (N, 1, H, W) 0/1 mask."""
    spec = LossSpec(spec) if isinstance(spec, str) else spec
    outputs = output if isinstance(output, list) else [output]
    total = torch.zeros((), device=target.device)
    for logits in outputs:
        logits = logits.float()
        if spec.kind == "ce":
            total = total + F.cross_entropy(logits, target[:, 0].long())
        else:
            total = total + _binary(logits, target, spec)
    return total / len(outputs)


def landslide_probability(output: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """(N, H, W) landslide probability from the main output."""
    logits = output[0] if isinstance(output, list) else output
    if logits.shape[1] > 1:
        return torch.softmax(logits.float(), dim=1)[:, 1]
    return torch.sigmoid(logits.float())[:, 0]


def landslide_prediction(output: torch.Tensor | list[torch.Tensor], threshold: float) -> torch.Tensor:
    """Boolean (N, H, W) landslide map from the main output."""
    logits = output[0] if isinstance(output, list) else output
    if logits.shape[1] > 1:
        return logits.argmax(dim=1) == 1
    return torch.sigmoid(logits.float())[:, 0] >= threshold

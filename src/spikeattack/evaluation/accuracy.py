"""Clean accuracy of a model on a labelled set (what ``spikeattack eval`` prints)."""

from __future__ import annotations

import math
import sys

import torch
from tqdm.auto import tqdm

from ..data import iterate_batches
from ..models import SpikingModel, evaluating

__all__ = ["accuracy", "evaluating"]


@torch.no_grad()
def accuracy(model: SpikingModel, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 256,
             progress: bool = False) -> float:
    """Clean accuracy of ``model`` (eval mode) on inputs ``x`` (uint8 or [0, 1] float images, or
    ``[N, T, ...]`` frame sequences) with labels ``y``; the model's mode is restored."""
    if len(y) == 0:
        raise ValueError("y: no inputs; accuracy of an empty set is undefined")
    device = next(model.parameters()).device
    correct = torch.zeros((), dtype=torch.long, device=device)
    broken = torch.zeros((), dtype=torch.long, device=device)  # inputs with NaN/inf logits, read once at the end
    batches = iterate_batches(x, y, batch_size, shuffle=False)
    with evaluating(model):
        for xb, yb in tqdm(batches, total=math.ceil(len(y) / batch_size), desc="eval", disable=not progress,
                           leave=False, file=sys.stderr):
            logits = model(xb.to(device))
            broken += (~torch.isfinite(logits)).flatten(1).any(1).sum()
            correct += (logits.argmax(-1) == yb.to(device)).sum()
    if int(broken):
        raise ValueError(f"model: its output (logits) holds NaN or infinite values for {int(broken)} of {len(y)} "
                         "inputs; no accuracy can be scored (check its weights: a diverged training?)")
    return int(correct) / len(y)

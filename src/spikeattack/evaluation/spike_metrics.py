"""Spike-domain perturbation metrics (Liang et al. TNNLS 2021, Sec. VI).

``spike_summary(x, x_adv, attack)`` for one batch attacked by the spike-domain BIM (or any
attack on a spike-input or image model):

- ``flips``: flipped elements (L0) per input, averaged over the inputs (pixels changed,
  for image inputs);
- ``flip_rate``: flips / elements per input (``T*C*H*W`` for spikes), averaged;
- ``l2_per_point``: Liang's average perturbation per point ``||x_adv - x||_2 / N``, averaged
  (for binary spikes ``sqrt(flips) / N``);
- ``rsf``: RSF activations per input, averaged (``None`` for attacks without RSF);
- ``iterations``: iterations used per input, averaged (``None`` when not recorded);
- ``vanishing``: inputs whose gradient was all zero at the first iteration (Table III).
"""

from __future__ import annotations

from typing import Any

import torch

from ..attacks import Attack
from .metrics import perturbation_norms


def _mean(values: torch.Tensor | None) -> float | None:
    if values is None:
        return None
    return float(values.double().mean()) if values.numel() else 0.0


def spike_summary(x: torch.Tensor, x_adv: torch.Tensor, attack: Attack) -> dict[str, Any]:
    """Flip counts, flip rate, average L2 per point, RSF activations and vanishing count of one call.

    ``x`` / ``x_adv``: the clean and adversarial inputs of ``attack``'s last call, in the
    model's layout (``[T, B, ...]`` spikes, batch along dim 1; ``[B, ...]`` images).
    """
    if not isinstance(attack, Attack):
        raise ValueError(f"attack: expected an Attack, got {type(attack).__name__}")
    if not isinstance(x, torch.Tensor) or not isinstance(x_adv, torch.Tensor):
        raise ValueError("x: expected tensors for x and x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(f"x_adv: shape {tuple(x_adv.shape)} differs from x's {tuple(x.shape)}")
    batch_dim = 1 if attack.model.takes_sequence else 0
    if x.dim() <= batch_dim:
        raise ValueError(f"x: expected a batch along dim {batch_dim}, got shape {tuple(x.shape)}")
    n = x.shape[batch_dim]
    changed = (x_adv.detach() != x.detach()).movedim(batch_dim, 0).reshape(n, -1)
    elements = changed.shape[1]
    flips = changed.sum(1)
    norms = perturbation_norms(x, x_adv, batch_dim=batch_dim)
    vanishing = attack.vanishing
    if vanishing is not None and len(vanishing) != n:
        raise ValueError(f"attack: its last call had {len(vanishing)} inputs, but x has {n}")
    return {
        "n": n,
        "flips": _mean(flips),
        "flip_rate": _mean(flips.double() / elements) if elements else 0.0,
        "l2_per_point": _mean(norms["l2_per_point"]),
        "rsf": _mean(getattr(attack, "rsf_count", None)),
        "iterations": _mean(getattr(attack, "iterations", None)),
        "vanishing": int(vanishing.sum()) if vanishing is not None else 0,
    }

"""Robustness metrics.

- attack success rate (ASR): over the inputs the target classifies correctly, the share
  the attack fools (untargeted) or sends to the target class (targeted) — Liang et al.
  Sec. VI-A, Sharmin et al., Bu et al.;
- robust accuracy (share of all inputs classified correctly both clean and under attack,
  as AutoAttack counts it) and accuracy loss (clean minus robust accuracy, never negative),
  reported beside the ASR;
- perturbation size per input: Linf, L2, and Liang et al.'s average L2 per point
  ``||delta||_2 / N`` for an input of N points; averaged over the inputs;
- gradient vanishing: inputs whose first input gradient was all zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class PerInput:
    """Per-input outcome of one attack on one batch or data set (CPU tensors)."""

    label: torch.Tensor
    clean_pred: torch.Tensor
    adv_pred: torch.Tensor
    target: torch.Tensor | None
    linf: torch.Tensor
    l2: torch.Tensor
    l2_per_point: torch.Tensor
    vanishing: torch.Tensor
    #: elements changed per input (L0), for the event attacks (``image_domain = False``); else None
    flips: torch.Tensor | None = None

    @classmethod
    def concat(cls, parts: list["PerInput"]) -> "PerInput":
        def cat(name: str) -> torch.Tensor | None:
            values = [getattr(p, name) for p in parts]
            return None if values[0] is None else torch.cat(values)

        return cls(**{name: cat(name) for name in cls.__dataclass_fields__})

    @property
    def correct(self) -> torch.Tensor:
        return self.clean_pred == self.label

    @property
    def success(self) -> torch.Tensor:
        """Per input: the attack reached its goal (only meaningful where ``correct``)."""
        return self.adv_pred != self.label if self.target is None else self.adv_pred == self.target


def perturbation_norms(x: torch.Tensor, x_adv: torch.Tensor, batch_dim: int = 0) -> dict[str, torch.Tensor]:
    """Per-input Linf, L2 and L2 per point of ``x_adv - x`` (batch along ``batch_dim``)."""
    delta = (x_adv - x).detach().movedim(batch_dim, 0).flatten(1).double()
    l2 = delta.norm(p=2, dim=1)
    return {"linf": delta.abs().amax(1), "l2": l2, "l2_per_point": l2 / delta.shape[1]}


@dataclass
class Summary:
    n: int
    clean_accuracy: float
    asr: float | None
    robust_accuracy: float
    accuracy_loss: float
    linf: float
    l2: float
    l2_per_point: float
    vanishing: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "extra"} | self.extra


def summarize(per: PerInput) -> Summary:
    """Aggregate per-input outcomes; ASR counts only correctly classified inputs."""
    n = len(per.label)
    correct = per.correct
    n_correct = int(correct.sum())
    # rates as exact count ratios (a float32 mean would add noise: 0.05000000074505806)
    asr = int(per.success[correct].sum()) / n_correct if n_correct else None
    robust = int((correct & (per.adv_pred == per.label)).sum()) / n if n else 0.0
    clean = n_correct / n if n else 0.0

    def mean(t: torch.Tensor) -> float:
        return float(t.mean()) if n else 0.0

    return Summary(n=n, clean_accuracy=clean, asr=asr, robust_accuracy=robust, accuracy_loss=clean - robust,
                   linf=mean(per.linf), l2=mean(per.l2), l2_per_point=mean(per.l2_per_point),
                   vanishing=int(per.vanishing.sum()))

"""Gradient-free baseline: uniform random sign noise of the same Linf size.

``x_adv = clip_[0,1](x + eps * s)``, ``s`` uniform in {-1, +1} per pixel (seeded). A white-box
attack much weaker than this points at gradient masking (see the hygiene flags, results/hygiene.py).
"""

from __future__ import annotations

import torch

from .base import Attack
from .projection import check_budget


class RandomNoise(Attack):
    name = "noise"
    parameters = Attack.parameters + ("eps",)

    def __init__(self, model, *, eps: float = 8 / 255, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.eps = check_budget("eps", eps, "linf", model)

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        signs = torch.randint(0, 2, x.shape, generator=self.generator, dtype=torch.int8).to(x.device) * 2 - 1
        return (x + self.eps * signs.to(x.dtype)).clamp(0.0, 1.0)

    def describe(self) -> dict:
        return {**super().describe(), "eps": self.eps, "norm": "linf"}

"""FGSM (Goodfellow et al. 2015): one signed-gradient step of size ``eps``.

``x_adv = clip_[0,1](x + eps * sign(grad_x L))``; targeted: the loss is minus the CE to the
target, so the same ascent moves towards it (Sharmin et al. 2019, Sec. III-B).
"""

from __future__ import annotations

import torch

from .base import GradientAttack
from .projection import check_budget, project


class FGSM(GradientAttack):
    name = "fgsm"
    parameters = GradientAttack.parameters + ("eps",)
    #: the one gradient is taken at the clean input, with a loss that does not read eps
    first_gradient_ignores = ("eps",)

    def __init__(self, model, *, eps: float = 8 / 255, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.eps = check_budget("eps", eps, "linf", model)

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        _, grad = self.value_and_grad(x, y, target)
        return project(x + self.eps * grad.sign(), x, self.eps, "linf")

    def describe(self) -> dict:
        return {**super().describe(), "eps": self.eps, "norm": "linf"}

"""R-FGSM (Tramèr et al., ICLR 2018), as used by Sharmin et al. 2019 (Sec. II-B, eqs. 2-3).

A random signed step of size ``alpha``, then one FGSM step of the remaining budget::

    x'    = clip_[0,1]( x + alpha * sign(N(0, I)) )
    x_adv = Proj_eps( x' + (eps - alpha) * sign(grad_x' L(x')) )      (Linf ball, [0, 1] box)

The random step escapes the non-smooth vicinity of the data point, where the gradient of
a (gradient-masked) model is least informative. Default ``alpha = eps / 2`` (Sharmin et
al., Table I); ``0 <= alpha <= eps`` (``alpha = 0`` is FGSM). The noise comes from the
attack's seeded generator, so the same seed gives the same result. ``x'`` is clipped to
the [0, 1] box before the gradient is taken, so the model only ever sees valid images;
the final point lies within ``eps`` of ``x`` in Linf since ``alpha + (eps - alpha) = eps``
(the projection only guards rounding and clips to the box).
"""

from __future__ import annotations

import torch

from .base import GradientAttack, check_number
from .projection import check_budget, project


class RFGSM(GradientAttack):
    name = "rfgsm"
    parameters = GradientAttack.parameters + ("eps", "alpha")

    def __init__(self, model, *, eps: float = 8 / 255, alpha: float | None = None, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.eps = check_budget("eps", eps, "linf", model)
        self.alpha = self.eps / 2 if alpha is None else check_number("alpha", alpha, low=0, high=self.eps)

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=self.generator, dtype=x.dtype).to(x.device)
        x_rand = (x + self.alpha * noise.sign()).clamp(0.0, 1.0)
        _, grad = self.value_and_grad(x_rand, y, target)
        return project(x_rand + (self.eps - self.alpha) * grad.sign(), x, self.eps, "linf")

    def describe(self) -> dict:
        return {**super().describe(), "eps": self.eps, "alpha": self.alpha, "norm": "linf"}

"""PGD (Madry et al. 2018) and BIM / I-FGSM (Kurakin et al. 2017).

Iterated steepest ascent projected onto the ``eps``-ball (Linf or L2) and the [0, 1] box::

    x_{k+1} = Proj( x_k + alpha * step(grad_x L(x_k)) ),  step = sign (Linf) or g/||g||_2 (L2)

PGD starts from a uniform random point of the ball and may restart; for each input the
restart with the highest final loss is kept (a successful one first). BIM is PGD from
the clean input without restarts (Liang et al. eq. 4; Sharmin et al.'s I-FGSM).
With ``early_stop`` an input stops moving once it is adversarial, and leaves the working
batch (:meth:`Attack.working_set`): the result is the same, the later steps cheaper.
"""

from __future__ import annotations

import torch

from .base import GradientAttack, check_int
from .projection import check_budget, check_norm, normalized_step, project, random_in_ball
from .restarts import BestPoint


class PGD(GradientAttack):
    name = "pgd"
    parameters = GradientAttack.parameters + ("eps", "alpha", "steps", "norm", "random_start", "restarts")
    #: without random start the first step's gradient is taken at the clean input (by every
    #: restart; the first one asks), with a loss that reads neither eps nor the schedule
    first_gradient_ignores = ("eps", "alpha", "steps")

    def __init__(self, model, *, eps: float = 8 / 255, alpha: float | None = None, steps: int = 10,
                 norm: str = "linf", random_start: bool = True, restarts: int = 1, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.norm = check_norm(norm)
        self.eps = check_budget("eps", eps, self.norm, model)
        self.steps = check_int("steps", steps)
        self.alpha = self.default_alpha() if alpha is None else check_budget("alpha", alpha, self.norm, model,
                                                                             positive=True)
        self.random_start = bool(random_start)
        self.restarts = check_int("restarts", restarts)

    def default_alpha(self) -> float:
        """2.5 * eps / steps (Madry et al.): enough to cross the ball and come back."""
        return 2.5 * self.eps / self.steps

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        best = BestPoint.empty(x)
        for _ in range(self.restarts):
            start = random_in_ball(x, self.eps, self.norm, self.generator) if self.random_start else x
            x_adv, loss = self.run(x, y, target, start)
            best.update(x_adv, loss, self.is_success(x_adv, y, target))
        return best.x

    def run(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, start: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """One PGD run from ``start``; returns the final point and its loss."""
        x_adv = start.clone()
        active = torch.ones(len(y), dtype=torch.bool, device=x.device)
        for _ in range(self.steps):
            idx = self.working_set(active)  # early exit: adversarial inputs leave the batch
            if idx is None:
                _, grad = self.value_and_grad(x_adv, y, target)
                new = project(x_adv + self.alpha * normalized_step(grad, self.norm), x, self.eps, self.norm)
                x_adv = torch.where(active.view(-1, *([1] * (x.dim() - 1))), new, x_adv)
                if self.early_stop:
                    active = active & ~self.is_success(x_adv, y, target)
            else:
                t_idx = None if target is None else target[idx]
                _, grad = self.value_and_grad(x_adv[idx], y[idx], t_idx)
                new = project(x_adv[idx] + self.alpha * normalized_step(grad, self.norm), x[idx], self.eps, self.norm)
                x_adv = x_adv.index_copy(0, idx, new)
                active = active.index_copy(0, idx, ~self.is_success(new, y[idx], t_idx))
            if self.early_stop and not active.any():
                break
        with torch.no_grad():
            final = self.loss(self.logits(x_adv), y, target)
        return x_adv, final

    @classmethod
    def starts_at_clean_input(cls, params) -> bool:
        return not params.get("random_start", True)

    def describe(self) -> dict:
        return {**super().describe(), "eps": self.eps, "alpha": self.alpha, "steps": self.steps, "norm": self.norm,
                "random_start": self.random_start, "restarts": self.restarts}


class BIM(PGD):
    """BIM / I-FGSM: PGD from the clean input, no restarts; default ``alpha = eps / steps``
    (Kurakin et al.'s schedule reaches the ball's edge exactly in ``steps`` steps)."""

    name = "bim"
    parameters = GradientAttack.parameters + ("eps", "alpha", "steps", "norm")
    first_gradient_ignores = PGD.first_gradient_ignores

    def __init__(self, model, *, eps: float = 8 / 255, alpha: float | None = None, steps: int = 10,
                 norm: str = "linf", **kwargs) -> None:
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, norm=norm, random_start=False, restarts=1, **kwargs)

    def default_alpha(self) -> float:
        return self.eps / self.steps

    @classmethod
    def starts_at_clean_input(cls, params) -> bool:
        return True

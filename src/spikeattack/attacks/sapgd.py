"""SA-PGD: stable adaptive projected gradient descent (Wang et al. 2025, "Towards Reliable
Evaluation of Adversarial Robustness for Spiking Neural Networks", arXiv 2512.22522).

An Adam-like ascent for the noisy, often vanishing input gradients of SNNs. With
``g_k`` the input gradient at ``x_k``, normalised per input by its mean absolute value::

    m_k = mu * m_{k-1} + g_k / mean|g_k|              (L1-normalised momentum, mu = 0.5)
    v_k = nu * v_{k-1} + g_k^2 / mean(g_k^2)          (second moment, nu = 0.8)
    x_{k+1} = P( x_k + clip(eta_k * m_k / (sqrt(v_k) + 1e-12), -eta_k, eta_k) )

(``m_0``, ``v_0`` the first normalised terms), ``P`` the projection onto the ``eps``-ball
and the [0, 1] box. The per-coordinate clip by the step size keeps each Linf step
bounded. The step size starts at ``eta_0 = eps`` and is halved on a fixed schedule: after
``w_1 = max(floor(0.22 N), 1)`` iterations, then every ``w_{j+1} = max(w_j - floor(0.03 N),
floor(0.06 N), 1)`` iterations — the authors' code, which (unlike APGD) halves regardless
of the loss and never jumps back to the best point. The paper states SA-PGD for Linf; for
``norm="l2"`` we keep the same direction and project onto the L2 ball (our extension).

Per input, the kept point is the highest-loss iterate where the attack succeeded on the
target model, else the highest-loss iterate. With ``restarts``, each further restart runs
on the inputs not yet fooled (as the reference code does), from a new random start, with
the estimator's adaptive state (ASSG) reset.
"""

from __future__ import annotations

import math

import torch

from .apgd import DLRLossOption
from .base import GradientAttack, check_int, check_number
from .restarts import BestPoint, per_row
from .projection import check_budget, check_norm, project, random_in_ball


def _per_input_mean(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).mean(1).clamp_min(1e-30).view(-1, *([1] * (t.dim() - 1)))


def sapgd_direction(m: torch.Tensor | None, v: torch.Tensor | None, grad: torch.Tensor, mu: float = 0.5,
                    nu: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """The updated moments ``(m, v)`` from the gradient ``grad`` (``None`` at the first step)."""
    g1 = grad / _per_input_mean(grad.abs())
    g2 = grad ** 2 / _per_input_mean(grad ** 2)
    return (g1 if m is None else mu * m + g1), (g2 if v is None else nu * v + g2)


def sapgd_step(m: torch.Tensor, v: torch.Tensor, eta: float) -> torch.Tensor:
    """``clip(eta * m / (sqrt(v) + 1e-12), -eta, eta)``."""
    return (eta * m / (v.sqrt() + 1e-12)).clamp(-eta, eta)


def sapgd_schedule(steps: int) -> list[int]:
    """The iterations (1-based counts) after which the step size is halved."""
    first, shrink, floor = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    points, done, width = [], 0, first
    while done + width <= steps:
        done += width
        points.append(done)
        width = max(width - shrink, floor)
    return points


class SAPGD(DLRLossOption, GradientAttack):
    name = "sapgd"
    parameters = GradientAttack.parameters + ("eps", "steps", "norm", "loss", "mu", "nu", "random_start", "restarts")
    #: without random start the first run's first gradient is taken at the clean input; the loss
    #: (CE or DLR, targeted or not) stays in the key, eps and the step count cannot change it
    first_gradient_ignores = ("eps", "steps")

    def __init__(self, model, *, eps: float = 8 / 255, steps: int = 100, norm: str = "linf", loss: str = "ce",
                 mu: float = 0.5, nu: float = 0.8, random_start: bool = True, restarts: int = 1, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.norm = check_norm(norm)
        self.eps = check_budget("eps", eps, self.norm, model)
        self.steps = check_int("steps", steps)
        self._set_loss(loss, model.num_classes)
        self.mu = check_number("mu", mu, low=0, high=1)
        self.nu = check_number("nu", nu, low=0, high=1)
        self.random_start = bool(random_start)
        self.restarts = check_int("restarts", restarts)
        self.halvings = sapgd_schedule(self.steps)

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        best = BestPoint.empty(x)
        for restart in range(self.restarts):  # a further restart runs on the inputs not yet fooled
            idx = torch.arange(len(y), device=x.device) if restart == 0 else (~best.success).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            if restart:
                self.estimator.reset()
            xs, ys = x[idx], y[idx]
            ts = None if target is None else target[idx]
            start = random_in_ball(xs, self.eps, self.norm, self.generator) if self.random_start else xs.clone()
            best.update(*self.run(xs, ys, ts, start), rows=idx)
        return best.x

    def run(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, start: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One SA-PGD run from ``start``: the kept point per input, its loss and success flag."""
        def rows(mask: torch.Tensor) -> torch.Tensor:
            return per_row(mask, x)

        halvings = set(self.halvings)
        eta = self.eps
        x_k = start
        loss_k, grad = self.value_and_grad(x_k, y, target)
        best_x, best_loss = x_k.clone(), loss_k.clone()
        found = self.is_success(x_k, y, target)
        adv_x, adv_loss = x_k.clone(), torch.where(found, loss_k, torch.full_like(loss_k, -math.inf))
        m = v = None
        for k in range(self.steps):
            m, v = sapgd_direction(m, v, grad, self.mu, self.nu)
            x_k = project(x_k + sapgd_step(m, v, eta), x, self.eps, self.norm)
            loss_k, grad = self.value_and_grad(x_k, y, target)
            improved = loss_k > best_loss
            best_x = torch.where(rows(improved), x_k, best_x)
            best_loss = torch.where(improved, loss_k, best_loss)
            success = self.is_success(x_k, y, target)
            better = success & (~found | (loss_k > adv_loss))
            adv_x = torch.where(rows(better), x_k, adv_x)
            adv_loss = torch.where(better, loss_k, adv_loss)
            found = found | success
            if self.early_stop and found.all():
                break
            if k + 1 in halvings:
                eta /= 2
        return torch.where(rows(found), adv_x, best_x), torch.where(found, adv_loss, best_loss), found

    @classmethod
    def starts_at_clean_input(cls, params) -> bool:
        return not params.get("random_start", True)

    def describe(self) -> dict:
        return {**super().describe(), "eps": self.eps, "steps": self.steps, "norm": self.norm, "loss": self.loss_name,
                "mu": self.mu, "nu": self.nu, "random_start": self.random_start, "restarts": self.restarts}

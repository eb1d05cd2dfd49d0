"""APGD: Auto-PGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness
with an ensemble of diverse parameter-free attacks"; Sec. 3, Algorithm 1).

PGD with momentum and a step size that adapts itself, so there is no step size to tune::

    z_{k+1} = P( x_k + eta_k * s(grad f(x_k)) )                   s = sign (Linf) or g/||g||_2 (L2)
    x_{k+1} = P( x_k + a (z_{k+1} - x_k) + (1 - a)(x_k - x_{k-1}) )    a = ``momentum`` = 0.75

(the first step, k = 0, is a plain step: a = 1), ``P`` the projection onto the ``eps``-ball
and the [0, 1] box. ``eta_0 = 2 eps`` for every input, and each input keeps its own step
size. At the checkpoints ``w_j = ceil(p_j N)`` with ``p_0 = 0, p_1 = 0.22,
p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)`` the step size of an input is halved,
and the input restarts from its best point ``x_max`` (its ``x_k`` is replaced; the
previous iterate that the momentum term uses is left as it is, as Algorithm 1 reads),
when

1. the loss increased in fewer than ``rho * (w_j - w_{j-1})`` of the steps since the last
   checkpoint (``rho = 0.75``), or
2. its step size was not reduced at the last checkpoint and its best loss has not changed
   since then.

Losses (maximised; :meth:`APGD.loss`): ``"ce"`` (the base's CE, minus the CE to the
target when targeted) or ``"dlr"``, the Difference of Logits Ratio (eq. 6 and the
targeted form of Sec. 4), invariant to shifts and rescalings of the logits::

    DLR(z, y)    = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)
    DLR_T(z, y, t) = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)

with ``z_pi1 >= z_pi2 >= ...`` the sorted logits; DLR needs at least 3 classes (4 when
targeted). For each input the best point of the run is kept: the highest-loss point
where the attack succeeded (on the target model's own prediction, which may differ from
the crafting logits under ``cba``, time extension or the threshold override) if there
is one, else the highest-loss point. The run starts from a seeded uniform point of the
ball (``random_start``); with ``restarts`` the best run per input is kept as in PGD.
"""

from __future__ import annotations

import math

import torch

from .base import GradientAttack, check_int, check_number
from .projection import check_budget, check_norm, normalized_step, project, random_in_ball
from .restarts import BestPoint, per_row as _rows

LOSSES = ("ce", "dlr")


def apgd_checkpoints(steps: int) -> list[int]:
    """The checkpoints ``w_1 < w_2 < ...`` (``w_0 = 0`` implied) in ``[1, steps]``."""
    p = [0.0, 0.22]
    while True:
        nxt = p[-1] + max(p[-1] - p[-2] - 0.03, 0.06)
        if nxt > 1.0 + 1e-9:
            break
        p.append(nxt)
    # round before ceil so that 0.22 * 100 is 22, not 23
    points = {math.ceil(round(pj * steps, 6)) for pj in p[1:]}
    return sorted(w for w in points if 1 <= w <= steps)


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example DLR loss (untargeted) or targeted DLR (``target`` given), to maximise."""
    ordered = logits.sort(dim=1, descending=True).values
    z_y = logits.gather(1, y.view(-1, 1)).squeeze(1)
    if target is None:
        others = logits.scatter(1, y.view(-1, 1), float("-inf")).amax(1)
        return -(z_y - others) / (ordered[:, 0] - ordered[:, 2] + 1e-12)
    z_t = logits.gather(1, target.view(-1, 1)).squeeze(1)
    return -(z_y - z_t) / (ordered[:, 0] - (ordered[:, 2] + ordered[:, 3]) / 2 + 1e-12)


class DLRLossOption:
    """``loss="ce"`` (the base class's cross-entropy) or ``"dlr"`` (:func:`dlr_loss`), shared by
    APGD and SA-PGD. The DLR loss reads the 3rd (targeted: 4th) largest logit, so it needs at
    least 3 (4) classes."""

    loss_name: str = "ce"

    def _set_loss(self, loss: str, num_classes: int) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")
        if loss == "dlr":
            needed = 3 if self.targeted is None else 4
            if num_classes < needed:
                raise ValueError(f"loss: the {'targeted ' if self.targeted else ''}DLR loss needs at least "
                                 f"{needed} classes, the model has {num_classes}")
        self.loss_name = loss

    def loss(self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        if self.loss_name == "dlr":
            return dlr_loss(logits, y, target)
        return super().loss(logits, y, target)


class APGD(DLRLossOption, GradientAttack):
    name = "apgd"
    parameters = GradientAttack.parameters + ("eps", "steps", "norm", "loss", "rho", "momentum", "random_start",
                                              "restarts")
    #: without random start the first gradient is taken at the clean input; the loss (CE or
    #: DLR, targeted or not) stays in the key, eps and the step count cannot change it
    first_gradient_ignores = ("eps", "steps")

    def __init__(self, model, *, eps: float = 8 / 255, steps: int = 100, norm: str = "linf", loss: str = "ce",
                 rho: float = 0.75, momentum: float = 0.75, random_start: bool = True, restarts: int = 1,
                 **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.norm = check_norm(norm)
        self.eps = check_budget("eps", eps, self.norm, model)
        self.steps = check_int("steps", steps)
        self._set_loss(loss, model.num_classes)
        self.rho = check_number("rho", rho, low=0, high=1)
        self.momentum = check_number("momentum", momentum, low=0, low_open=True, high=1)
        self.random_start = bool(random_start)
        self.restarts = check_int("restarts", restarts)
        self.checkpoints = apgd_checkpoints(self.steps)

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        best = BestPoint.empty(x)
        for _ in range(self.restarts):
            start = random_in_ball(x, self.eps, self.norm, self.generator) if self.random_start else x.clone()
            best.update(*self.run(x, y, target, start))
        return best.x

    def run(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, start: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One APGD run from ``start``: the kept point per input, its loss and success flag."""
        checkpoints = set(self.checkpoints)
        eta = torch.full((len(y),), 2 * self.eps, dtype=x.dtype, device=x.device)

        x_k = start
        loss_k, grad_k = self.value_and_grad(x_k, y, target)
        best_x, best_loss, best_grad = x_k.clone(), loss_k.clone(), grad_k.clone()
        found = self.is_success(x_k, y, target)
        adv_x = x_k.clone()
        adv_loss = torch.where(found, loss_k, torch.full_like(loss_k, -math.inf))
        active = ~found if self.early_stop else torch.ones_like(found)

        x_prev = x_k
        increases = torch.zeros_like(loss_k)
        last_checkpoint = 0
        reduced_last = torch.zeros_like(found)
        best_at_last = best_loss.clone()
        for k in range(self.steps):
            a = 1.0 if k == 0 else self.momentum
            z = project(x_k + _rows(eta, x) * normalized_step(grad_k, self.norm), x, self.eps, self.norm)
            new = project(x_k + a * (z - x_k) + (1 - a) * (x_k - x_prev), x, self.eps, self.norm)
            new = torch.where(_rows(active, x), new, x_k)
            x_prev, x_k = x_k, new
            idx = self.working_set(active)  # early exit: the others' loss, gradient and success stand
            if idx is None:
                new_loss, grad_k = self.value_and_grad(x_k, y, target)
                success = self.is_success(x_k, y, target)
            else:
                t_idx = None if target is None else target[idx]
                part_loss, part_grad = self.value_and_grad(x_k[idx], y[idx], t_idx)
                new_loss, grad_k = loss_k.index_copy(0, idx, part_loss), grad_k.index_copy(0, idx, part_grad)
                success = found.index_copy(0, idx, self.is_success(x_k[idx], y[idx], t_idx))
            increases += (new_loss > loss_k).to(increases.dtype)
            loss_k = new_loss

            improved = loss_k > best_loss
            best_x = torch.where(_rows(improved, x), x_k, best_x)
            best_grad = torch.where(_rows(improved, x), grad_k, best_grad)
            best_loss = torch.where(improved, loss_k, best_loss)

            better_adv = success & (~found | (loss_k > adv_loss))
            adv_x = torch.where(_rows(better_adv, x), x_k, adv_x)
            adv_loss = torch.where(better_adv, loss_k, adv_loss)
            found = found | success
            if self.early_stop:
                active = active & ~found
                if not active.any():
                    break

            done = k + 1
            if done in checkpoints:
                few_increases = increases < self.rho * (done - last_checkpoint)
                stalled = ~reduced_last & (best_loss <= best_at_last)
                reduce = (few_increases | stalled) & active
                eta = torch.where(reduce, eta / 2, eta)
                x_k = torch.where(_rows(reduce, x), best_x, x_k)
                grad_k = torch.where(_rows(reduce, x), best_grad, grad_k)
                loss_k = torch.where(reduce, best_loss, loss_k)
                reduced_last = reduce
                best_at_last = best_loss.clone()
                increases.zero_()
                last_checkpoint = done

        out = torch.where(_rows(found, x), adv_x, best_x)
        return out, torch.where(found, adv_loss, best_loss), found

    @classmethod
    def starts_at_clean_input(cls, params) -> bool:
        return not params.get("random_start", True)

    def describe(self) -> dict:
        return {**super().describe(), "eps": self.eps, "steps": self.steps, "norm": self.norm,
                "loss": self.loss_name, "rho": self.rho, "momentum": self.momentum,
                "random_start": self.random_start, "restarts": self.restarts}


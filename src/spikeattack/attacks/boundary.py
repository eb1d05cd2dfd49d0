"""Boundary attack (Brendel, Rauber & Bethge, ICLR 2018, "Decision-based adversarial
attacks"), the decision-based attack of Liang et al. (TNNLS 2021) Sec. VI / Fig. 16.

It reads only the predicted label and looks for the *smallest* L2 perturbation that
changes it. Start from an adversarial point (uniform noise that the model misclassifies,
pulled towards the input by a binary search along the line), then walk along the decision
boundary towards the input. Each step, per input, with ``d = ||x_adv - x||_2``:

1. orthogonal step: ``c = x_adv + delta * d * eta / ||eta||``, ``eta ~ N(0, I)``, projected
   back onto the sphere of radius ``d`` around ``x``: ``c <- x + (c - x) d / ||c - x||``;
2. step towards the input: ``c' = x + (1 - epsilon) (c - x)``, clipped to [0, 1];
3. ``c'`` replaces ``x_adv`` when it is adversarial (it is closer by construction).

The step sizes adapt as in the paper: every ``adapt_every`` steps, ``delta`` is multiplied
by ``step_adaptation`` (1.5) when more than half of the orthogonal candidates were
adversarial, divided otherwise; ``epsilon`` likewise with a success threshold of 1/4 for
the towards-input candidates. Two forwards per step.

The attack has no budget by default (``eps=None``): it returns the closest adversarial
example it found, so the per-input L2 / Linf of ``x_adv - x`` is the minimal perturbation
(Liang et al. Fig. 16 reports its distribution). With ``eps`` set, an input whose closest
adversarial example lies outside the ``norm``-ball is returned unperturbed (counted as
robust). Inputs for which no adversarial starting point is found are returned unperturbed.
"""

from __future__ import annotations

import torch

from .base import Attack, check_int, check_number
from .projection import check_budget, check_norm
from .restarts import per_row as _rows


def _l2(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1)


class Boundary(Attack):
    name = "boundary"
    parameters = Attack.parameters + ("steps", "eps", "norm", "spherical_step", "source_step", "step_adaptation",
                                      "adapt_every", "init_trials", "search_steps")

    def __init__(self, model, *, steps: int = 1000, eps: float | None = None, norm: str = "l2",
                 spherical_step: float = 0.01, source_step: float = 0.01, step_adaptation: float = 1.5,
                 adapt_every: int = 10, init_trials: int = 50, search_steps: int = 10, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.steps = check_int("steps", steps)
        self.norm = check_norm(norm)
        self.eps = None if eps is None else check_budget("eps", eps, self.norm, model)
        self.spherical_step = check_number("spherical_step", spherical_step, low=0, low_open=True)
        self.source_step = check_number("source_step", source_step, low=0, low_open=True, high=1)
        self.step_adaptation = check_number("step_adaptation", step_adaptation, low=1, low_open=True)
        self.adapt_every = check_int("adapt_every", adapt_every)
        self.init_trials = check_int("init_trials", init_trials)
        self.search_steps = check_int("search_steps", search_steps)

    def adversarial(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        pred = self.query(x).argmax(-1)
        return pred != y if target is None else pred == target

    def initial(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Adversarial starting points (uniform noise, then a binary search towards ``x``)."""
        start, found = x.clone(), torch.zeros(len(y), dtype=torch.bool, device=x.device)
        for _ in range(self.init_trials):
            if found.all():
                break
            noise = torch.rand(x.shape, generator=self.generator, dtype=x.dtype).to(x.device)
            ok = self.adversarial(noise, y, target) & ~found
            start = torch.where(_rows(ok, x), noise, start)
            found |= ok
        low = torch.zeros(len(y), dtype=x.dtype, device=x.device)   # blend weight of the noise: x at 0
        high = torch.ones_like(low)
        for _ in range(self.search_steps):
            mid = (low + high) / 2
            ok = self.adversarial(x + _rows(mid, x) * (start - x), y, target)
            high = torch.where(ok, mid, high)
            low = torch.where(ok, low, mid)
        return torch.where(_rows(found, x), x + _rows(high, x) * (start - x), x), found

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        x_adv, found = self.initial(x, y, target)
        n = len(y)
        delta = torch.full((n,), self.spherical_step, dtype=x.dtype, device=x.device)
        eps = torch.full((n,), self.source_step, dtype=x.dtype, device=x.device)
        sph_ok = torch.zeros(n, dtype=x.dtype, device=x.device)
        src_ok = torch.zeros_like(sph_ok)
        for step in range(self.steps):
            if not found.any():
                break
            diff = x_adv - x
            d = _l2(diff).clamp_min(1e-12)
            eta = torch.randn(x.shape, generator=self.generator, dtype=x.dtype).to(x.device)
            eta = eta / _rows(_l2(eta).clamp_min(1e-12), x)
            c = x_adv + _rows(delta * d, x) * eta
            c = x + (c - x) * _rows(d / _l2(c - x).clamp_min(1e-12), x)
            c = c.clamp(0, 1)
            towards = (x + _rows(1 - eps, x) * (c - x)).clamp(0, 1)
            sph_ok += (self.adversarial(c, y, target) & found).to(x.dtype)
            ok = self.adversarial(towards, y, target) & found & (_l2(towards - x) < d)
            src_ok += ok.to(x.dtype)
            x_adv = torch.where(_rows(ok, x), towards, x_adv)
            if (step + 1) % self.adapt_every == 0:
                a = self.step_adaptation
                delta = torch.where(sph_ok / self.adapt_every > 0.5, delta * a, delta / a)
                eps = torch.where(src_ok / self.adapt_every > 0.25, eps * a, eps / a).clamp(max=0.5)
                sph_ok.zero_()
                src_ok.zero_()
        if self.eps is not None:
            size = _l2(x_adv - x) if self.norm == "l2" else (x_adv - x).flatten(1).abs().amax(1)
            found = found & (size <= self.eps + 1e-6)
        return torch.where(_rows(found, x), x_adv, x)

    def describe(self) -> dict:
        return {**super().describe(), "eps": self.eps, "norm": self.norm, "steps": self.steps,
                "spherical_step": self.spherical_step, "source_step": self.source_step,
                "step_adaptation": self.step_adaptation, "adapt_every": self.adapt_every,
                "init_trials": self.init_trials, "search_steps": self.search_steps}

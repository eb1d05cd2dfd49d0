"""ASSG: adaptive sharpness surrogate gradient (Wang et al. 2025, "Towards Reliable
Evaluation of Adversarial Robustness for Spiking Neural Networks", arXiv 2512.22522).

Exact BPTT (as STBP) with the arctan surrogate, whose sharpness ``alpha`` is not fixed but
set per input, per neuron, per layer and per time step from the membrane it sees over the
iterations of the attack::

    sigma'(u) = (alpha / 2) / (1 + (pi/2 * alpha * u)^2)        u = m - theta
    alpha     = omega / E|u|

so a neuron whose membrane stays far from threshold gets a wide surrogate (no vanishing
gradient) and one close to threshold a sharp, accurate one. ``E|u|`` is an expectation
over the attack iterations; we read it, as the authors' public code does, as exponential
moving averages updated at every gradient forward of the attack::

    M <- beta1 * M + (1 - beta1) * |u|                    (M = 1 before the first step)
    D <- beta2 * D + (1 - beta2) * | |u| - M |             (D = 0 before the first step)
    alpha = omega / (M + relax * D + 1e-4)

The spread term ``relax * D`` (mean absolute deviation, ``relax = 1.5``) widens the
surrogate where ``|u|`` fluctuates between iterations; ``relax = 0, beta1 = 0`` gives the
paper's ``omega / |u|`` of the current iterate. ``omega = 2 tan(pi A / 2) / pi`` with
``A / 2 = 0.425`` the bound on the expected degree of gradient vanishing (the public
code's default for ASSG with SA-PGD; omega ~ 2.65). Statistics are kept for one attack
run (:meth:`reset`, called by every attack at its start) and updated only by forwards
that build a gradient, never by the plain forwards that score a candidate.
"""

from __future__ import annotations

import math

import torch

from ..models import SpikingModel
from .base import GradientEstimator


def _positive(name: str, value: float, *, allow_zero: bool = False, below_one: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero) or (below_one and value >= 1):
        bounds = "[0, 1)" if below_one else (">= 0" if allow_zero else "> 0")
        raise ValueError(f"{name}: expected a value {bounds}, got {value}")
    return float(value)


def assg_sharpness(M: torch.Tensor, D: torch.Tensor, omega: float, relax: float) -> torch.Tensor:
    """``alpha = omega / (M + relax * D + 1e-4)``."""
    return omega / (M + relax * D + 1e-4)


class AdaptiveArcTan:
    """The arctan surrogate with an elementwise sharpness tensor ``alpha`` (one time step)."""

    def __init__(self, alpha: torch.Tensor) -> None:
        self.alpha = alpha

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        return (a / 2) / (1 + (math.pi / 2 * a * u) ** 2)


class _LayerState:
    """One spiking layer's moments ``M_t, D_t`` (per time step) and its surrogate hook."""

    time_invariant = False  # a surrogate shaped per step: the neuron runs its reference loop

    def __init__(self, owner: "ASSG") -> None:
        self.owner = owner
        self.M: dict[int, torch.Tensor] = {}
        self.D: dict[int, torch.Tensor] = {}

    def at_step(self, u: torch.Tensor, t: int) -> AdaptiveArcTan:
        o = self.owner
        absu = u.detach().abs()
        M, D = self.M.get(t), self.D.get(t)
        if M is None or M.shape != absu.shape:
            M, D = torch.ones_like(absu), torch.zeros_like(absu)
        if torch.is_grad_enabled() and u.requires_grad:
            M = o.beta1 * M + (1 - o.beta1) * absu
            D = o.beta2 * D + (1 - o.beta2) * (absu - M).abs()
        self.M[t], self.D[t] = M, D
        return AdaptiveArcTan(assg_sharpness(M, D, o.omega, o.relax))


class ASSG(GradientEstimator):
    stateful = True  # the per-neuron sharpness adapts across an attack's iterations
    name = "assg"

    def __init__(self, omega: float | None = None, relax: float = 1.5, beta1: float = 0.9, beta2: float = 0.9) -> None:
        self.omega = 2 * math.tan(math.pi * 0.425) / math.pi if omega is None else _positive("omega", omega)
        self.relax = _positive("relax", relax, allow_zero=True)
        self.beta1 = _positive("beta1", beta1, allow_zero=True, below_one=True)
        self.beta2 = _positive("beta2", beta2, allow_zero=True, below_one=True)
        self.layers: list[_LayerState] = []

    def reset(self) -> None:
        self.layers = []

    def sharpness(self, layer: int, t: int) -> torch.Tensor:
        """The current ``alpha`` of spiking layer ``layer`` at time step ``t`` ``[B, ...]``."""
        state = self.layers[layer]
        return assg_sharpness(state.M[t], state.D[t], self.omega, self.relax)

    def forward(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        neurons = model.spiking_neurons()
        if len(self.layers) != len(neurons):
            self.layers = [_LayerState(self) for _ in neurons]
        saved = [n.surrogate for n in neurons]
        for n, state in zip(neurons, self.layers):
            n.surrogate = state
        try:
            return model(x)
        finally:
            for n, s in zip(neurons, saved):
                n.surrogate = s

    def describe(self) -> dict:
        return {"name": self.name, "omega": self.omega, "relax": self.relax, "beta1": self.beta1, "beta2": self.beta2}

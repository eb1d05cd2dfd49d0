"""PDSG: potential-dependent surrogate gradient (Lun et al., "Towards Effective and Sparse
Adversarial Attack on Spiking Neural Networks via Breaking Invisible Surrogate Gradients",
CVPR 2025, arXiv 2503.03272, Sec. 4.1).

The surrogate a model was trained with is invisible to an attacker of an inference-only
model. PDSG derives one from the victim's own membrane potential instead: exact BPTT (as
STBP) with a Gaussian surrogate whose width is the spread of the potential it gates,
shifted right by half that width (the paper's calibration, which balances the gradient
on both sides of the threshold, where more potentials lie below than above)::

    sigma'(u_t) = exp(-(u_t - 0.5 s_t)^2 / (2 s_t^2)) / (sqrt(2 pi) s_t)       u_t = m_t - theta
    s_t        = std{ m_tau : tau <= t, over the pooled axes }   (Bessel-corrected)

``m_t`` is the charged membrane at step ``t`` (before firing and reset); ``s_t`` is per
layer and per *channel* (axis 1 of a step's ``[B, C, ...]`` potential: a convolution's
channel, a linear layer's neuron), pooled over the steps so far (time-accumulated, as in
TAB normalisation) and over every other axis. ``s_t = 1`` where the spread is 0 or
undefined (fewer than two values). The paper pools the batch too; with ``scope="input"``
(the default here) each input pools only its own potentials, so an input's gradient does
not depend on the other inputs of the batch (the authors' SDA attacks one input at a
time, where the two agree; ``scope="batch"`` is their pooling over a batch, e.g. their
PGD). The statistics come from the forward that builds the gradient itself: nothing is
kept between forwards, so the estimator has no state across attack iterations.

Read against the public code of the paper (ryime/PDSG-SDA, ``utils/attack.py``: the
Gaussian of mean ``0.5 sigma``, ``sigma`` the std of the recorded potentials over time,
batch and spatial axes, replaced by 1 where it is 0).
"""

from __future__ import annotations

import math

import torch

from ..models import SpikingModel
from .base import GradientEstimator

SCOPES = ("input", "batch")
SHIFT = 0.5  # the right shift of the Gaussian, in units of its width (the paper's calibration)


def pdsg_derivative(u: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``exp(-(u - 0.5 s)^2 / (2 s^2)) / (sqrt(2 pi) s)`` elementwise (``sigma`` broadcasts)."""
    return torch.exp(-((u - SHIFT * sigma) ** 2) / (2 * sigma * sigma)) / (math.sqrt(2 * math.pi) * sigma)


class GaussianWidth:
    """The PDSG surrogate of one time step: a Gaussian with a per-channel width tensor."""

    def __init__(self, sigma: torch.Tensor) -> None:
        self.sigma = sigma

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return pdsg_derivative(u, self.sigma)


class _LayerHistory:
    """One spiking layer's running per-channel sums of the potential over the steps of the
    current forward (restarted at ``t = 0``), and the step's surrogate."""

    time_invariant = False  # a surrogate shaped per step: the neuron runs its reference loop

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.count = 0
        self.total: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None

    def at_step(self, u: torch.Tensor, t: int) -> GaussianWidth:
        v = u.detach().double()
        keep = (0, 1) if self.scope == "input" else (1,)
        if v.dim() < 2:
            raise ValueError(f"pdsg: expected a [B, C, ...] potential per step, got shape {tuple(u.shape)}")
        axes = tuple(a for a in range(v.dim()) if a not in keep)
        # (an empty ``axes`` must not reach ``sum``, which reads it as "every axis")
        total, squares = (v.sum(axes, keepdim=True), (v * v).sum(axes, keepdim=True)) if axes else (v, v * v)
        values = v.numel() // total.numel()
        if t == 0 or self.total is None or self.total.shape != total.shape:
            self.count, self.total, self.squares = values, total, squares
        else:
            self.count += values
            self.total, self.squares = self.total + total, self.squares + squares
        n = self.count
        if n < 2:
            sigma = torch.ones_like(total)
        else:
            var = ((self.squares - self.total * self.total / n) / (n - 1)).clamp_min(0)
            sigma = var.sqrt()
            sigma = torch.where(sigma > 0, sigma, torch.ones_like(sigma))
        return GaussianWidth(sigma.to(u.dtype))


class PDSG(GradientEstimator):
    name = "pdsg"

    def __init__(self, scope: str = "input") -> None:
        if scope not in SCOPES:
            raise ValueError(f"scope: expected one of {SCOPES}, got {scope!r}")
        self.scope = scope

    def forward(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        neurons = model.spiking_neurons()
        saved = [n.surrogate for n in neurons]
        for n in neurons:
            n.surrogate = _LayerHistory(self.scope)
        try:
            return model(x)
        finally:
            for n, s in zip(neurons, saved):
                n.surrogate = s

    def describe(self) -> dict:
        return {"name": self.name, "scope": self.scope}

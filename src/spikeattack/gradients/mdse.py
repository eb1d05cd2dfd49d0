"""MDSE: a mixture of gradient estimators inside one attack (Xu et al., "Attacking the
Spike: On the Security of Spiking Neural Networks to Adversarial Examples",
arXiv 2209.03358, Sec. "Mixed Dynamic Spiking Estimation").

No single estimator is best for every input (Xu et al.'s first finding), so the attack
follows a per-input weighted blend of several estimators' input gradients, with weights
that move over the iterations towards the estimators that have been useful::

    G(x) = sum_k w_k * g_k(x) / mean|g_k(x)|          w_k >= 0, sum_k w_k = 1 (per input)

Each member gradient ``g_k`` is L1-normalised per input first, so estimators of very
different scale (CBA vs STBP vs HART's ``1/gamma^2``) enter on equal terms. The weights
start uniform. The paper's coefficients are learned during the attack by gradient steps
on the coefficients ("dynamic" estimation, as in its Auto-SAGA predecessor); we read that
as a *hypergradient* step (Baydin et al. 2018): a step along member k's direction at the
previous iterate raises the loss at the current iterate, to first order, by
``<grad L(x_i), g_k(x_{i-1})>``. With the current blend ``G(x_i)`` standing in for the
unknown true gradient, each member's credit is

    c_k = <G(x_i), g_k(x_{i-1}) / mean|g_k(x_{i-1})|> / d           (d = input size)

and the weights take an exponentiated-gradient step ``w_k <- w_k exp(lr * c_k) / Z``
(which keeps them on the simplex). Weights and history are per input and last one attack
run (:meth:`reset`). Members default to the five fixed estimators; the forward value is
the spiking model's own logits, so every member's gradient is taken with the loss at those
logits (for ``cba``, whose own forward is the ANN twin's, this differs from ``cba`` alone).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..models import SpikingModel
from .._checks import check_number
from .base import GradientEstimator
from .bptr import BPTR
from .cba import CBA
from .hart import HART
from .rga import RGA
from .stbp import STBP


def normalise_l1(g: torch.Tensor) -> torch.Tensor:
    """``g / mean|g|`` per input (batch first); an all-zero gradient stays zero."""
    scale = g.flatten(1).abs().mean(1).clamp_min(1e-30)
    return g / scale.view(-1, *([1] * (g.dim() - 1)))


def exponentiated_step(weights: torch.Tensor, credit: torch.Tensor, lr: float) -> torch.Tensor:
    """``w_k exp(lr c_k) / sum_j w_j exp(lr c_j)`` along the last axis."""
    return torch.softmax(weights.clamp_min(1e-30).log() + lr * credit, dim=-1)


class _Tap(torch.autograd.Function):
    """Identity forward; the backward hands member k's input gradient to the mixture,
    which returns its weighted, normalised share."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mixture: "MDSE", k: int) -> torch.Tensor:  # type: ignore[override]
        ctx.mixture, ctx.k = mixture, k
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return ctx.mixture._receive(ctx.k, grad), None, None


class MDSE(GradientEstimator):
    name = "mdse"

    stateful = True  # per-input mixture weights, updated across an attack's iterations

    def __init__(self, members: Sequence[GradientEstimator] | None = None, lr: float = 1.0) -> None:
        if members is None:  # the five fixed estimators of the standard evaluation
            members = [STBP(), BPTR(), RGA(), HART(), CBA()]
        if isinstance(members, str) or not isinstance(members, Sequence) or len(members) < 2:
            raise ValueError(f"members: expected at least two estimators, got {members!r}")
        if not all(isinstance(m, GradientEstimator) for m in members):
            raise ValueError("members: expected estimator objects (make_estimator('mdse', members=[...]) takes names)")
        self.members = list(members)
        if any(isinstance(m, MDSE) for m in self.members):
            raise ValueError("members: a mixture cannot contain a mixture")
        self.lr = check_number("lr", lr, low=0)
        self.reset()

    def reset(self) -> None:
        for m in getattr(self, "members", []):
            m.reset()
        #: per-input weights ``[B, K]`` (None until the first gradient)
        self.weights: torch.Tensor | None = None
        self._previous: list[torch.Tensor] | None = None
        self._pending: dict[int, torch.Tensor] = {}
        self._batch_dim = 0

    def _receive(self, k: int, grad: torch.Tensor) -> torch.Tensor:
        K = len(self.members)
        grad = grad.movedim(self._batch_dim, 0)  # spike inputs are time-first [T, B, ...]
        if self.weights is None or self.weights.shape[0] != grad.shape[0]:
            self.weights = torch.full((grad.shape[0], K), 1.0 / K, dtype=grad.dtype, device=grad.device)
            self._previous = None
        g = normalise_l1(grad)
        self._pending[k] = g
        share = self.weights[:, k].view(-1, *([1] * (g.dim() - 1))) * g
        if len(self._pending) == K:
            self._update([self._pending[j] for j in range(K)])
            self._pending = {}
        return share.movedim(0, self._batch_dim)

    def _update(self, current: list[torch.Tensor]) -> None:
        """One hypergradient step of the weights from this and the previous iterate's gradients."""
        if self._previous is not None and self.lr > 0 and self._previous[0].shape == current[0].shape:
            w = self.weights.view(len(current[0]), -1, *([1] * (current[0].dim() - 1)))
            blend = (torch.stack(current, 1) * w).sum(1).flatten(1)
            credit = torch.stack([(blend * p.flatten(1)).mean(1) for p in self._previous], 1)
            self.weights = exponentiated_step(self.weights, credit, self.lr)
        self._previous = current

    def forward(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        if not (torch.is_grad_enabled() and x.requires_grad):
            with torch.no_grad():
                return model(x)
        self._pending = {}
        self._batch_dim = 1 if model.takes_sequence else 0
        with torch.no_grad():
            spiking = model(x)
        mixed = sum(member(model, _Tap.apply(x, self, k)) for k, member in enumerate(self.members))
        return mixed + (spiking - mixed).detach()

    def describe(self) -> dict:
        return {"name": self.name, "members": [m.describe() for m in self.members], "lr": self.lr}

"""RGA: Rate Gradient Approximation (Bu et al., CVPR 2023, Sec. 4.2-4.3).

The gain is the derivative of a relaxed static rate-current curve ``f`` at the layer's
time-averaged input current ``I = (1/T) sum_t x(t)`` (eq. 12), with the layer's own leak
``lambda`` (``decay``) and threshold ``theta`` (eq. 19)::

    f'(I) = gamma                                                 0 <= I <= (1-lambda) theta
          = (1 - gamma theta + gamma theta lambda) / ((beta + lambda - 1) theta)
                                                                 (1-lambda) theta < I <= beta theta
          = 0                                                     otherwise

``beta = 2``, ``gamma = 0.2`` (Sec. 4.3). The two intervals are disjoint (eq. 19's
closed/half-open ends), so the slopes never add at the break point. At ``lambda = 1``
(IF) the first interval shrinks to ``{0}``; there we use the IF form of eq. 15,
``1 / (beta theta)`` on ``[0, beta theta]``, which eq. 19's second slope equals — the
paper states the two coincide at lambda = 1.
"""

from __future__ import annotations

import math

import torch

from ..neurons import LIFNeuron, NeuronProbe
from .rate import RatePathEstimator


def rga_gain(current: torch.Tensor, decay: float, threshold: float, beta: float = 2.0, gamma: float = 0.2) -> torch.Tensor:
    """Eq. (19) of Bu et al. (eq. (15) at ``decay == 1``) evaluated at ``current``."""
    theta, lam = threshold, decay
    top = beta * theta
    if lam == 1.0:
        inside = (current >= 0) & (current <= top)
        return inside.to(current.dtype) / top
    knee = (1 - lam) * theta
    slope = (1 - gamma * theta + gamma * theta * lam) / ((beta + lam - 1) * theta)
    first = (current >= 0) & (current <= knee)
    second = (current > knee) & (current <= top)
    return first.to(current.dtype) * gamma + second.to(current.dtype) * slope


class RGA(RatePathEstimator):
    name = "rga"
    probe_statistics = frozenset({"current"})

    def __init__(self, beta: float = 2.0, gamma: float = 0.2) -> None:
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 1):
            raise ValueError(f"beta: expected a finite number >= 1 (Bu et al. eq. 15), got {beta!r}")
        if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"gamma: expected a finite number >= 0, got {gamma!r}")
        self.beta, self.gamma = float(beta), float(gamma)

    def gain(self, neuron: LIFNeuron, probe: NeuronProbe) -> torch.Tensor:
        # eq. 19 is in the charging current's units: with SpikingJelly's decay_input that is x / tau
        # (the factor 1/tau of dm/dx itself is applied by RatePathEstimator.gains)
        return rga_gain(probe.mean_current * neuron.input_gain, neuron.decay, neuron.threshold, self.beta, self.gamma)

    def describe(self) -> dict:
        return {"name": self.name, "beta": self.beta, "gamma": self.gamma}

"""HART: hybrid adversarial attack based on rate and temporal information
(Hao et al., ICLR 2024).

The membrane's temporal path is pruned and the gradient at a layer's input is merged
over time::

    [dL/dm^l] = (1/T) sum_t dL/ds^l(t) * sigma'(m^l(t)),   the same for every t,
    sigma'(u) = max(gamma - |u - theta|, 0) / gamma^2        (triangle, half-width gamma)

With the upstream gradients time-independent (they are, on the rate path), this is the
gain ``g = (1/T) sum_t sigma'(m(t))``, computed *during the forward* (the paper's
"pre-calculation"), so the backward is O(1) in T. ``gamma`` trades rate for temporal
information (smaller = more temporal); the paper tunes it per model — see
:func:`spikeattack.evaluation.tune_estimator`. Default 1.
"""

from __future__ import annotations

import math

import torch

from ..neurons import LIFNeuron, NeuronProbe, Surrogate, Triangle
from .rate import RatePathEstimator


class HART(RatePathEstimator):
    name = "hart"
    probe_statistics: frozenset[str] = frozenset()  # the surrogate average only

    def __init__(self, gamma: float = 1.0) -> None:
        if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"gamma: expected a finite number > 0, got {gamma!r}")
        self.gamma = float(gamma)
        self._surrogate = Triangle(self.gamma)

    def probe_surrogate(self, neuron: LIFNeuron) -> Surrogate:
        return self._surrogate

    def gain(self, neuron: LIFNeuron, probe: NeuronProbe) -> torch.Tensor:
        return probe.mean_surrogate

    def describe(self) -> dict:
        return {"name": self.name, "gamma": self.gamma}

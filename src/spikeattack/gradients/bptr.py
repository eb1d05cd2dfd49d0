"""BPTR: backpropagation through rate (Ding et al., NeurIPS 2022), the "BPTR" column of
Hao et al.'s (ICLR 2024) Tables 2-3.

Gain ``g = 1`` where the neuron fired at least once in the window (rate > 0), else 0:
the rate-coded net is treated as a ReLU net whose active set is the firing neurons.
"""

from __future__ import annotations

import torch

from ..neurons import LIFNeuron, NeuronProbe
from .rate import RatePathEstimator


class BPTR(RatePathEstimator):
    name = "bptr"
    probe_statistics = frozenset({"rate"})

    def gain(self, neuron: LIFNeuron, probe: NeuronProbe) -> torch.Tensor:
        return (probe.rate > 0).to(probe.rate.dtype)

"""CBA: conversion-based attack (Sharmin et al. 2019, Sec. III-C / Fig. 2).

The gradient (and the forward) is the ANN twin's: the same weights with ReLU in place of
every spiking neuron, fed the rate of the (encoded) input — the image itself for direct
and Poisson coding (the Poisson encoder's straight-through estimate, Bu et al. eq. 20,
which Bu et al. note is equivalent to Sharmin et al.'s scheme), the time average for
spike inputs. This is the "CBA" column of Hao et al.'s Tables 2-3.
"""

from __future__ import annotations

import torch

from ..models import SpikingModel
from .base import GradientEstimator
from .rate import rate_path_neurons, run_rate_network


class CBA(GradientEstimator):
    name = "cba"

    def forward(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        return run_rate_network(model, x, [torch.relu] * len(rate_path_neurons(model, self.name)), self.name)

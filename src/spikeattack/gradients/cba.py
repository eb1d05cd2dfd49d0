"""CBA: conversion-based attack (Sharmin et al. 2019, Sec. III-C / Fig. 2).

The gradient (and the forward) is the ANN twin's: the same weights with ReLU in place of
every spiking neuron, fed the rate of the (encoded) input — the image itself for direct
and Poisson coding (the Poisson encoder's straight-through estimate, Bu et al. eq. 20,
which Bu et al. note is equivalent to Sharmin et al.'s scheme), the time average for
spike inputs. This is the "CBA" column of Hao et al.'s Tables 2-3.

A neuron that scales its input inside (``input_gain``: SpikingJelly's ``decay_input``
charges ``m = decay u + x / tau``) is the ReLU of its scaled input, ``relu(x / tau)``: the
twin of the same neuron without ``decay_input`` fed by a layer whose weights and bias are
divided by tau.
"""

from __future__ import annotations

import torch

from ..models import SpikingModel
from .base import GradientEstimator
from .rate import rate_path_neurons, run_rate_network


class CBA(GradientEstimator):
    name = "cba"

    def forward(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        relus = [torch.relu if n.input_gain == 1.0 else (lambda h, k=n.input_gain: torch.relu(h * k))
                 for n in rate_path_neurons(model, self.name)]
        return run_rate_network(model, x, relus, self.name)

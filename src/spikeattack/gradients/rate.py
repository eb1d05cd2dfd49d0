"""The rate path shared by BPTR, RGA and HART.

Forward: the exact spiking forward (no autograd graph, so no memory that grows with T),
during which every spiking layer's probe records the statistics its gain needs. Backward:
the *rate network* on the input's rate ``[1, B, ...]``, where each spiking layer is the
diagonal map ``h -> g * h`` with the recorded gain ``g`` (detached). A straight-through
sum returns the spiking logits with the rate network's gradient::

    logits = rate_logits + (spiking_logits - rate_logits).detach()

With every stateless layer linear per time step (conv, linear, eval-mode batch-norm,
average pooling, dropout off) and the output averaged over time, this equals the
reference implementations that apply ``dL/dx(t) = g * dL/ds(t)`` at every step:
there every upstream gradient is the same for all t, so the T per-step backwards
collapse into one on ``[B, ...]``.
"""

from __future__ import annotations

from abc import abstractmethod

import torch

from ..models import SpikingModel
from ..neurons import LIFNeuron, NeuronProbe, Surrogate
from .base import GradientEstimator


class RatePathEstimator(GradientEstimator):
    """Base of gain-based rate-path estimators; subclasses define :meth:`gain`."""

    def probe_surrogate(self, neuron: LIFNeuron) -> Surrogate | None:
        """A surrogate whose time average the probe should record (HART only)."""
        return None

    @abstractmethod
    def gain(self, neuron: LIFNeuron, probe: NeuronProbe) -> torch.Tensor:
        """The layer's diagonal gain ``g`` ``[B, ...]`` from the recorded statistics."""

    def gains(self, model: SpikingModel, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the spiking forward once; return its logits and every layer's gain."""
        neurons = model.spiking_neurons()
        probes = [NeuronProbe(self.probe_surrogate(n)) for n in neurons]
        for n, p in zip(neurons, probes):
            n.probe = p
        try:
            with torch.no_grad():
                logits = model(x)
        finally:
            for n in neurons:
                n.probe = None
        return logits, [self.gain(n, p).detach() for n, p in zip(neurons, probes)]

    def forward(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        spiking_logits, gains = self.gains(model, x)
        rate_logits = run_rate_network(model, x, [lambda h, g=g: h * g for g in gains])
        return rate_logits + (spiking_logits - rate_logits).detach()


def run_rate_network(model: SpikingModel, x: torch.Tensor, rate_fns: list) -> torch.Tensor:
    """``model.rate_forward(x)`` with ``rate_fns[i]`` in place of spiking layer ``i``."""
    neurons = model.spiking_neurons()
    for n, fn in zip(neurons, rate_fns, strict=True):
        n.rate_fn = fn
    try:
        return model.rate_forward(x)
    finally:
        for n in neurons:
            n.rate_fn = None

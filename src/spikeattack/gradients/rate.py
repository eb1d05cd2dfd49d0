"""The rate path shared by BPTR, RGA and HART.

Forward: the exact spiking forward (no autograd graph, so no memory that grows with T),
during which every spiking layer's probe records the statistics its gain needs. Backward:
the *rate network* on the input's rate ``[1, B, ...]``, where each spiking layer is the
diagonal map ``h -> g * h`` with the recorded gain ``g`` (detached). A straight-through
sum returns the spiking logits with the rate network's gradient::

    logits = rate_logits + (spiking_logits - rate_logits).detach()

Only the rate network's gradient is used, and with fixed gains it is linear: its layers
run *transpose-only* (``models/transpose.py``: no forward arithmetic, each layer's
transpose in the backward), so the rate path costs one no-grad spiking forward plus one
backward at batch B.

With every stateless layer linear per time step (conv, linear, eval-mode batch-norm,
average pooling, dropout off) and the output averaged over time, this equals the
reference implementations that apply ``dL/dx(t) = g * dL/ds(t)`` at every step:
there every upstream gradient is the same for all t, so the T per-step backwards
collapse into one on ``[B, ...]``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import torch

from ..models import SpikingModel, TimeDistributed
from ..models.layers import transpose_ready
from ..neurons import LIFNeuron, NeuronProbe, Surrogate
from .._declare import keep_declaration_honest
from .base import GradientEstimator


class RatePathEstimator(GradientEstimator):
    #: whether the estimator is this class's gains-times-rate-network backward (so one probed
    #: forward serves it beside the others: :func:`~spikeattack.gradients.input_gradients`)
    shares_rate_forward: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        keep_declaration_honest(cls, "shares_rate_forward", ("forward", "gains"), False)

    """Base of gain-based rate-path estimators; subclasses define :meth:`gain`."""

    #: the probe statistics :meth:`gain` reads (``"current"``, ``"rate"``); a subclass that
    #: reads fewer names them, and the probe records only those
    probe_statistics: frozenset[str] = frozenset({"current", "rate"})

    def probe(self, neuron: LIFNeuron) -> NeuronProbe:
        """A probe that records what :meth:`gain` reads for ``neuron``."""
        return NeuronProbe(self.probe_surrogate(neuron), current="current" in self.probe_statistics,
                           rate="rate" in self.probe_statistics)

    def probe_surrogate(self, neuron: LIFNeuron) -> Surrogate | None:
        """A surrogate whose time average the probe should record (HART only)."""
        return None

    @abstractmethod
    def gain(self, neuron: LIFNeuron, probe: NeuronProbe) -> torch.Tensor:
        """The layer's diagonal gain ``g`` ``[B, ...]`` from the recorded statistics."""

    def gains(self, model: SpikingModel, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the spiking forward once; return its logits and every layer's gain.

        A layer whose input is scaled inside the neuron (``input_gain``, SpikingJelly's
        ``decay_input``: ``dm/dx = 1/tau``) has that factor in its gain.
        """
        neurons = rate_path_neurons(model, self.name)
        probes = [self.probe(n) for n in neurons]
        for n, p in zip(neurons, probes):
            n.probe = p
        try:
            with torch.no_grad():
                logits = model(x)
        finally:
            for n in neurons:
                n.probe = None
        return logits, [(self.gain(n, p) * n.input_gain).detach() for n, p in zip(neurons, probes)]

    def forward(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        return self.through_rate_network(model, x, *self.gains(model, x))

    def through_rate_network(self, model: SpikingModel, x: torch.Tensor, spiking_logits: torch.Tensor,
                             gains: list[torch.Tensor]) -> torch.Tensor:
        """The spiking logits with the (transpose-only) rate network's gradient w.r.t. ``x``."""
        rate_logits = run_rate_network(model, x, [lambda h, g=g: h * g for g in gains], self.name,
                                       transpose_only=True)
        return rate_logits + (spiking_logits - rate_logits).detach()


def rate_path_neurons(model: SpikingModel, estimator: str) -> list[LIFNeuron]:
    """The spiking layers the rate path replaces; ``ValueError`` when there are none, or when
    the body holds a spiking module that is not a spikeattack neuron (its rate path would
    silently treat it as a stateless layer): such a model must go through
    :func:`spikeattack.interop.wrap`."""
    foreign = model.foreign_spiking_modules()
    if foreign:
        raise ValueError(f"model: {estimator} cannot follow the rate path through spiking module(s) it does not "
                         f"understand: {', '.join(foreign)}; convert the network with spikeattack.interop.wrap "
                         "(or register_neuron)")
    neurons = model.spiking_neurons()
    if not neurons:
        raise ValueError(f"model: {estimator} found no spiking layer in {type(model.body).__name__}; "
                         "a rate-path estimator needs spikeattack neurons (see spikeattack.interop.wrap)")
    return neurons


def run_rate_network(model: SpikingModel, x: torch.Tensor, rate_fns: list, estimator: str = "rate path", *,
                     transpose_only: bool = False) -> torch.Tensor:
    """``model.rate_forward(x)`` with ``rate_fns[i]`` in place of spiking layer ``i``.

    ``transpose_only=True`` (for rate functions linear in their input, such as the gains
    ``h -> g * h``): when the body allows it (:func:`~spikeattack.models.transpose.transpose_ready`),
    its stateless layers skip their forward and return zeros, so the output's *value* is
    meaningless but its input gradient is the rate network's, at the cost of the backward
    alone. Callers use only that gradient (the straight-through sum of
    :meth:`RatePathEstimator.forward`)."""
    neurons = rate_path_neurons(model, estimator)
    layers = transpose_layers(model) if transpose_only else []
    for n, fn in zip(neurons, rate_fns, strict=True):
        n.rate_fn = fn
    for layer in layers:
        layer.transpose_only = True
    try:
        return model.rate_forward(x)
    finally:
        for n in neurons:
            n.rate_fn = None
        for layer in layers:
            layer.transpose_only = False


def transpose_layers(model: SpikingModel) -> list[TimeDistributed]:
    """The body's ``TimeDistributed`` layers when its rate network can run transpose-only, else []."""
    if not transpose_ready(model.body, lambda m: isinstance(m, LIFNeuron)):
        return []
    return [m for m in model.body.modules() if isinstance(m, TimeDistributed)]

"""SpikingJelly (``activation_based``) neurons as spikeattack neurons.

``IFNode``, ``LIFNode`` and ``ParametricLIFNode`` map onto :class:`LIFNeuron` (``step_mode="m"``)
or :class:`StepLIFNeuron` (``step_mode="s"``) with SpikingJelly's equations (its
``_ops/*/reference.py``): charge ``H = V + (X - (V - V_reset)) / tau`` (``decay_input``) or
``H = V - (V - V_reset) / tau + X``, with ``V_reset -> 0`` for the soft reset, ``decay = 1 - 1/tau``
(``1/tau = sigmoid(w)`` for PLIF, read once: the attack does not train ``w``), fire on
``H >= V_th``, hard reset ``V = S V_reset + (1 - S) H`` or soft ``V = H - S V_th``, ``S`` detached
with ``detach_reset``. Surrogates: ``ATan(alpha)`` -> :class:`ArcTan` (alpha),
``Sigmoid(alpha)`` -> :class:`Sigmoid` (alpha), ``PiecewiseQuadratic(alpha)`` -> :class:`Triangle`
of half-width ``1/alpha`` (``alpha - alpha^2 |x|`` on ``|x| <= 1/alpha``).

``ADAPTERS`` maps each neuron type to its adapter; :mod:`.registry` merges it once a model
uses SpikingJelly (this module imports nothing of the registry).
"""

from __future__ import annotations

from spikingjelly.activation_based import functional as sj_functional
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_surrogate
from torch import nn

from ..neurons import ArcTan, LIFNeuron, Sigmoid, StepLIFNeuron, Surrogate, Triangle


def convert_surrogate(fn) -> Surrogate:
    """The spikeattack surrogate of a SpikingJelly surrogate module."""
    if not getattr(fn, "spiking", True):
        raise ValueError(f"surrogate_function: {type(fn).__name__}(spiking=False) outputs no spikes")
    if type(fn) is sj_surrogate.ATan:
        return ArcTan(float(fn.alpha))
    if type(fn) is sj_surrogate.Sigmoid:
        return Sigmoid(float(fn.alpha))
    if type(fn) is sj_surrogate.PiecewiseQuadratic:
        return Triangle(1.0 / float(fn.alpha))
    raise ValueError(f"surrogate_function: SpikingJelly {type(fn).__name__} has no spikeattack equivalent; "
                     "supported: ATan, Sigmoid, PiecewiseQuadratic")


def _node(module, decay: float, decay_input: bool) -> LIFNeuron:
    if module.step_mode not in ("s", "m"):
        raise ValueError(f"step_mode: expected 's' or 'm', got {module.step_mode!r}")
    soft = module.v_reset is None
    cls = StepLIFNeuron if module.step_mode == "s" else LIFNeuron
    return cls(decay=decay, threshold=float(module.v_threshold), reset="soft" if soft else "hard",
               v_reset=0.0 if soft else float(module.v_reset), surrogate=convert_surrogate(module.surrogate_function),
               detach_reset=bool(module.detach_reset), decay_input=decay_input,
               v_rest=0.0 if soft else float(module.v_reset))


def adapt_if(module: sj_neuron.IFNode) -> LIFNeuron:
    return _node(module, 1.0, False)


def adapt_lif(module: sj_neuron.LIFNode) -> LIFNeuron:
    return _node(module, 1.0 - 1.0 / float(module.tau), bool(module.decay_input))


def adapt_plif(module: sj_neuron.ParametricLIFNode) -> LIFNeuron:
    rate = float(module.w.detach().double().sigmoid())  # 1 / tau
    return _node(module, 1.0 - rate, bool(module.decay_input))


ADAPTERS = {sj_neuron.IFNode: adapt_if, sj_neuron.LIFNode: adapt_lif, sj_neuron.ParametricLIFNode: adapt_plif}


def reset_states(net: nn.Module) -> None:
    """A fresh state for SpikingJelly's own neurons of ``net`` (``functional.reset_net``)."""
    sj_functional.reset_net(net)

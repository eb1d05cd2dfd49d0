"""snnTorch ``Leaky`` neurons as spikeattack neurons.

snnTorch 1.0 (``_neurons/leaky.py``, default ``reset_delay=True``), with ``mem`` the membrane
before the reset and ``R(t) = H(mem(t-1) - U_thr)`` detached::

    subtract: mem(t) = beta mem(t-1) + I(t) - R(t) U_thr      -> LIFNeuron reset="subtract"
    zero:     mem(t) = beta (1 - R(t)) mem(t-1) + I(t)        -> reset="hard", v_reset=0
    none:     mem(t) = beta mem(t-1) + I(t)                   -> reset="none"
    spk(t) = H(mem(t) - U_thr), fired on ``>``                -> strict=True, detach_reset=True

Surrogates: ``fast_sigmoid(slope)`` -> :class:`FastSigmoid`, ``atan(alpha)`` (the default) ->
:class:`ArcTan`, ``sigmoid(slope)`` -> :class:`Sigmoid`. ``init_hidden=True`` gives a
:class:`StepLIFNeuron` (returning ``(spk, mem)`` with ``output=True``), otherwise a
:class:`MembraneLIFNeuron` called as ``lif(cur, mem)``. Options the equations above do not
cover (``inhibition``, ``state_quant``, ``reset_delay=False``, graded spikes, a per-neuron
``beta``/``threshold``, ``surrogate_disable``) raise ``ValueError`` naming them.

``ADAPTERS`` maps the neuron type to its adapter; :mod:`.registry` merges it once a model
uses snnTorch (this module imports nothing of the registry).
"""

from __future__ import annotations

import inspect

import snntorch
from torch import nn

from ..neurons import ArcTan, FastSigmoid, LIFNeuron, MembraneLIFNeuron, Sigmoid, StepLIFNeuron, Surrogate

_SURROGATES = {"fast_sigmoid": (FastSigmoid, "slope"), "atan": (ArcTan, "alpha"), "sigmoid": (Sigmoid, "slope")}


def convert_surrogate(fn) -> Surrogate:
    """The spikeattack surrogate of an ``snntorch.surrogate.<name>(...)`` closure."""
    qualname = getattr(fn, "__qualname__", type(fn).__name__)
    family = qualname.split(".")[0]
    if family in _SURROGATES and getattr(fn, "__module__", "") == "snntorch.surrogate":
        cls, param = _SURROGATES[family]
        return cls(float(inspect.getclosurevars(fn).nonlocals[param]))
    raise ValueError(f"spike_grad: snnTorch surrogate {qualname!r} has no spikeattack equivalent; "
                     f"supported: {', '.join(_SURROGATES)}")


def _scalar(module, name: str) -> float:
    value = getattr(module, name)
    if value.numel() != 1:
        raise ValueError(f"{name}: a per-neuron {name} (shape {tuple(value.shape)}) is not supported; expected a scalar")
    return float(value.detach().reshape(()))


def adapt_leaky(module: snntorch.Leaky) -> LIFNeuron:
    for option, bad in (("inhibition", module.inhibition), ("state_quant", bool(module.state_quant)),
                        ("reset_delay=False", not module.reset_delay),
                        ("surrogate_disable", module.spike_grad == module._surrogate_bypass)):
        if bad:
            raise ValueError(f"Leaky: option {option} is not supported")
    if _scalar(module, "graded_spikes_factor") != 1.0:
        raise ValueError("Leaky: graded_spikes_factor != 1 is not supported")
    beta = min(max(_scalar(module, "beta"), 0.0), 1.0)  # snnTorch clamps beta to [0, 1]
    mechanism = module.reset_mechanism
    reset = {"subtract": "subtract", "zero": "hard", "none": "none"}.get(mechanism)
    if reset is None:
        raise ValueError(f"reset_mechanism: expected 'subtract', 'zero' or 'none', got {mechanism!r}")
    kwargs = dict(decay=beta, threshold=_scalar(module, "threshold"), reset=reset, v_reset=0.0,
                  surrogate=convert_surrogate(module.spike_grad), detach_reset=True, strict=True)
    if module.init_hidden:
        return StepLIFNeuron(**kwargs, returns_membrane=bool(module.output))
    return MembraneLIFNeuron(**kwargs)


ADAPTERS = {snntorch.Leaky: adapt_leaky}


def reset_states(net: nn.Module) -> None:
    """A fresh membrane for every snnTorch neuron of ``net``.

    Per instance: ``utils.reset`` resets the class-wide ``instances`` list, which a deep copy
    of a network (as :func:`~spikeattack.interop.wrap` makes) never joins."""
    for m in net.modules():
        if isinstance(m, snntorch.SpikingNeuron) and hasattr(m, "reset_mem"):
            m.reset_mem()

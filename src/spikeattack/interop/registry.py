"""The neuron protocol: which foreign module types become which spikeattack neurons.

``register_neuron(SomeNeuron, adapter)``: ``adapter(module)`` returns a spikeattack neuron
that computes what ``module`` computes *and is called the same way*:

- :class:`~spikeattack.neurons.LIFNeuron` for a multi-step neuron (``[T, B, ...]`` in, spikes out);
- :class:`~spikeattack.neurons.StepLIFNeuron` for a single-step neuron that keeps its state
  between calls (``x_t`` in, ``s_t`` out, or ``(s_t, m_t)`` with ``returns_membrane``);
- :class:`~spikeattack.neurons.MembraneLIFNeuron` for a neuron handed its membrane
  (``(x_t, mem)`` in, ``(s_t, mem)`` out).

An adapter raises ``ValueError`` naming the option it cannot express. Types match
exactly: a subclass of a registered type may change the dynamics, so it is *not*
adapted and counts as not understood.

:func:`foreign_spiking_modules` lists the spiking modules of a network that are not
spikeattack neurons: registered types, anything in SpikingJelly's ``neuron`` package,
subclasses of snnTorch's ``SpikingNeuron``, and leaf modules outside torch whose class
name says neuron/node/leak/LIF/spik. The rate-path estimators refuse a model holding one.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ..neurons import LIFNeuron, foreign_spiking_modules, register_foreign_neuron_type

Adapter = Callable[[nn.Module], LIFNeuron]
_ADAPTERS: dict[type, Adapter] = {}


def register_neuron(neuron_type: type, adapter: Adapter) -> None:
    """Make ``neuron_type`` (exactly) convertible by ``adapter(module) -> LIFNeuron``."""
    if not isinstance(neuron_type, type) or not issubclass(neuron_type, nn.Module):
        raise ValueError(f"neuron_type: expected an nn.Module subclass, got {neuron_type!r}")
    if issubclass(neuron_type, LIFNeuron):
        raise ValueError(f"neuron_type: {neuron_type.__name__} is already a spikeattack neuron")
    if not callable(adapter):
        raise ValueError(f"adapter: expected a callable module -> LIFNeuron, got {type(adapter).__name__}")
    _ADAPTERS[neuron_type] = adapter
    register_foreign_neuron_type(neuron_type)


def _load_builtin_adapters(module: nn.Module) -> None:
    """Register the SpikingJelly / snnTorch adapters once a model uses those frameworks."""
    roots = {type(m).__module__.split(".")[0] for m in module.modules()}
    if "spikingjelly" in roots:
        from . import spikingjelly  # noqa: F401  (registers on import)
    if "snntorch" in roots:
        from . import snntorch  # noqa: F401


def _set_child(root: nn.Module, path: str, new: nn.Module) -> None:
    parent = root
    *heads, last = path.split(".")
    for h in heads:
        parent = getattr(parent, h)
    setattr(parent, last, new)


def convert_neurons(module: nn.Module) -> list[LIFNeuron]:
    """Replace, in place, every registered foreign neuron of ``module`` by its adapter's
    spikeattack neuron; returns the new neurons in module order.

    Raises ``ValueError`` naming the type of any spiking module left that no adapter knows.
    """
    _load_builtin_adapters(module)
    converted: dict[int, LIFNeuron] = {}
    for name, m in list(module.named_modules()):
        adapter = _ADAPTERS.get(type(m))
        if adapter is None or not name:
            continue
        if id(m) not in converted:
            new = adapter(m)
            if not isinstance(new, LIFNeuron):
                raise ValueError(f"adapter for {type(m).__name__}: expected it to return a LIFNeuron, "
                                 f"got {type(new).__name__}")
            converted[id(m)] = new
        _set_child(module, name, converted[id(m)])
    if _ADAPTERS.get(type(module)) is not None:
        raise ValueError(f"model: {type(module).__name__} is a bare neuron; wrap a network that contains it")
    unknown = foreign_spiking_modules(module)
    if unknown:
        raise ValueError(f"model: unknown neuron type(s) {', '.join(unknown)}; no adapter converts them "
                         "(register one with spikeattack.interop.register_neuron)")
    seen, out = set(), []
    for m in module.modules():
        if isinstance(m, LIFNeuron) and id(m) not in seen:
            seen.add(id(m))
            out.append(m)
    return out

"""The neuron protocol: which foreign module types become which spikeattack neurons.

``register_neuron(SomeNeuron, adapter)``: ``adapter(module)`` returns a spikeattack neuron
that computes what ``module`` computes *and is called the same way*:

- :class:`~spikeattack.neurons.LIFNeuron` for a multi-step neuron (``[T, B, ...]`` in, spikes out);
- :class:`~spikeattack.neurons.StepLIFNeuron` for a single-step neuron that keeps its state
  between calls (``x_t`` in, ``s_t`` out, or ``(s_t, m_t)`` with ``returns_membrane``);
- :class:`~spikeattack.neurons.MembraneLIFNeuron` for a neuron handed its membrane
  (``(x_t, mem)`` in, ``(s_t, mem)`` out).

SpikingJelly's and snnTorch's own adapters come from their modules' ``ADAPTERS`` dicts,
merged (:func:`adapters_for`) only for a network that uses that framework; registered
adapters win over them. An adapter raises ``ValueError`` naming the option it cannot
express. Types match exactly: a subclass of a registered type may change the dynamics, so
it is *not* adapted and counts as not understood (a spiking module left after the
conversion, :func:`spikeattack.neurons.foreign_spiking_modules`, is a ``ValueError``).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ..neurons import LIFNeuron, foreign_spiking_modules, register_foreign_neuron_type
from .frameworks import used_frameworks

Adapter = Callable[[nn.Module], LIFNeuron]
_REGISTERED: dict[type, Adapter] = {}  # register_neuron's; they win over a framework's own


def register_neuron(neuron_type: type, adapter: Adapter) -> None:
    """Make ``neuron_type`` (exactly) convertible by ``adapter(module) -> LIFNeuron``."""
    if not isinstance(neuron_type, type) or not issubclass(neuron_type, nn.Module):
        raise ValueError(f"neuron_type: expected an nn.Module subclass, got {neuron_type!r}")
    if issubclass(neuron_type, LIFNeuron):
        raise ValueError(f"neuron_type: {neuron_type.__name__} is already a spikeattack neuron")
    if not callable(adapter):
        raise ValueError(f"adapter: expected a callable module -> LIFNeuron, got {type(adapter).__name__}")
    _REGISTERED[neuron_type] = adapter
    register_foreign_neuron_type(neuron_type)


def adapters_for(module: nn.Module) -> dict[type, Adapter]:
    """The adapters that apply to ``module``: its frameworks' ``ADAPTERS``, then the registered ones."""
    merged: dict[type, Adapter] = {}
    for framework in used_frameworks(module):
        merged.update(framework.ADAPTERS)
    merged.update(_REGISTERED)
    return merged


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
    adapters = adapters_for(module)
    converted: dict[int, LIFNeuron] = {}
    for name, m in list(module.named_modules()):
        adapter = adapters.get(type(m))
        if adapter is None or not name:
            continue
        if id(m) not in converted:
            new = adapter(m)
            if not isinstance(new, LIFNeuron):
                raise ValueError(f"adapter for {type(m).__name__}: expected it to return a LIFNeuron, "
                                 f"got {type(new).__name__}")
            converted[id(m)] = new
        _set_child(module, name, converted[id(m)])
    if adapters.get(type(module)) is not None:
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

"""Spiking modules that are not spikeattack neurons (a SpikingJelly / snnTorch / user neuron
left in a network): the rate-path estimators refuse a model holding one, since they would
treat it as a stateless layer.

A module counts as spiking when its type was registered as a foreign neuron
(:func:`register_foreign_neuron_type`, done by ``spikeattack.interop.register_neuron``), lies
in SpikingJelly's ``neuron`` package, subclasses snnTorch's ``SpikingNeuron``, or is a leaf
module outside torch whose class name says neuron/node/leak/LIF/spik.
"""

from __future__ import annotations

import re

from torch import nn

from .lif import LIFNeuron, ReLUNeuron

_NAME_HINT = re.compile(r"neuron|node|leak|lif|spik", re.IGNORECASE)
_FOREIGN_TYPES: set[type] = set()


def register_foreign_neuron_type(neuron_type: type) -> None:
    """Count modules of exactly ``neuron_type`` as spiking modules that are not spikeattack neurons."""
    _FOREIGN_TYPES.add(neuron_type)


def is_foreign_spiking(m: nn.Module) -> bool:
    if isinstance(m, (LIFNeuron, ReLUNeuron)):
        return False
    if type(m) in _FOREIGN_TYPES:
        return True
    for base in type(m).__mro__:
        where = base.__module__ or ""
        if where.startswith("spikingjelly.activation_based.neuron"):
            return True
        if where.startswith("snntorch") and base.__name__ == "SpikingNeuron":
            return True
    where = type(m).__module__ or ""
    native = where.startswith(("torch.", "spikeattack.", "spikingjelly.", "snntorch."))
    return not native and not any(True for _ in m.children()) and bool(_NAME_HINT.search(type(m).__name__))


def foreign_spiking_modules(module: nn.Module) -> list[str]:
    """``"path (Type)"`` for every spiking module of ``module`` that is not a spikeattack neuron."""
    out, seen = [], set()
    for name, m in module.named_modules():
        if id(m) in seen:
            continue
        seen.add(id(m))
        if is_foreign_spiking(m):
            out.append(f"{name or '<root>'} ({type(m).__module__}.{type(m).__name__})")
    return out

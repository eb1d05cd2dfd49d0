"""The foreign frameworks a network uses, and what each contributes.

Each framework module (:mod:`.spikingjelly`, :mod:`.snntorch`) exports a plain
``ADAPTERS = {NeuronType: adapter}`` dict and ``reset_states(net)`` (a fresh state for that
framework's own neurons). It is imported here, and only once a network holds a module of
that framework, so neither framework is needed to use the rest of spikeattack. The import
goes one way: the framework modules import nothing of the interop package.
"""

from __future__ import annotations

from types import ModuleType

from torch import nn


def used_frameworks(net: nn.Module) -> list[ModuleType]:
    """The framework modules (``ADAPTERS``, ``reset_states``) of the frameworks ``net`` uses."""
    roots = {(type(m).__module__ or "").split(".")[0] for m in net.modules()}
    out: list[ModuleType] = []
    if "spikingjelly" in roots:
        from . import spikingjelly

        out.append(spikingjelly)
    if "snntorch" in roots:
        from . import snntorch

        out.append(snntorch)
    return out


def reset_foreign_states(net: nn.Module) -> None:
    """Reset the state of every foreign neuron of ``net`` (``functional.reset_net`` /
    ``utils.reset`` semantics), so that its next forward starts a fresh sequence."""
    for framework in used_frameworks(net):
        framework.reset_states(net)

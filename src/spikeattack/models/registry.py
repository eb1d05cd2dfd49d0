"""Architecture registry: ``--arch NAME`` maps to a builder of the network body.

A builder takes an :class:`ArchSpec` (input shape, classes and a ``neuron()`` factory)
plus its own keyword options and returns a module mapping ``[T, B, C, H, W]`` to
``[T, B, num_classes]``. The same builder makes the spiking network and its ANN twin:
only the neuron factory differs, so parameter names and shapes are identical.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from .._registry import Registry


@dataclass(frozen=True)
class ArchSpec:
    in_channels: int
    input_size: tuple[int, int]
    num_classes: int
    neuron: Callable[[], nn.Module]


ArchBuilder = Callable[..., nn.Module]
ARCHS: Registry[ArchBuilder] = Registry("arch")


def register_arch(name: str) -> Callable[[ArchBuilder], ArchBuilder]:
    """Decorator: make ``builder(spec, **options)`` the architecture ``name``."""
    return ARCHS.register(name)


def build_body(name: str, spec: ArchSpec, options: dict[str, Any]) -> nn.Module:
    """Build architecture ``name``; unknown names or options give a ``ValueError``."""
    builder = ARCHS.get_builder(name)
    accepted = [p for p in inspect.signature(builder).parameters if p != "spec"]
    unknown = set(options) - set(accepted)
    if unknown:
        raise ValueError(f"arch_options: {name} does not take {sorted(unknown)}; it takes {accepted}")
    return builder(spec, **options)

"""Layers that carry time: stateless modules applied to every step of ``[T, B, ...]``."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .transpose import TransposeOnly, transposable


class TimeDistributed(nn.Module):
    """Apply a stateless module (conv, linear, batch-norm, pooling, dropout, flatten) to
    every time step of a ``[T, B, ...]`` tensor by merging time into the batch
    (SpikingJelly's ``SeqToANNContainer``). Batch-norm statistics are taken over T*B.

    The wrapped module is ``self.module``, so parameter names are ``<name>.module.weight``
    in both the spiking network and its ANN twin.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.transpose_only = False  # set on the rate path: see models/transpose.py

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"input: expected a [T, B, ...] tensor, got shape {tuple(x.shape)}")
        steps, batch = x.shape[:2]
        if self.transpose_only:
            return TransposeOnly.apply(x.flatten(0, 1), self.module).unflatten(0, (steps, batch))
        y = self.module(x.flatten(0, 1))
        return y.unflatten(0, (steps, batch))

    def extra_repr(self) -> str:
        return ""


def td(*modules: nn.Module) -> TimeDistributed:
    """``TimeDistributed`` of one module, or of an ``nn.Sequential`` of several."""
    return TimeDistributed(modules[0] if len(modules) == 1 else nn.Sequential(*modules))


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 3, *, stride: int = 1,
            batch_norm: bool = True) -> TimeDistributed:
    """``conv -> (batch-norm)`` applied per step; 'same' padding for odd kernels."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                     bias=not batch_norm)
    return td(conv, nn.BatchNorm2d(out_channels)) if batch_norm else td(conv)


def transpose_ready(module: nn.Module, is_neuron: Callable[[nn.Module], bool]) -> bool:
    """Whether ``module``'s rate network can run transpose-only: every module in it is a
    spiking neuron (``is_neuron``), a ``TimeDistributed`` of a :func:`transposable` layer, an
    ``Identity``, or a container whose forward combines its children by linear operations
    only: ``nn.Sequential``, or a class that declares ``rate_linear = True`` (e.g. a residual
    block, whose addition is linear). Any other module may compute something nonlinear from
    the activations, which the zeros of the transpose-only forward would get wrong."""
    if is_neuron(module):
        return True
    if isinstance(module, TimeDistributed):
        return transposable(module.module)
    if type(module) in (nn.Sequential, nn.Identity) or getattr(type(module), "rate_linear", False) is True:
        return all(transpose_ready(m, is_neuron) for m in module.children())
    return False

"""The input gradient of a linear stateless layer without running the layer.

On the rate path (``gradients/rate.py``) every stateless layer is linear (affine) and every
spiking layer is the fixed diagonal gain ``h -> g * h``, so the rate network's input
gradient is the transposed chain ``dL/dx = J_1^T g_1 J_2^T g_2 ... dL/dz``: it needs the
layers' weights and the gains, never the rate network's activations. In *transpose-only*
mode a :class:`~spikeattack.models.TimeDistributed` therefore returns zeros of its output
shape in the forward (shapes from the meta device, no arithmetic) and applies the layer's
transpose in the backward, with the ATen kernel autograd's own backward calls
(``convolution_backward`` with only the input gradient, ``mm``, ``avg_pool2d_backward``,
...): the gradient is the one the rate network's real forward and backward give, at the
cost of the backward alone.

Supported: ``Conv1d/2d/3d`` (zero padding, numeric padding), ``Linear``, ``AvgPool2d``,
``AdaptiveAvgPool2d``, eval-mode ``BatchNorm1d/2d`` with running statistics, eval-mode
dropout, ``Identity``, ``Flatten``/``Unflatten`` and ``nn.Sequential`` of these.
:func:`transposable` says whether a module qualifies, :func:`transpose_ready` whether a
whole body does (anything else keeps the real forward).
"""

from __future__ import annotations

import weakref
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_POOLS = (nn.AvgPool2d,)
_BNS = (nn.BatchNorm1d, nn.BatchNorm2d)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_RESHAPES = (nn.Flatten, nn.Unflatten, nn.Identity)


def transposable(module: nn.Module) -> bool:
    """Whether :func:`input_vjp` can transpose ``module`` (as it is configured now)."""
    kind = type(module)
    if kind is nn.Sequential:
        return all(transposable(m) for m in module)
    if kind in _CONVS:
        return module.padding_mode == "zeros" and not isinstance(module.padding, str)
    if kind in _BNS:
        return not module.training and module.running_mean is not None and module.running_var is not None
    if kind in _DROPOUTS:
        return not module.training
    return kind in (nn.Linear, *_POOLS, nn.AdaptiveAvgPool2d, *_RESHAPES)


_SHAPES: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def output_shape(module: nn.Module, in_shape: torch.Size, dtype: torch.dtype) -> torch.Size:
    """``module``'s output shape for an input of ``in_shape`` (run once on the meta device,
    then remembered per module, input shape and dtype)."""
    known = _SHAPES.setdefault(module, {})
    key = (tuple(in_shape), dtype)
    if key not in known:
        meta = {k: torch.empty_like(v, device="meta") for k, v in
                (*module.named_parameters(), *module.named_buffers())}
        known[key] = functional_call(module, meta, (torch.empty(in_shape, dtype=dtype, device="meta"),)).shape
    return known[key]


def _conv(m: nn.Module, in_shape: torch.Size, grad: torch.Tensor) -> torch.Tensor:
    dummy = grad.new_empty(1).expand(in_shape)  # only its shape is read
    dims = m.weight.dim() - 2
    return torch.ops.aten.convolution_backward(
        grad, dummy, m.weight, None, list(m.stride), list(m.padding), list(m.dilation), False,
        [0] * dims, m.groups, [True, False, False])[0]


def _avg_pool(m: nn.Module, in_shape: torch.Size, grad: torch.Tensor) -> torch.Tensor:
    dummy = grad.new_empty(in_shape)  # only its shape is read
    pair = lambda v: list(v) if isinstance(v, tuple) else [v, v]  # noqa: E731
    return torch.ops.aten.avg_pool2d_backward(
        grad, dummy, pair(m.kernel_size), pair(m.stride if m.stride is not None else m.kernel_size),
        pair(m.padding), m.ceil_mode, m.count_include_pad, m.divisor_override)


def _batch_norm(m: nn.Module, in_shape: torch.Size, grad: torch.Tensor) -> torch.Tensor:
    # eval mode: dL/dz = dL/dy * gamma / sqrt(var + eps), broadcast over the channel dim 1
    scale = m.running_var.add(m.eps).rsqrt()
    if m.weight is not None:
        scale = scale * m.weight.detach()
    return grad * scale.view(-1, *([1] * (grad.dim() - 2)))


_VJPS: dict[type, Callable[[nn.Module, torch.Size, torch.Tensor], torch.Tensor]] = {
    **{c: _conv for c in _CONVS},
    **{p: _avg_pool for p in _POOLS},
    **{b: _batch_norm for b in _BNS},
    nn.Linear: lambda m, s, g: g.matmul(m.weight.detach()),
    nn.AdaptiveAvgPool2d: lambda m, s, g: torch.ops.aten._adaptive_avg_pool2d_backward(g, g.new_empty(s)),
    **{d: (lambda m, s, g: g) for d in _DROPOUTS},
    **{r: (lambda m, s, g: g.reshape(s)) for r in _RESHAPES},
}


def input_vjp(module: nn.Module, in_shape: torch.Size, grad: torch.Tensor) -> torch.Tensor:
    """``J^T grad`` for the (linear part of the) layer ``module`` at an input of ``in_shape``."""
    if type(module) is nn.Sequential:
        shapes = [in_shape]
        for m in list(module)[:-1]:
            shapes.append(output_shape(m, shapes[-1], grad.dtype))
        for m, shape in zip(reversed(module), reversed(shapes)):
            grad = input_vjp(m, shape, grad)
        return grad
    return _VJPS[type(module)](module, in_shape, grad.contiguous())


class TransposeOnly(torch.autograd.Function):
    """Forward: zeros of ``module``'s output shape; backward: ``module``'s transpose."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, module: nn.Module) -> torch.Tensor:  # type: ignore[override]
        ctx.module, ctx.in_shape = module, x.shape
        return x.new_zeros(output_shape(module, x.shape, x.dtype))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return input_vjp(ctx.module, ctx.in_shape, grad), None


def transpose_ready(module: nn.Module, is_neuron: Callable[[nn.Module], bool]) -> bool:
    """Whether ``module``'s rate network can run transpose-only: every module in it is a
    spiking neuron (``is_neuron``), a ``TimeDistributed`` of a :func:`transposable` layer, an
    ``Identity``, or a container whose forward combines its children by linear operations
    only: ``nn.Sequential``, or a class that declares ``rate_linear = True`` (e.g. a residual
    block, whose addition is linear). Any other module may compute something nonlinear from
    the activations, which the zeros of the transpose-only forward would get wrong."""
    from .layers import TimeDistributed

    if is_neuron(module):
        return True
    if isinstance(module, TimeDistributed):
        return transposable(module.module)
    if type(module) in (nn.Sequential, nn.Identity) or getattr(type(module), "rate_linear", False) is True:
        return all(transpose_ready(m, is_neuron) for m in module.children())
    return False

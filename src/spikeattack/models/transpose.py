"""The input gradient of a linear stateless layer without running the layer.

On the rate path (``gradients/rate.py``) every stateless layer is linear (affine) and every
spiking layer is the fixed diagonal gain ``h -> g * h``, so the rate network's input
gradient is the transposed chain ``dL/dx = J_1^T g_1 J_2^T g_2 ... dL/dz``: it needs the
layers' weights and the gains, never the rate network's activations. In *transpose-only*
mode a :class:`~spikeattack.models.TimeDistributed` therefore returns zeros of its output
shape in the forward (from each layer's shape rule, no arithmetic) and applies the layer's
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

import math
from typing import Callable

import torch
from torch import nn

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


def _pooled(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling window along one dimension (torch's rule)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:  # the last window must start inside
        out -= 1
    return out


def _tuple(value, dims: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def output_shape(module: nn.Module, in_shape: torch.Size) -> torch.Size:
    """``module``'s output shape for an input of ``in_shape``, by the layer's shape rule (for
    the :func:`transposable` layers; tested against the layers' own outputs)."""
    kind, shape = type(module), tuple(in_shape)
    if kind is nn.Sequential:
        for m in module:
            shape = tuple(output_shape(m, torch.Size(shape)))
        return torch.Size(shape)
    if kind in _CONVS:
        dims = module.weight.dim() - 2
        spatial = (_pooled(n, k, s, p, d) for n, k, s, p, d in zip(
            shape[-dims:], module.kernel_size, module.stride, module.padding, module.dilation))
        return torch.Size((*shape[:-dims - 1], module.out_channels, *spatial))
    if kind is nn.AvgPool2d:
        k, st = _tuple(module.kernel_size, 2), _tuple(module.stride if module.stride else module.kernel_size, 2)
        spatial = (_pooled(n, k_, s_, p_, ceil_mode=module.ceil_mode)
                   for n, k_, s_, p_ in zip(shape[-2:], k, st, _tuple(module.padding, 2)))
        return torch.Size((*shape[:-2], *spatial))
    if kind is nn.AdaptiveAvgPool2d:
        size = _tuple(module.output_size, 2)
        return torch.Size((*shape[:-2], *(n if o is None else o for n, o in zip(shape[-2:], size))))
    if kind is nn.Linear:
        return torch.Size((*shape[:-1], module.out_features))
    if kind is nn.Flatten:
        start, end = module.start_dim % len(shape), module.end_dim % len(shape)
        return torch.Size((*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:]))
    if kind is nn.Unflatten:
        dim = module.dim % len(shape)
        return torch.Size((*shape[:dim], *module.unflattened_size, *shape[dim + 1:]))
    if kind in (*_BNS, *_DROPOUTS, nn.Identity):
        return torch.Size(shape)
    raise ValueError(f"module: no shape rule for {kind.__name__} (not transposable)")


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
            shapes.append(output_shape(m, shapes[-1]))
        for m, shape in zip(reversed(module), reversed(shapes)):
            grad = input_vjp(m, shape, grad)
        return grad
    return _VJPS[type(module)](module, in_shape, grad.contiguous())


class TransposeOnly(torch.autograd.Function):
    """Forward: zeros of ``module``'s output shape; backward: ``module``'s transpose."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, module: nn.Module) -> torch.Tensor:  # type: ignore[override]
        ctx.module, ctx.in_shape = module, x.shape
        return x.new_zeros(output_shape(module, x.shape))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return input_vjp(ctx.module, ctx.in_shape, grad), None

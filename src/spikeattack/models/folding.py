"""Batch-norm folded into the preceding convolution, for eval-mode forwards (attacks).

In eval mode a batch-norm is the per-channel affine map ``y = gamma (z - mu) / sqrt(var + eps)
+ beta``; after a convolution ``z = W * x + b`` it folds into one convolution with

    W' = W * k,    b' = beta + (b - mu) * k,    k = gamma / sqrt(var + eps)  (per output channel)

which saves the batch-norm pass (forward and backward) at every time step. The result is
equal up to float rounding; note that a spiking layer turns a rounding difference at a
membrane that sits exactly on the threshold into a different spike.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and type(bn) is nn.BatchNorm2d and not bn.training
            and bn.running_mean is not None and bn.running_var is not None
            and conv.out_channels == bn.num_features)


def folded_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution equal to ``bn(conv(x))`` in eval mode (parameters without grad)."""
    with torch.no_grad():
        scale = bn.running_var.add(bn.eps).rsqrt()
        if bn.weight is not None:
            scale = scale * bn.weight
        bias = -bn.running_mean * scale if conv.bias is None else (conv.bias - bn.running_mean) * scale
        if bn.bias is not None:
            bias = bias + bn.bias
        out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                        padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                        padding_mode=conv.padding_mode, device=conv.weight.device, dtype=conv.weight.dtype)
        out.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        out.bias.copy_(bias)
    out.requires_grad_(False)
    return out


@contextlib.contextmanager
def fold_batchnorm(model: nn.Module) -> Iterator[int]:
    """Inside the block every ``Conv2d`` directly followed by an eval-mode ``BatchNorm2d`` in
    an ``nn.Sequential`` is replaced by their folded convolution (and an ``Identity``); the
    original modules (the same objects, weights untouched) are put back afterwards, even
    on error. Yields the number of folded pairs (0 in training mode: nothing is folded).
    """
    swaps: list[tuple[nn.Sequential, int, nn.Module, nn.Module]] = []
    try:
        if not model.training:
            for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
                for i in range(len(seq) - 1):
                    conv, bn = seq[i], seq[i + 1]
                    if _foldable(conv, bn):
                        swaps.append((seq, i, conv, bn))
                        seq[i], seq[i + 1] = folded_conv(conv, bn), nn.Identity()
        yield len(swaps)
    finally:
        for seq, i, conv, bn in reversed(swaps):
            seq[i], seq[i + 1] = conv, bn

"""Spiking residual networks: ResNet-19 (Zheng et al. AAAI 2021) and the ResNet-17 of the
RGA (Bu et al. CVPR 2023) and HART (Hao et al. ICLR 2024) tables.

Residual blocks add the shortcut to the membrane input *before* the block's output neuron
(the tdBN ResNet of Zheng et al.), so each block still ends in spikes; SEW-ResNet (Fang et
al. 2021), which adds spikes after the neuron, is a different network. Batch-norm is plain
BN over time and batch merged (``TimeDistributed``), not tdBN's threshold-scaled variant.

Average pooling only: every stateless layer (convolution, batch-norm, average pool,
flatten, linear) and the residual addition are linear (affine) per time step in eval mode,
as the rate-path gradient estimators (CBA, BPTR, RGA, HART) require.

Weighted layers are counted as in the names: 3x3 convolutions plus FC layers; the 1x1
projection shortcuts are not counted.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..layers import conv_bn, td
from ..registry import ArchSpec, register_arch
from .vgg import check_width, scaled


class SpikingBasicBlock(nn.Module):
    """``conv3x3-BN -> neuron -> conv3x3-BN``, plus the shortcut, then a neuron, on ``[T, B, C, H, W]``.

    The shortcut is the identity when shape is kept (``stride == 1`` and equal channels),
    else a 1x1 convolution with ``stride`` and batch-norm. ``neuron`` is the architecture's
    neuron factory (``ArchSpec.neuron``), so the block's spiking layers are ``neuron1`` then
    ``neuron2`` in forward order.
    """

    rate_linear = True  # its forward joins submodules by an addition only (models/transpose.py)

    def __init__(self, in_channels: int, out_channels: int, neuron: Callable[[], nn.Module], *,
                 stride: int = 1) -> None:
        super().__init__()
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"stride: expected an integer >= 1, got {stride!r}")
        self.conv1 = conv_bn(in_channels, out_channels, 3, stride=stride)
        self.neuron1 = neuron()
        self.conv2 = conv_bn(out_channels, out_channels, 3)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = conv_bn(in_channels, out_channels, 1, stride=stride)
        self.neuron2 = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.neuron1(self.conv1(x)))
        return self.neuron2(out + self.shortcut(x))


def _stage(in_channels: int, out_channels: int, blocks: int, stride: int,
           neuron: Callable[[], nn.Module]) -> nn.Sequential:
    """``blocks`` basic blocks; the first changes channels and applies ``stride``."""
    layers = [SpikingBasicBlock(in_channels, out_channels, neuron, stride=stride)]
    layers += [SpikingBasicBlock(out_channels, out_channels, neuron) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _halve(size: int) -> int:
    """Output size of a 3x3 (or 1x1) convolution with stride 2 and 'same' padding."""
    return (size + 1) // 2


@register_arch("resnet19")
def resnet19(spec: ArchSpec, *, width: float = 1.0) -> nn.Module:
    """ResNet-19 of Zheng et al. (AAAI 2021, tdBN; the CIFAR network used by RGA).

    ``conv3x3 128 - BN - neuron``; basic-block stages ``[3, 3, 2]`` with channels
    ``[128, 256, 512]`` and strides ``[1, 2, 2]``; global average pool
    (``AdaptiveAvgPool2d(1)``), flatten, ``256 FC - neuron - classes FC``.

    Weighted layers: 1 stem + 2 x (3 + 3 + 2) = 16 block convolutions + 2 FC = 19.
    Spiking layers: 1 + 16 + 1 = 18.

    The paper's layout; the RGA code's ``ResNet19`` differs in its head (a fixed 2x2 average
    pool to 4x4, ``FC 256 - BatchNorm1d`` without a neuron) and gives every stage's first
    block a 1x1 projection. ``width`` multiplies every channel count and the 256 hidden size.
    """
    width = check_width(width)
    c1, c2, c3 = (scaled(c, width) for c in (128, 256, 512))
    hidden = scaled(256, width)
    return nn.Sequential(
        conv_bn(spec.in_channels, c1, 3), spec.neuron(),
        _stage(c1, c1, 3, 1, spec.neuron),
        _stage(c1, c2, 3, 2, spec.neuron),
        _stage(c2, c3, 2, 2, spec.neuron),
        td(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        td(nn.Linear(c3, hidden)), spec.neuron(),
        td(nn.Linear(hidden, spec.num_classes)),
    )


@register_arch("resnet17")
def resnet17(spec: ArchSpec, *, width: float = 1.0) -> nn.Module:
    """ResNet-17 of the RGA and HART tables, as in their public code (``models/ResNet.py``).

    ``conv3x3 64 - BN - neuron``; basic-block stages ``[3, 4]`` with channels ``[64, 128]``,
    both stride 2 (each stage's first block has a 1x1 projection shortcut); a 2x2 average
    pool; flatten; ``256 FC - BatchNorm1d``; ``classes FC``. As in the reference, no neuron
    sits between the two FC layers (the readout is affine in the last block's spikes).

    Weighted layers: 1 stem + 2 x (3 + 4) = 14 block convolutions + 2 FC = 17.
    Spiking layers: 1 + 14 = 15.

    The flatten size follows ``spec.input_size``: ``ceil(ceil(H/2)/2) // 2`` per side, so
    128 x 4 x 4 on 32x32 (the reference's fixed size), 128 x 6 x 6 on 48x48. ``width``
    multiplies every channel count and the 256 hidden size.
    """
    width = check_width(width)
    c1, c2 = scaled(64, width), scaled(128, width)
    hidden = scaled(256, width)
    height, wide = spec.input_size
    h, w = _halve(_halve(height)) // 2, _halve(_halve(wide)) // 2
    if h < 1 or w < 1:
        raise ValueError(f"input_size: resnet17 needs at least 5x5 pixels, got {height}x{wide}")
    return nn.Sequential(
        conv_bn(spec.in_channels, c1, 3), spec.neuron(),
        _stage(c1, c1, 3, 2, spec.neuron),
        _stage(c1, c2, 4, 2, spec.neuron),
        td(nn.AvgPool2d(2), nn.Flatten()),
        td(nn.Linear(c2 * h * w, hidden), nn.BatchNorm1d(hidden)),
        td(nn.Linear(hidden, spec.num_classes)),
    )

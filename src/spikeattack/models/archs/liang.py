"""The networks of Liang et al. (TNNLS 2021), Table V.

``C3`` is a 3x3 convolution with padding 1, ``AP2`` a 2x2 average pool, ``FC`` a fully
connected layer; every convolution and FC layer is followed by the neuron except the last
FC (the output layer integrates; the model averages it over time). No neuron follows a
pool. The original has no batch-norm; ``batch_norm=True`` adds BN after each convolution
(and drops the convolution bias). ``width`` multiplies every channel and hidden size (at
least 1). The flatten size follows ``spec.input_size`` (the paper's inputs: N-MNIST 34x34x2,
CIFAR10-DVS 42x42x2, MNIST 28x28x1, CIFAR10 32x32x3, DVS Gesture 32x32x2).

Average pooling only: every stateless layer is linear (affine) per time step in eval mode,
as the rate-path gradient estimators (CBA, BPTR, RGA, HART) require.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from ..layers import td
from ..registry import ArchSpec, register_arch
from .vgg import POOL, check_flag, check_width, conv_stack, pooled_size, scaled


def _liang(arch: str, spec: ArchSpec, cfg: Sequence[int | str], hidden: Sequence[int], *,
           batch_norm: bool, width: float) -> nn.Sequential:
    width = check_width(width)
    batch_norm = check_flag("batch_norm", batch_norm)
    h, w = pooled_size(arch, spec, list(cfg).count(POOL))
    layers, channels = conv_stack(cfg, spec.in_channels, spec.neuron, batch_norm=batch_norm, width=width)
    layers.append(td(nn.Flatten()))
    size = channels * h * w
    for units in hidden:
        units = scaled(units, width)
        layers += [td(nn.Linear(size, units)), spec.neuron()]
        size = units
    layers.append(td(nn.Linear(size, spec.num_classes)))
    return nn.Sequential(*layers)


@register_arch("liang_spike")
def liang_spike(spec: ArchSpec, *, width: float = 1.0, batch_norm: bool = False) -> nn.Module:
    """N-MNIST / CIFAR10-DVS: ``128C3 - 128C3 - AP2 - 384C3 - 384C3 - AP2 - 1024FC - 512FC -
    classes FC``. 7 weighted layers, 6 spiking layers."""
    return _liang("liang_spike", spec, (128, 128, POOL, 384, 384, POOL), (1024, 512),
                  batch_norm=batch_norm, width=width)


@register_arch("liang_image")
def liang_image(spec: ArchSpec, *, width: float = 1.0, batch_norm: bool = False) -> nn.Module:
    """MNIST / CIFAR10: ``128C3 - 256C3 - AP2 - 512C3 - AP2 - 1024C3 - 512C3 - 1024FC - 512FC -
    classes FC``. 8 weighted layers, 7 spiking layers."""
    return _liang("liang_image", spec, (128, 256, POOL, 512, POOL, 1024, 512), (1024, 512),
                  batch_norm=batch_norm, width=width)


@register_arch("liang_gesture")
def liang_gesture(spec: ArchSpec, *, width: float = 1.0, batch_norm: bool = False) -> nn.Module:
    """DVS Gesture: ``64C3 - 128C3 - AP2 - 128C3 - AP2 - 256FC - classes FC`` (11 classes in
    the paper). 5 weighted layers, 4 spiking layers."""
    return _liang("liang_gesture", spec, (64, 128, POOL, 128, POOL), (256,),
                  batch_norm=batch_norm, width=width)

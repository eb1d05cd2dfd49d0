"""VGG networks of the attack papers: VGG-11 (Bu et al. CVPR 2023, Hao et al. ICLR 2024),
VGG-9 (Sharmin et al. 2019) and VGG-DVS (the event-frame VGG of the RGA/HART code).

Average pooling only, never max-pooling: every stateless layer (convolution, batch-norm,
average pool, flatten, linear, dropout) is linear (affine) per time step once the model is
in eval mode. The rate-path gradient estimators (CBA, BPTR, RGA, HART) need this: their
backward is that of the rate network ``r^l = g^l * (W^l r^{l-1})``, which exists only when
``W^l`` is the same linear map at every step and for every input; a max-pool would route
the gradient by which spike train won, which rates cannot tell.

The helpers here (``check_width``, ``scaled``, ``pooled_size``, ``conv_stack``) are shared
by the other architecture modules.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from torch import nn

from ..layers import conv_bn, td
from ..registry import ArchSpec, register_arch

POOL = "A"  # a 2x2 average pool in a layer configuration


# ---------------------------------------------------------------------- shared helpers
def check_width(width: float) -> float:
    """Validate a channel-width multiplier (``arch_options`` ``width``)."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not math.isfinite(width) or width <= 0:
        raise ValueError(f"width: expected a finite number > 0, got {width!r}")
    return float(width)


def check_flag(name: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return value


def check_dropout(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: expected a probability in [0, 1), got {p!r}")
    return float(p)


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1."""
    return max(1, int(round(channels * width)))


def pooled_size(arch: str, spec: ArchSpec, pools: int) -> tuple[int, int]:
    """Spatial size after ``pools`` 2x2 average pools (floor), from ``spec.input_size``;
    a ``ValueError`` naming ``input_size`` when the input is too small for them."""
    height, width = spec.input_size
    h, w = height >> pools, width >> pools
    if h < 1 or w < 1:
        raise ValueError(
            f"input_size: {arch} halves the input {pools} times and needs at least "
            f"{1 << pools}x{1 << pools} pixels, got {height}x{width}"
        )
    return h, w


def conv_stack(cfg: Sequence[int | str], in_channels: int, neuron: Callable[[], nn.Module], *,
               kernel_size: int = 3, batch_norm: bool = True, width: float = 1.0,
               pool_neuron: bool = False, dropout: float | None = None) -> tuple[list[nn.Module], int]:
    """Layers of a VGG-style configuration and the number of channels it ends with.

    An integer ``c`` is ``conv(k x k, 'same' padding) -> (batch-norm) -> neuron`` with
    ``scaled(c, width)`` output channels (then ``dropout`` when given); ``"A"`` is a 2x2
    average pool, followed by a neuron when ``pool_neuron``.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for item in cfg:
        if item == POOL:
            layers.append(td(nn.AvgPool2d(2)))
            if pool_neuron:
                layers.append(neuron())
            continue
        out = scaled(int(item), width)
        layers += [conv_bn(channels, out, kernel_size, batch_norm=batch_norm), neuron()]
        if dropout is not None:
            layers.append(td(nn.Dropout(dropout)))
        channels = out
    return layers, channels


# ---------------------------------------------------------------------- VGG-11
VGG11_LAYOUTS: dict[str, tuple[int | str, ...]] = {
    # models/VGG.py 'vgg11' of the RGA (putshua/SNN_attack_RGA) and HART (hzc1208/HART_Attack) code
    "rga": (64, POOL, 128, 256, POOL, 512, 512, 512, POOL, 512, 512),
    # Simonyan & Zisserman configuration "A"
    "standard": (64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL),
}


@register_arch("vgg11")
def vgg11(spec: ArchSpec, *, width: float = 1.0, dropout: float = 0.0, layout: str = "rga") -> nn.Module:
    """VGG-11 with batch-norm: 8 convolutions (3x3, conv-BN-neuron) and 3 FC layers,
    ``flatten - 4096 FC - neuron - dropout - 4096 FC - neuron - dropout - classes FC``.

    11 weighted layers, 10 spiking layers.

    ``layout="rga"`` (default) is the VGG-11 the RGA and HART tables were measured on (their
    public code, ``models/VGG.py``): ``64 - AP2 - 128 - 256 - AP2 - 512 - 512 - 512 - AP2 -
    512 - 512``, three pools, so a 32x32 input flattens 512x4x4 = 8192 features into the
    first FC. ``layout="standard"`` is Simonyan & Zisserman's configuration A, ``64 - AP2 -
    128 - AP2 - 256 - 256 - AP2 - 512 - 512 - AP2 - 512 - 512 - AP2`` (five pools, 512x1x1
    on 32x32; needs inputs of at least 32 px). The flatten size follows ``spec.input_size``.

    ``width`` multiplies every convolution's channels and the 4096 hidden size (at least 1);
    ``dropout`` (default 0, as in the reference code) follows each hidden FC neuron.
    Convolutions carry no bias (batch-norm follows); the reference code has one, which the
    batch-norm shift makes redundant.
    """
    width = check_width(width)
    dropout = check_dropout(dropout)
    if layout not in VGG11_LAYOUTS:
        raise ValueError(f"layout: expected one of {tuple(VGG11_LAYOUTS)}, got {layout!r}")
    cfg = VGG11_LAYOUTS[layout]
    h, w = pooled_size("vgg11", spec, cfg.count(POOL))
    features, channels = conv_stack(cfg, spec.in_channels, spec.neuron, width=width)
    hidden = scaled(4096, width)
    return nn.Sequential(
        *features,
        td(nn.Flatten()),
        td(nn.Linear(channels * h * w, hidden)), spec.neuron(), td(nn.Dropout(dropout)),
        td(nn.Linear(hidden, hidden)), spec.neuron(), td(nn.Dropout(dropout)),
        td(nn.Linear(hidden, spec.num_classes)),
    )


# ---------------------------------------------------------------------- VGG-9
VGG9_CFG: tuple[int | str, ...] = (64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL)


@register_arch("vgg9")
def vgg9(spec: ArchSpec, *, width: float = 1.0, batch_norm: bool = False, pool_neuron: bool = True,
         dropout: float = 0.0) -> nn.Module:
    """Sharmin et al. (2019) VGG-9: ``64c5 - 64c5 - 2s - 128c5 - 128c5 - 2s - 256c5 - 256c5 -
    256c5 - 2s - 1024fc - classes``; 5x5 convolutions ('same' padding), 2x2 average
    sub-sampling. 9 weighted layers.

    The paper: "each of the convolutional, sub-sampling and fully connected layers are
    followed by LIF neurons (ReLU activations)", so by default (``pool_neuron=True``) a neuron
    follows every sub-sampling layer too (as in the conversion networks of Sengupta et al.
    2019 that it builds on): 7 + 3 + 1 = 11 spiking layers; ``pool_neuron=False`` gives 8. In
    the ANN twin a ReLU after an average of ReLU outputs is the identity.

    ``batch_norm`` (default False: the original is a conversion-friendly net without BN)
    adds BN after each convolution and drops the convolution bias. ``dropout`` follows every
    convolution and hidden-FC neuron; the paper trained with 0.2, the default is 0 (it only
    matters for training). ``width`` multiplies all channels and the 1024 hidden size.
    """
    width = check_width(width)
    batch_norm = check_flag("batch_norm", batch_norm)
    pool_neuron = check_flag("pool_neuron", pool_neuron)
    dropout = check_dropout(dropout)
    h, w = pooled_size("vgg9", spec, VGG9_CFG.count(POOL))
    features, channels = conv_stack(VGG9_CFG, spec.in_channels, spec.neuron, kernel_size=5,
                                    batch_norm=batch_norm, width=width, pool_neuron=pool_neuron,
                                    dropout=dropout)
    hidden = scaled(1024, width)
    return nn.Sequential(
        *features,
        td(nn.Flatten()),
        td(nn.Linear(channels * h * w, hidden)), spec.neuron(), td(nn.Dropout(dropout)),
        td(nn.Linear(hidden, spec.num_classes)),
    )


# ---------------------------------------------------------------------- VGG-DVS
VGG_DVS_CFG: tuple[int | str, ...] = (64, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL)


@register_arch("vgg_dvs")
def vgg_dvs(spec: ArchSpec, *, width: float = 1.0, global_pool: bool = False) -> nn.Module:
    """VGG for event frames (CIFAR10-DVS in the RGA and HART tables; ``VGGDVS('vggdvs')`` of
    their code): ``64 - 128 - AP2 - 256 - 256 - AP2 - 512 - 512 - AP2 - 512 - 512 - AP2``
    (3x3 conv-BN-neuron), flatten, ``classes FC``. 9 weighted layers, 8 spiking layers.

    As in the reference, the readout sees the whole 512 x h x w map (h, w = input / 16,
    e.g. 3x3 on the 48x48 frames of the reference, 2x2 on 34x34 or 42x42);
    ``global_pool=True`` averages it to 1x1 first (``AdaptiveAvgPool2d(1)``, a 512-input
    readout for any input size). Input channels come from ``spec.in_channels`` (2 for
    polarity frames). ``width`` multiplies every convolution's channels.
    """
    width = check_width(width)
    global_pool = check_flag("global_pool", global_pool)
    h, w = pooled_size("vgg_dvs", spec, VGG_DVS_CFG.count(POOL))
    features, channels = conv_stack(VGG_DVS_CFG, spec.in_channels, spec.neuron, width=width)
    head: list[nn.Module] = [td(nn.AdaptiveAvgPool2d(1))] if global_pool else []
    flat = channels if global_pool else channels * h * w
    return nn.Sequential(
        *features,
        *head,
        td(nn.Flatten()),
        td(nn.Linear(flat, spec.num_classes)),
    )

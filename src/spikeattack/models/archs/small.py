"""Small networks for the embedded data (8x8 digits, 28x28 grey images) and for tests."""

from __future__ import annotations

from torch import nn

from ..layers import conv_bn, td
from ..registry import ArchSpec, register_arch


@register_arch("small_cnn")
def small_cnn(spec: ArchSpec, *, channels: tuple[int, int] = (32, 64), hidden: int = 128,
              width: float = 1.0) -> nn.Module:
    """``c1 C3 - c2 C3 - AP2 - hidden FC - classes FC`` with batch-norm.

    ``width`` multiplies both convolution widths (``--width 0.5``: 16 and 32 channels).

    Inputs larger than 16 px are downsampled early (stride-2 first convolution and an
    extra 2x2 average pool), so 28x28 images cost about as much as 8x8 ones per pixel
    row: ``28 -> 14 -> 7`` and ``8 -> 8 -> 4``.
    """
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"width: expected a number > 0, got {width!r}")
    c1, c2 = (max(1, round(c * width)) for c in channels)
    height, width = spec.input_size
    big = min(height, width) > 16
    stride = 2 if big else 1
    h, w = (height + 1) // 2 if big else height, (width + 1) // 2 if big else width
    h, w = h // 2, w // 2
    return nn.Sequential(
        conv_bn(spec.in_channels, c1, 3, stride=stride), spec.neuron(),
        conv_bn(c1, c2, 3), spec.neuron(),
        td(nn.AvgPool2d(2), nn.Flatten()),
        td(nn.Linear(c2 * h * w, hidden)), spec.neuron(),
        td(nn.Linear(hidden, spec.num_classes)),
    )


@register_arch("mlp")
def mlp(spec: ArchSpec, *, hidden: tuple[int, ...] = (64,)) -> nn.Module:
    """Fully connected ``input - hidden... - classes``; tiny nets for gradient tests."""
    layers: list[nn.Module] = [td(nn.Flatten())]
    width = spec.in_channels * spec.input_size[0] * spec.input_size[1]
    for size in hidden:
        layers += [td(nn.Linear(width, size)), spec.neuron()]
        width = size
    layers.append(td(nn.Linear(width, spec.num_classes)))
    return nn.Sequential(*layers)

"""Projections onto the perturbation ball and the [0, 1] image box."""

from __future__ import annotations

import math
from typing import Any

import torch

from .._checks import check_number

NORMS = ("linf", "l2")


def check_norm(norm: str) -> str:
    """``norm`` if it is a supported threat model, else a ``ValueError`` naming ``norm``."""
    if norm not in NORMS:
        raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
    return norm


def check_budget(name: str, value: Any, norm: str, model: Any, *, positive: bool = False) -> float:
    """A budget or step ``value`` in pixel units: finite, >= 0 (> 0 with ``positive``) and no
    larger than the diameter of the [0, 1] input box in ``norm`` (1 for Linf, sqrt(C*H*W) for
    L2), beyond which every value means the whole box (and ``1e308`` would overflow float32)."""
    value = check_number(name, value, low=0, low_open=positive)
    diameter = 1.0 if norm == "linf" else math.sqrt(math.prod(model.input_shape))
    if value > diameter:
        raise ValueError(f"{name}: expected a value in [0, {diameter:g}] for {norm} (pixels lie in [0, 1], so a "
                         f"larger one is the whole input box), got {value:g}")
    return value


def _flat_norm(delta: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm, shaped to broadcast against ``delta``."""
    norms = delta.flatten(1).norm(p=2, dim=1)
    return norms.view(-1, *([1] * (delta.dim() - 1)))


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project ``x_adv`` onto the ``norm``-ball of radius ``eps`` around ``x``, then onto [0, 1].

    For L2 the box clip can only shrink the perturbation, so the result stays in the ball.
    """
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    elif norm == "l2":
        delta = delta * (eps / _flat_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
    else:
        raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
    return (x + delta).clamp(0.0, 1.0)


def normalized_step(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest-ascent direction of unit ``norm``: ``sign(g)`` for Linf, ``g / ||g||_2`` for L2."""
    if norm == "linf":
        return grad.sign()
    if norm == "l2":
        return grad / _flat_norm(grad).clamp_min(1e-12)
    raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")


def random_in_ball(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """A uniform random point of the ``norm``-ball around ``x`` (clipped to [0, 1])."""
    if norm == "linf":
        delta = (torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1) * eps
    elif norm == "l2":
        direction = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        direction = direction / _flat_norm(direction).clamp_min(1e-12)
        dims = x[0].numel()
        radius = torch.rand((x.shape[0],), generator=generator, dtype=x.dtype) ** (1.0 / dims) * eps
        delta = direction * radius.view(-1, *([1] * (x.dim() - 1)))
    else:
        raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
    return (x + delta.to(x.device)).clamp(0.0, 1.0)

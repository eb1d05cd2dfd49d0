"""Surrogate derivatives of the Heaviside spike function.

A surrogate is a small object with a width/shape parameter; ``derivative(u)`` is the
value of d s / d u used in the backward pass, where ``u = m - threshold`` is the
membrane potential relative to the threshold. ``spike(u, surrogate)`` is the spike
function itself: Heaviside ``u >= 0`` forward, the surrogate derivative backward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from .._declare import keep_declaration_honest
from .._registry import Registry

#: dtypes whose arithmetic with a Python scalar rounds the scalar to the dtype first, so that a
#: 0-d tensor of the dtype may stand in for the scalar without changing a bit
EXACT_SCALAR_DTYPES = (torch.float32, torch.float64)


@dataclass(frozen=True)
class Surrogate:
    """Base class; ``width`` is the shape parameter (support or sharpness)."""

    width: float = 1.0
    name = "base"
    #: whether :meth:`at_step` returns the surrogate itself at every step (the fused LIF path
    #: then applies); a subclass overriding ``at_step`` without declaring this is not
    time_invariant: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        keep_declaration_honest(cls, "time_invariant", ("at_step",), False)

    def __post_init__(self) -> None:
        if not (isinstance(self.width, (int, float)) and math.isfinite(self.width) and self.width > 0):
            raise ValueError(f"surrogate width: expected a finite number > 0, got {self.width!r}")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_config(self) -> dict:
        return {"name": self.name, "width": float(self.width)}

    def at_step(self, u: torch.Tensor, t: int) -> "Surrogate":
        """The surrogate to use at time step ``t`` for membrane ``u`` (relative to threshold).

        Fixed surrogates return themselves; an adaptive one (ASSG, in ``gradients``) may
        update its statistics from ``u`` and return a surrogate shaped for this step.
        """
        return self


@dataclass(frozen=True)
class Rectangular(Surrogate):
    """Rectangular window: ``1/a`` on ``|u| <= a/2``, else 0 (``a = width``).

    The default of STBP (Wu et al. 2018) and of Liang et al. (TNNLS 2021, eq. 3),
    whose Table VI uses ``a = 0.5`` for spike inputs and ``a = 1`` for images.
    """

    name = "rectangular"

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        a = self.width
        inside = torch.le(u.abs(), a / 2, out=torch.empty_like(u))  # float output: cheaper than a bool cast
        return inside.div_(a)


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangle of half-width ``gamma``: ``max(gamma - |u|, 0) / gamma**2``.

    The surrogate of HART (Hao et al., ICLR 2024); integrates to 1.
    """

    name = "triangle"

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        g = self.width
        return (g - u.abs()).clamp_min(0) / (g * g)

    def accumulate(self, total: torch.Tensor | None, abs_u: torch.Tensor, work: torch.Tensor) -> torch.Tensor:
        """``total + derivative(u)`` in place in ``total`` (``derivative(u)`` when it is None) from
        ``abs_u = |u|``, with ``work`` as scratch: bitwise the same sum in three passes
        (``g - |u|``, the clamp, and the division fused with the addition) and no temporaries.
        Only on CPU in float32/float64; elsewhere the plain sum runs (float16/bfloat16 take ``g``
        at float32 precision, which a 0-d tensor of their dtype would round; CUDA divides by a
        Python scalar as a multiplication by its reciprocal, by a tensor truly)."""
        g = self.width
        if abs_u.dtype not in EXACT_SCALAR_DTYPES or abs_u.device.type != "cpu":
            d = self.derivative(abs_u)  # a function of |u|
            return d if total is None else total.add_(d)
        w = torch.sub(abs_u.new_full((), g), abs_u, out=work).clamp_min_(0)
        g2 = abs_u.new_full((), g * g)
        return torch.div(w, g2) if total is None else total.addcdiv_(w, g2)


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Derivative of ``sigmoid(alpha * u)``: ``alpha * s * (1 - s)``, ``alpha = width``."""

    name = "sigmoid"
    width: float = 4.0

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.width * u)
        return self.width * s * (1 - s)


@dataclass(frozen=True)
class ArcTan(Surrogate):
    """Derivative of ``atan(pi/2 * alpha * u) / pi + 1/2``: ``alpha / 2 / (1 + (pi/2 alpha u)^2)``."""

    name = "arctan"
    width: float = 2.0

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        a = self.width
        return (a / 2) / (1 + (math.pi / 2 * a * u) ** 2)


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """Derivative of the fast sigmoid ``u / (1 + k|u|)``: ``1 / (1 + k|u|)^2``, ``k = width``.

    SuperSpike's surrogate (Zenke & Ganguli 2018), snnTorch's ``fast_sigmoid(slope=k)``.
    """

    name = "fast_sigmoid"
    width: float = 25.0

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return 1.0 / (self.width * u.abs() + 1.0) ** 2


SURROGATES: Registry[type[Surrogate]] = Registry("surrogate")
for _cls in (Rectangular, Triangle, Sigmoid, ArcTan, FastSigmoid):
    SURROGATES.register(_cls.name)(_cls)


def make_surrogate(name: str, width: float | None = None) -> Surrogate:
    """Build a surrogate by name (``rectangular``, ``triangle``, ``sigmoid``, ``arctan``, ``fast_sigmoid``)."""
    return SURROGATES.make(name) if width is None else SURROGATES.make(name, width=float(width))


def _heaviside(u: torch.Tensor, strict: bool) -> torch.Tensor:
    return ((u > 0) if strict else (u >= 0)).to(u.dtype)


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: torch.Tensor, surrogate: Surrogate, strict: bool) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(u)
        ctx.surrogate = surrogate
        return _heaviside(u, strict)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.derivative(u), None, None


def spike(u: torch.Tensor, surrogate: Surrogate, strict: bool = False) -> torch.Tensor:
    """Heaviside ``u >= 0`` (``u > 0`` when ``strict``, snnTorch's rule) with
    ``surrogate.derivative(u)`` as its gradient."""
    if not torch.is_grad_enabled() or not u.requires_grad:
        return _heaviside(u, strict)
    return _SpikeFunction.apply(u, surrogate, strict)

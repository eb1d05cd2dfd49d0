"""Gradient estimators: how the backward pass of a spiking model is formed.

``make_estimator("rga", gamma=0.2)(model, x)`` -> logits with RGA's gradient.
"""

from __future__ import annotations

from typing import Any

from .assg import ASSG
from .base import GradientEstimator
from .bptr import BPTR
from .cba import CBA
from .hart import HART
from .mdse import MDSE
from .pdsg import PDSG
from .rate import RatePathEstimator, run_rate_network
from .rga import RGA, rga_gain
from .shared import InputGradient, SharedForward, active_shared_forward, input_gradients, predict, shared_forward
from .stbp import STBP

ESTIMATORS: dict[str, type[GradientEstimator]] = {cls.name: cls for cls in (STBP, BPTR, RGA, HART, CBA, ASSG, MDSE, PDSG)}
RATE_PATH = ("bptr", "rga", "hart", "cba")


def make_estimator(grad: str | GradientEstimator | None = None, **params: Any) -> GradientEstimator:
    """An estimator from its name (``stbp``, ``bptr``, ``rga``, ``hart``, ``cba``, ``assg``, ``mdse``, ``pdsg``) and parameters.

    ``None`` means ``stbp`` (exact autograd; for an ANN target every name gives the exact gradient).
    """
    if isinstance(grad, GradientEstimator):
        if params:
            raise ValueError("grad: parameters cannot be given with an estimator object")
        return grad
    name = "stbp" if grad is None else grad
    if name not in ESTIMATORS:
        raise ValueError(f"grad: unknown estimator {name!r}; expected one of {', '.join(ESTIMATORS)}")
    try:
        return ESTIMATORS[name](**params)
    except TypeError as exc:
        raise ValueError(f"grad: bad parameters for {name}: {exc}") from exc


__all__ = ["ASSG", "MDSE", "PDSG", "GradientEstimator", "BPTR", "CBA", "HART", "RGA", "STBP", "RatePathEstimator", "ESTIMATORS",
           "RATE_PATH", "make_estimator", "rga_gain", "run_rate_network",
           "InputGradient", "SharedForward", "active_shared_forward", "input_gradients", "predict", "shared_forward"]

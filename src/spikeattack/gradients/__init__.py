"""Gradient estimators: how the backward pass of a spiking model is formed.

``make_estimator("rga", gamma=0.2)(model, x)`` -> logits with RGA's gradient. One estimator
per module: ``stbp`` (exact BPTT with a surrogate), the rate path (``bptr``, ``rga``,
``hart``, ``cba``; :mod:`.rate`), ``assg`` (adaptive sharpness), ``mdse`` (a learned mixture),
``pdsg`` (a surrogate shaped by the membrane potential's spread).
"""

from __future__ import annotations

from .assg import ASSG
from .base import GradientEstimator
from .bptr import BPTR
from .cba import CBA
from .hart import HART
from .mdse import MDSE
from .pdsg import PDSG
from .rate import RatePathEstimator, run_rate_network
from .registry import ESTIMATORS, RATE_PATH, make_estimator
from .rga import RGA, rga_gain
from .shared import InputGradient, SharedForward, active_shared_forward, input_gradients, predict, shared_forward
from .stbp import STBP

__all__ = ["ASSG", "MDSE", "PDSG", "GradientEstimator", "BPTR", "CBA", "HART", "RGA", "STBP", "RatePathEstimator", "ESTIMATORS",
           "RATE_PATH", "make_estimator", "rga_gain", "run_rate_network",
           "InputGradient", "SharedForward", "active_shared_forward", "input_gradients", "predict", "shared_forward"]

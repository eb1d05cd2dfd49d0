"""The estimators by name: ``make_estimator("rga", gamma=0.2)``."""

from __future__ import annotations

from typing import Any, Sequence

from .._registry import Registry
from .assg import ASSG
from .base import GradientEstimator
from .bptr import BPTR
from .cba import CBA
from .hart import HART
from .mdse import MDSE
from .pdsg import PDSG
from .rga import RGA
from .stbp import STBP

ESTIMATORS: Registry[type[GradientEstimator]] = Registry("grad")
for _cls in (STBP, BPTR, RGA, HART, CBA, ASSG, MDSE, PDSG):
    ESTIMATORS.register(_cls.name)(_cls)
RATE_PATH = ("bptr", "rga", "hart", "cba")


def make_estimator(grad: str | GradientEstimator | None = None, **params: Any) -> GradientEstimator:
    """An estimator from its name (``stbp``, ``bptr``, ``rga``, ``hart``, ``cba``, ``assg``,
    ``mdse``, ``pdsg``) and parameters.

    ``None`` means ``stbp`` (exact autograd; for an ANN target every name gives the exact gradient).
    MDSE's ``members`` may be names or estimator objects.
    """
    if isinstance(grad, GradientEstimator):
        if params:
            raise ValueError("grad: parameters cannot be given with an estimator object")
        return grad
    name = ESTIMATORS.canonical("stbp" if grad is None else grad)
    if name == "mdse" and "members" in params:
        params["members"] = _members(params["members"])
    return ESTIMATORS.make(name, **params)


def _members(members: Any) -> list[GradientEstimator]:
    if isinstance(members, str) or not isinstance(members, Sequence):
        raise ValueError(f"members: expected a list of estimator names or objects, got {members!r}")
    return [make_estimator(m) for m in members]

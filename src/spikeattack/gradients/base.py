"""Gradient estimators: one spiking forward, several backwards.

Every published SNN attack runs the same spiking forward and differs only in how the
input gradient is formed. An estimator is a *mode of the model*, not another model:
``estimator(model, x)`` returns logits whose autograd graph carries that estimator's
gradient. Attacks call it instead of ``model(x)``.

Two families ("one forward, several backwards"):

- ``stbp``: exact backpropagation through time with a surrogate spike derivative;
- rate-path estimators (``bptr``, ``rga``, ``hart``, ``cba``): the gradient flows through
  per-neuron rates only. Each spiking layer contributes a diagonal gain ``g`` and the
  backward is that of the *rate network* ``r^l = g^l * (W^l r^{l-1})`` run once on
  ``[B, ...]`` tensors, so backward time and memory do not grow with T.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from ..models import SpikingModel


class GradientEstimator(ABC):
    """Base class. Subclasses set ``name`` and implement :meth:`forward`."""

    name: ClassVar[str] = "base"
    #: whether the estimator keeps state across the iterations of one attack (ASSG, MDSE):
    #: attacks :meth:`reset` it at every call, and a shared forward never serves it.
    stateful: ClassVar[bool] = False

    def __call__(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(model, SpikingModel):
            raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
        if not model.is_spiking:
            return model(x)  # an ANN has one exact gradient
        return self.forward(model, x)

    @abstractmethod
    def forward(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, classes]`` of the spiking ``model`` with this estimator's gradient."""

    def reset(self) -> None:
        """Forget state kept across the iterations of one attack (adaptive estimators: ASSG,
        MDSE). Attacks call it at the start of every run; stateless estimators ignore it."""

    def describe(self) -> dict:
        """JSON-able name and hyper-parameters (stored with every result)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.describe().items() if k != "name")
        return f"{type(self).__name__}({params})"

"""STBP: exact backpropagation through time (Wu et al. 2018), the white-box baseline of
Bu et al. (CVPR 2023, Sec. 3.2) and Hao et al. (ICLR 2024).

The gradient is autograd through the unrolled membrane dynamics, with the spike's
derivative replaced by a surrogate. By default the model's own surrogate (the one it
was trained with) is used; ``surrogate``/``width`` select another family or width for
the attack only (restored afterwards, even on error).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ..models import SpikingModel
from ..neurons import make_surrogate
from .base import GradientEstimator


class STBP(GradientEstimator):
    name = "stbp"

    def __init__(self, surrogate: str | None = None, width: float | None = None) -> None:
        if surrogate is None and width is not None:
            raise ValueError("surrogate: give a surrogate name together with width")
        self.surrogate = None if surrogate is None else make_surrogate(surrogate, width)

    def forward(self, model: SpikingModel, x: torch.Tensor) -> torch.Tensor:
        with self.surrogate_override(model):
            return model(x)

    @contextlib.contextmanager
    def surrogate_override(self, model: SpikingModel) -> Iterator[None]:
        """The attack's surrogate on every spiking layer inside the block (if one was chosen)."""
        if self.surrogate is None:
            yield
            return
        neurons = model.spiking_neurons()
        saved = [n.surrogate for n in neurons]
        for n in neurons:
            n.surrogate = self.surrogate
        try:
            yield
        finally:
            for n, s in zip(neurons, saved):
                n.surrogate = s

    def describe(self) -> dict:
        return {"name": self.name, **({} if self.surrogate is None else {"surrogate": self.surrogate.to_config()})}

"""Choosing an estimator's width on held-out data (never on the test set).

Hao et al. (ICLR 2024) tune HART's ``gamma`` per model and report that the attack success
rate is unimodal in it; the public code picked it on the test set it then reported. Here
the search runs on a held-out slice of the *training* set (``ImageDataset.validation_split``),
and RGA's ``gamma``/``beta`` or STBP's surrogate width get the same chance. (It lives below
``bench`` because the standard evaluation tunes HART with it.)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..attacks import Attack, make_attack
from ..data import ImageDataset, iterate_batches
from ..gradients import make_estimator, shared_forward
from ..models import SpikingModel


@dataclass
class TuneResult:
    grad: str
    param: str
    best: float
    scores: dict[float, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"grad": self.grad, "param": self.param, "best": self.best,
                "scores": {str(k): v for k, v in self.scores.items()}}


def attack_success_rate(model: SpikingModel, x: torch.Tensor, y: torch.Tensor,
                        factory: Callable[[SpikingModel], Attack], *, seed: int = 0, batch_size: int = 128) -> float:
    """ASR of ``factory(model)`` on ``(x, y)``: over the inputs classified correctly, the share
    fooled (0 when none is correct). Stochastic encoders are reseeded from ``seed`` first."""
    reseed = getattr(model.encoder, "reseed", None)
    if reseed is not None:
        reseed(seed)
    attack = factory(model)
    correct = fooled = 0
    was_training = model.training
    model.eval()
    try:
        for xb, yb in iterate_batches(x, y, batch_size, shuffle=False):
            with torch.no_grad():
                ok = model(xb).argmax(-1) == yb
            if not ok.any():
                continue
            x_adv = attack(xb[ok], yb[ok])
            with torch.no_grad():
                fooled += int((model(x_adv).argmax(-1) != yb[ok]).sum())
            correct += int(ok.sum())
    finally:
        model.train(was_training)
    return fooled / correct if correct else 0.0


def tune_estimator(
    model: SpikingModel,
    data: ImageDataset,
    grad: str = "hart",
    param: str = "gamma",
    values: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
    *,
    attack: str = "fgsm",
    attack_params: dict[str, Any] | None = None,
    n: int = 200,
    fraction: float = 0.1,
    seed: int = 0,
    fixed: dict[str, Any] | None = None,
) -> TuneResult:
    """Grid search of estimator parameter ``param`` by the ASR of ``attack`` on held-out training data.

    ``fixed`` holds the estimator's other parameters (for ``stbp``: ``{"surrogate": "triangle"}``
    with ``param="width"``). Ties go to the smaller value (more temporal, for HART).
    """
    if not values:
        raise ValueError("values: expected at least one candidate")
    held_out = data.validation_split(fraction, seed=seed)
    x, y = held_out.split("test")
    x, y = x[:n], y[:n]
    params = {"eps": 8 / 255} | dict(attack_params or {})
    scores: dict[float, float] = {}
    candidates = sorted(float(v) for v in values)
    estimators = {str(v): make_estimator(grad, **(dict(fixed or {}) | {param: v})) for v in candidates}
    sharing = shared_forward(estimators) if model.is_spiking and len(candidates) > 1 else contextlib.nullcontext()
    with sharing:  # the candidates share each batch's (first) spiking forward
        for value in candidates:
            grad_params = dict(fixed or {}) | {param: value}
            scores[value] = attack_success_rate(
                model, x, y, lambda m: make_attack(attack, m, grad=grad, grad_params=grad_params, seed=seed, **params),
                seed=seed)
    best = max(scores, key=lambda v: (scores[v], -v))
    return TuneResult(grad=grad, param=param, best=best, scores=scores)

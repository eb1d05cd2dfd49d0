"""The standard evaluation: one fixed, parameter-free cascade of attacks x estimators and the
per-input worst case over all of it (AutoAttack's rule, Croce & Hein 2020).

An input counts as robust only if the model classifies it correctly clean *and* after
every stage below; each stage attacks only the inputs still robust, so its cost falls
as the robust set shrinks. Stages, in order (``E`` = the gradient estimators ``stbp`` with
the model's own surrogate, ``bptr``, ``rga``, ``hart`` with ``gamma`` tuned on a held-out
slice of the training set, ``cba``; an ANN has one exact gradient, ``E = [exact]``):

1. APGD-CE with each estimator in ``E``, then APGD-DLR-targeted (Croce & Hein's APGD-T:
   DLR loss, the ``targets`` most likely other classes of the clean input, one run each)
   with each estimator in ``E``;
2. SA-PGD with the ASSG surrogate (Wang et al. 2025);
3. APGD-CE with the MDSE mixture of the estimators in ``E`` (Xu et al.);
4. Square (score-based, gradient-free): the check against masked gradients.

Budgets per version (iterations are per run; CPU-sized, fixed, documented in the README):

============  =======  ========  =======  ====  ======  ======  ====
version       APGD     restarts  targets  SA-PGD (restarts)  MDSE  Square  EOT
============  =======  ========  =======  ====  ======  ======  ====
standard      25       1         3        50    (1)     25      500     1
plus          50       2         9        100   (2)     50      2000    1
rand          25       1         3        50    (1)     25      500     4
============  =======  ========  =======  ====  ======  ======  ====

``rand`` averages every gradient (and Square's margin) over 4 samplings (EOT) for
stochastic, e.g. Poisson-coded, models. An input is broken when the model's own prediction
on the adversarial example is wrong (one seeded forward). Each input's record names the
first stage (attack, estimator) that broke it; with ``cascade=False`` every stage attacks
every clean-correct input (to measure what the cascade saves, and each stage's own robust
accuracy), and records list every stage that broke the input.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import torch

from .._checks import check_choice, check_number
from ..attacks import Attack, make_attack
from ..attacks.projection import check_norm
from ..data import ImageDataset
from ..gradients import MDSE, make_estimator
from ..models import SpikingModel, evaluating
from ..results.robust import robust_mask
from ..results.statistics import clopper_pearson
from .evaluate import evaluate
from .tune import tune_estimator

VERSIONS = ("standard", "plus", "rand")
BUDGETS: dict[str, dict[str, int]] = {
    "standard": {"apgd_steps": 25, "restarts": 1, "targets": 3, "sapgd_steps": 50, "sapgd_restarts": 1,
                 "mdse_steps": 25, "square_queries": 500, "eot": 1},
    "plus": {"apgd_steps": 50, "restarts": 2, "targets": 9, "sapgd_steps": 100, "sapgd_restarts": 2,
             "mdse_steps": 50, "square_queries": 2000, "eot": 1},
    "rand": {"apgd_steps": 25, "restarts": 1, "targets": 3, "sapgd_steps": 50, "sapgd_restarts": 1,
             "mdse_steps": 25, "square_queries": 500, "eot": 4},
}
ESTIMATORS = ("stbp", "bptr", "rga", "hart", "cba")
HART_GAMMAS = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass
class StageResult:
    """One stage of the cascade: what ran, on how many inputs, what it broke, how long it took."""

    attack: str
    estimator: str
    attacked: int
    broken: int
    new: int
    seconds: float
    robust_accuracy_after: float
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class InputRecord:
    """Per input: the clean outcome and which stage(s) broke it (indices into ``stages``)."""

    index: int
    label: int
    clean_pred: int
    robust: bool
    broken_by: list[int] = field(default_factory=list)
    attack: str | None = None
    estimator: str | None = None
    adv_pred: int | None = None
    linf: float = 0.0
    l2: float = 0.0


@dataclass
class StandardEvaluation:
    """What :func:`standard_evaluation` returns (and ``spikeattack evaluate --json`` prints).

    ``adversarial`` holds, per input, the adversarial example of the first stage that broke it
    and the clean input where none did (AutoAttack's ``x_adv``); it is not part of :meth:`to_dict`.
    """

    n: int
    eps: float
    norm: str
    version: str
    clean_accuracy: float
    robust_accuracy: float
    robust_accuracy_ci: tuple[float, float]
    stages: list[StageResult]
    records: list[InputRecord]
    cascade: bool = True
    seconds: float = 0.0
    hart_gamma: float | None = None
    hart_tuned: bool = False
    adversarial: torch.Tensor | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "adversarial"}
        out["stages"] = [asdict(s) for s in self.stages]
        out["records"] = [asdict(r) for r in self.records]
        out["robust_accuracy_ci"] = list(self.robust_accuracy_ci)
        return out

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


@dataclass
class _Stage:
    attack: str
    estimator: str
    build: Callable[[SpikingModel], Attack]
    targets: int = 0


def _check_inputs(model: SpikingModel, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str, version: str) -> str:
    if not isinstance(model, SpikingModel):
        raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
    if model.takes_sequence:
        raise ValueError("model: the standard evaluation attacks images; spike/event inputs need spike-bim")
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or len(x) == 0:
        raise ValueError(f"x: expected a non-empty batch of images, got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != (len(x),):
        raise ValueError(f"y: expected int64 labels of shape ({len(x)},)")
    check_number("eps", eps, low=0, low_open=True)
    check_choice("version", version, VERSIONS)
    return check_norm(norm.lower() if isinstance(norm, str) else norm)


def _tune_hart(model: SpikingModel, train_data: ImageDataset | None, eps: float, norm: str, seed: int
               ) -> tuple[float, bool]:
    if train_data is None:
        return 1.0, False
    if not isinstance(train_data, ImageDataset):
        raise ValueError(f"train_data: expected an ImageDataset (its training split is used), "
                         f"got {type(train_data).__name__}")
    result = tune_estimator(model, train_data, "hart", "gamma", HART_GAMMAS, attack="pgd",
                            attack_params={"eps": eps, "norm": norm, "steps": 10}, n=200, seed=seed)
    return result.best, True


def build_stages(model: SpikingModel, eps: float, norm: str, version: str, hart_gamma: float, seed: int
                 ) -> list[_Stage]:
    """The cascade's stages for ``model`` (see the module docstring)."""
    b = BUDGETS[version]
    common = {"eps": eps, "norm": norm, "eot": b["eot"], "seed": seed}
    if model.is_spiking:
        estimators = [(name, {"gamma": hart_gamma} if name == "hart" else {}) for name in ESTIMATORS]
    else:
        estimators = [("exact", None)]

    def grad_kwargs(name: str, params: dict | None) -> dict:
        return {} if params is None else {"grad": name, "grad_params": params}

    stages = [_Stage("apgd-ce", name, lambda m, n=name, p=params: make_attack(
        "apgd", m, steps=b["apgd_steps"], restarts=b["restarts"], loss="ce", **grad_kwargs(n, p), **common))
        for name, params in estimators]
    if model.num_classes >= 4:
        targets = min(b["targets"], model.num_classes - 1)
        stages += [_Stage("apgd-t", name, lambda m, n=name, p=params: make_attack(
            "apgd", m, steps=b["apgd_steps"], restarts=b["restarts"], loss="dlr", targeted="given",
            **grad_kwargs(n, p), **common), targets=targets) for name, params in estimators]
    if model.is_spiking:
        stages.append(_Stage("sapgd", "assg", lambda m: make_attack(
            "sapgd", m, steps=b["sapgd_steps"], restarts=b["sapgd_restarts"], grad="assg", **common)))
        members = [make_estimator(name, **params) for name, params in estimators]
        stages.append(_Stage("apgd-ce", "mdse", lambda m: make_attack(
            "apgd", m, steps=b["mdse_steps"], restarts=1, grad=MDSE(members), **common)))
    stages.append(_Stage("square", "none", lambda m: make_attack(
        "square", m, steps=b["square_queries"], **common)))
    return stages


def _predict(model: SpikingModel, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def _run_stage(model: SpikingModel, stage: _Stage, attack: Attack, x: torch.Tensor, y: torch.Tensor,
               batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adversarial examples for the clean-correct inputs ``x`` (the best over the stage's targets:
    each further target attacks the inputs still classified correctly) and the model's predictions."""
    best, pred = x.clone(), y.clone()
    others = None
    if stage.targets:
        ranked = _predict(model, x, batch_size).argsort(-1, descending=True)
        others = ranked[ranked != y.view(-1, 1)].view(len(y), -1)  # most likely other classes first
    for k in range(stage.targets) if stage.targets else [None]:
        alive = (pred == y).nonzero().squeeze(1)
        if not alive.numel():
            break
        result = evaluate(model, (x[alive], y[alive]), attack, targets=None if k is None else others[alive, k],
                          batch_size=batch_size, seed=seed)
        best[alive] = result.adversarial.to(x.device)
        pred[alive] = result.per_input.adv_pred.to(y.device)
    return best, pred


def _reporter(progress: bool | Callable[[str], None]) -> Callable[[str], None] | None:
    if progress is True:
        return lambda line: print(line, file=sys.stderr, flush=True)
    if progress is False or progress is None:
        return None
    if not callable(progress):
        raise ValueError(f"progress: expected True, False or a callable taking a line, got {progress!r}")
    return progress


def standard_evaluation(
    model: SpikingModel,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "Linf",
    version: str = "standard",
    seed: int = 0,
    train_data: ImageDataset | None = None,
    hart_gamma: float | None = None,
    batch_size: int = 128,
    cascade: bool = True,
    progress: bool | Callable[[str], None] = True,
) -> StandardEvaluation:
    """Run the standard evaluation of ``model`` on images ``x`` in [0, 1] with labels ``y``.

    ``eps`` is the budget in pixel units under ``norm`` (``"Linf"`` or ``"L2"``); ``version`` one
    of ``standard``, ``plus``, ``rand``. HART's ``gamma`` is tuned on a held-out slice of
    ``train_data``'s training split when given (never on ``x``), else ``hart_gamma`` (default 1).
    ``progress``: one line per finished stage on stderr (``True``, the default), none
    (``False``), or each line passed to a callable.
    """
    norm = _check_inputs(model, x, y, eps, norm, version)
    report = _reporter(progress)
    started = time.perf_counter()
    model.encoder.reseed(seed)
    with evaluating(model):
        if hart_gamma is None:
            if model.is_spiking and train_data is not None and report is not None:
                report(f"tuning HART's gamma on held-out training data ({', '.join(map(str, HART_GAMMAS))})")
            gamma, tuned = _tune_hart(model, train_data, eps, norm, seed) if model.is_spiking else (None, False)
        else:
            gamma, tuned = float(hart_gamma), False
        clean_pred = _predict(model, x, batch_size).argmax(-1)
        correct = clean_pred == y
        robust = correct.clone()
        adversarial = x.clone()
        records = [InputRecord(index=i, label=int(y[i]), clean_pred=int(clean_pred[i]), robust=bool(correct[i]))
                   for i in range(len(y))]
        stages: list[StageResult] = []
        stage_preds: list[list[int]] = []  # per stage, per input: the prediction after it (the label if not attacked)
        for s_index, stage in enumerate(build_stages(model, eps, norm, version, gamma or 1.0, seed)):
            attack = stage.build(model)
            pool = robust if cascade else correct
            idx = pool.nonzero().squeeze(1)
            t0 = time.perf_counter()
            after = y.clone()
            broken_here = torch.zeros(0, dtype=torch.long, device=y.device)
            if idx.numel():
                x_adv, pred = _run_stage(model, stage, attack, x[idx], y[idx], batch_size, seed)
                after[idx] = pred
                fooled = pred != y[idx]
                broken_here = idx[fooled]
                delta = (x_adv - x[idx]).flatten(1)
                for j in fooled.nonzero().squeeze(1).tolist():
                    rec = records[int(idx[j])]
                    rec.broken_by.append(s_index)
                    if rec.attack is None:
                        rec.attack, rec.estimator, rec.adv_pred = stage.attack, stage.estimator, int(pred[j])
                        rec.linf, rec.l2 = float(delta[j].abs().max()), float(delta[j].norm())
                        adversarial[idx[j]] = x_adv[j]
            stage_preds.append(after.tolist())
            new = int(robust[broken_here].sum())
            robust[broken_here] = False
            for i in broken_here.tolist():
                records[i].robust = False
            config = attack.describe() | ({"targets": stage.targets} if stage.targets else {})
            stages.append(StageResult(attack=stage.attack, estimator=stage.estimator, attacked=int(idx.numel()),
                                      broken=int(broken_here.numel()), new=new,
                                      seconds=time.perf_counter() - t0,
                                      robust_accuracy_after=int(robust.sum()) / len(y), config=config))
            if report is not None:
                s = stages[-1]
                report(f"{s.attack} ({s.estimator}): attacked {s.attacked}, broke {s.broken} "
                       f"({s.new} new), robust accuracy {s.robust_accuracy_after:.4f}, {s.seconds:.1f} s")
    labels = y.tolist()
    flags = robust_mask(labels, [clean_pred.tolist()], stage_preds)  # the one per-input worst-case kernel
    assert flags == robust.tolist(), "per-input bookkeeping disagrees with the worst-case kernel"
    n = len(y)
    k = sum(flags)
    return StandardEvaluation(n=n, eps=float(eps), norm=norm, version=version,
                              clean_accuracy=int(correct.sum()) / n, robust_accuracy=k / n,
                              robust_accuracy_ci=clopper_pearson(k, n), stages=stages, records=records,
                              cascade=cascade, seconds=time.perf_counter() - started,
                              hart_gamma=gamma, hart_tuned=tuned, adversarial=adversarial)

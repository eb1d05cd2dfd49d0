"""The standard evaluation: one fixed, parameter-free cascade of attacks x estimators, the
per-input worst case over all of it (AutoAttack's rule, Croce & Hein 2020), and a convergence
certificate.

An input counts as robust only if the model classifies it correctly clean *and* after every
stage of the cascade (:mod:`.cascade`: the stages and their budgets per version); each stage
attacks only the inputs still robust, so its cost falls as the robust set shrinks. An input
is broken when the model's own prediction on the adversarial example is wrong (one seeded
forward). Each input's record names the first stage (attack, estimator) that broke it; with
``cascade=False`` every stage attacks every clean-correct input (to measure what the cascade
saves, and each stage's own robust accuracy), and records list every stage that broke the
input. After the cascade, escalation rounds check that more budget no longer moves the
number (:mod:`.convergence`); their breaks count like any stage's.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .._checks import check_choice, check_number
from ..attacks import Attack
from ..attacks.projection import check_norm
from ..data import ImageDataset
from ..models import SpikingModel, evaluating
from ..results.robust import robust_mask
from ..results.statistics import clopper_pearson
from .cascade import BUDGETS, HART_GAMMAS, VERSIONS, Stage, build_stages
from .convergence import CascadeResult, ConvergenceReport, certify
from .evaluate import evaluate
from .tune import tune_estimator

__all__ = ["BUDGETS", "VERSIONS", "InputRecord", "StageResult", "StandardEvaluation", "standard_evaluation"]


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
class StandardEvaluation(CascadeResult):
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
    convergence: ConvergenceReport | None = None
    adversarial: torch.Tensor | None = field(default=None, repr=False, compare=False)


def _check_inputs(model: SpikingModel, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str, version: str) -> str:
    if not isinstance(model, SpikingModel):
        raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
    if model.takes_sequence:
        raise ValueError("model: the standard evaluation attacks images; for spike/event inputs use event_evaluation "
                         "(an L0 budget)")
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


def _predict(model: SpikingModel, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def _run_stage(model: SpikingModel, stage: Stage, attack: Attack, x: torch.Tensor, y: torch.Tensor,
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


def record_stage(state: Any, stage: Stage, label: str | None, idx: torch.Tensor, after: torch.Tensor,
                 broken_here: torch.Tensor, t0: float, config: dict[str, Any]) -> StageResult:
    """Close a stage of a cascade ``state`` (image or event): keep the predictions ``after`` it,
    mark ``broken_here`` broken in its robust mask and records, append and return its result."""
    state.after.append(after.tolist())
    new = int(state.robust[broken_here].sum())
    state.robust[broken_here] = False
    for i in broken_here.tolist():
        state.records[i].robust = False
    result = StageResult(attack=label or stage.label, estimator=stage.estimator, attacked=int(idx.numel()),
                         broken=int(broken_here.numel()), new=new, seconds=time.perf_counter() - t0,
                         robust_accuracy_after=int(state.robust.sum()) / len(state.y), config=config)
    state.stages.append(result)
    return result


class _Cascade:
    """The running state of one standard evaluation: who is robust, which stage broke what."""

    def __init__(self, model: SpikingModel, x: torch.Tensor, y: torch.Tensor, clean_pred: torch.Tensor,
                 batch_size: int, seed: int, cascade: bool) -> None:
        self.model, self.x, self.y, self.batch_size, self.seed, self.cascade = model, x, y, batch_size, seed, cascade
        self.correct = clean_pred == y
        self.robust = self.correct.clone()
        self.adversarial = x.clone()
        self.records = [InputRecord(index=i, label=int(y[i]), clean_pred=int(clean_pred[i]), robust=bool(self.correct[i]))
                        for i in range(len(y))]
        self.stages: list[StageResult] = []
        self.after: list[list[int]] = []  # per stage, per input: the prediction after it (the label if not attacked)

    def run(self, stage: Stage, attack: Attack, idx: torch.Tensor, label: str | None = None) -> StageResult:
        """Attack the inputs ``idx`` with ``stage``'s ``attack``; update the records; the stage's result."""
        x, y = self.x, self.y
        s_index = len(self.stages)
        t0 = time.perf_counter()
        after = y.clone()
        broken_here = torch.zeros(0, dtype=torch.long, device=y.device)
        if idx.numel():
            x_adv, pred = _run_stage(self.model, stage, attack, x[idx], y[idx], self.batch_size, self.seed)
            after[idx] = pred
            fooled = pred != y[idx]
            broken_here = idx[fooled]
            delta = (x_adv - x[idx]).flatten(1)
            for j in fooled.nonzero().squeeze(1).tolist():
                rec = self.records[int(idx[j])]
                rec.broken_by.append(s_index)
                if rec.attack is None:
                    rec.attack, rec.estimator, rec.adv_pred = label or stage.label, stage.estimator, int(pred[j])
                    rec.linf, rec.l2 = float(delta[j].abs().max()), float(delta[j].norm())
                    self.adversarial[idx[j]] = x_adv[j]
        config = attack.describe() | ({"targets": stage.targets} if stage.targets else {})
        return record_stage(self, stage, label, idx, after, broken_here, t0, config)


    def escalate(self, stage: Stage, scale: int, round_: int, idx: torch.Tensor, label: str
                 ) -> tuple[torch.Tensor, float]:
        """One escalated stage on the still-robust inputs ``idx`` (for :func:`.convergence.certify`)."""
        before = self.robust.clone()
        result = self.run(stage, stage.build(self.model, scale, round_), idx, label)
        return (before & ~self.robust).nonzero().squeeze(1), result.seconds


def _line(s: StageResult) -> str:
    return (f"{s.attack} ({s.estimator}): attacked {s.attacked}, broke {s.broken} ({s.new} new), "
            f"robust accuracy {s.robust_accuracy_after:.4f}, {s.seconds:.1f} s")


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
    budgets: dict[str, Any] | None = None,
) -> StandardEvaluation:
    """Run the standard evaluation of ``model`` on images ``x`` in [0, 1] with labels ``y``.

    ``eps`` is the budget in pixel units under ``norm`` (``"Linf"`` or ``"L2"``); ``version`` one
    of ``standard``, ``plus``, ``rand``. HART's ``gamma`` is tuned on a held-out slice of
    ``train_data``'s training split when given (never on ``x``), else ``hart_gamma`` (default 1).
    ``progress``: one line per finished stage on stderr (``True``, the default), none
    (``False``), or each line passed to a callable. ``budgets`` overrides entries of the
    version's budgets (:data:`.cascade.BUDGETS`; for studies of the cascade itself, never
    needed for the number to quote).
    """
    norm = _check_inputs(model, x, y, eps, norm, version)
    b = dict(BUDGETS[version])
    unknown = set(budgets or {}) - set(b)
    if unknown:
        raise ValueError(f"budgets: unknown keys {sorted(unknown)}; expected some of {sorted(b)}")
    b.update(budgets or {})
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
        state = _Cascade(model, x, y, _predict(model, x, batch_size).argmax(-1), batch_size, seed, cascade)
        stages = build_stages(model, eps, norm, b, gamma or 1.0, seed)
        for stage in stages:
            pool = state.robust if cascade else state.correct
            result = state.run(stage, stage.build(model), pool.nonzero().squeeze(1))
            if report is not None:
                report(_line(result))
        convergence = certify(stages, [s.new for s in state.stages], state.robust, state.escalate,
                              rounds=b["escalation_rounds"], sample=b["escalation_sample"],
                              count=b["escalation_stages"], tolerance=b["escalation_tolerance"], seed=seed,
                              report=report)
    labels = y.tolist()
    flags = robust_mask(labels, [[r.clean_pred for r in state.records]], state.after)  # the one worst-case kernel
    assert flags == state.robust.tolist(), "per-input bookkeeping disagrees with the worst-case kernel"
    n, k = len(y), sum(flags)
    return StandardEvaluation(n=n, eps=float(eps), norm=norm, version=version,
                              clean_accuracy=int(state.correct.sum()) / n, robust_accuracy=k / n,
                              robust_accuracy_ci=clopper_pearson(k, n), stages=state.stages, records=state.records,
                              cascade=cascade, seconds=time.perf_counter() - started, hart_gamma=gamma,
                              hart_tuned=tuned, convergence=convergence, adversarial=state.adversarial)

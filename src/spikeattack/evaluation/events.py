"""The event evaluation: a fixed, parameter-free cascade of event attacks under an L0 budget, the
per-input worst case over it (the rule of the image cascade, :mod:`.standard`) and a
convergence certificate (:mod:`.convergence`).

Inputs are event frames in the model's layout ``[T, B, C, H, W]``: binary spike frames or
event-count frames. The budget ``eps`` is the number of elements (of ``T*C*H*W``) an
adversary may change per input, a count (``64``) or a fraction (``"1%"``). An input counts
as robust only if the model classifies it correctly clean *and* no stage fools it within
the budget; each stage attacks only the inputs still robust. Stages, in order:

- binary frames: SDA with PDSG (Lun et al.'s pairing), SDA with the model's own surrogate
  (STBP), SDA with HART's surrogate (each gradient leads the sparse search to other flips;
  ``plus`` adds SDA with BPTR and with RGA), then Liang et al.'s spike-BIM (cross-entropy
  loss, STBP) with its ``eps`` set to the budget
  (:func:`~spikeattack.attacks.threat.spike_bim_eps`), for budgets large enough for its
  denser flips;
- count frames: count-frame PGD with cross-entropy and with the C&W margin (STBP), then
  with PDSG.

Which estimators are in the list was measured (docs/events.md, ``perf/events_estimators.py``:
SDA with each estimator at a 1% budget on CE- and MSE-trained nmnist-sim models; PDSG, STBP and
HART together broke every input any of the five broke on the CE model, 77 of 80 on the MSE one).

Budgets per version (fixed, CPU-sized; ``runs``: seeds of spike-BIM and count-PGD, the
fewest flips kept):

==========  ==========  =====  =====  ====  ==========================================
version     SDA rounds  BIM    PGD    runs  escalation: rounds, sample, stages
==========  ==========  =====  =====  ====  ==========================================
standard    30          25     25     1     1 round, 16 inputs, the best stage
plus        100         50     100    3     2 rounds, 64 inputs, the 2 best stages
==========  ==========  =====  =====  ====  ==========================================

After the cascade, the escalation of :func:`~spikeattack.evaluation.convergence.certify`
re-runs the stages that broke the most inputs with ``2**r`` times their rounds (SDA) or steps
and another seed, on a seeded sample of the inputs still robust; ``convergence`` reports
whether the last round still broke any. Its breaks count like any stage's.

``minimal=True`` asks for each input's minimal flips instead: every stage runs without a
budget on every clean-correct input (no cascade, no escalation), each input's
``minimal_flips`` is the fewest elements changed by any stage that fooled it, and an input
is robust at ``eps`` when no stage fooled it within the budget (the robust accuracy at every
budget follows from the ``minimal_flips``; ``minimal_quantiles`` summarises them over the
inputs fooled).

:func:`compare_sda_spike_bim` runs SDA and spike-BIM without a budget on the same inputs:
success, flips on the inputs both fool, seconds per input (the comparison of ``reproduce liang``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from .._checks import check_int
from ..attacks import Attack, make_attack
from ..attacks.threat import Budget, check_event_norm, frames_kind, minimal_quantiles, spike_bim_eps
from ..models import SpikingModel, evaluating
from ..results.robust import robust_mask
from ..results.statistics import clopper_pearson, compare_paired
from .cascade import Stage
from .convergence import CascadeResult, ConvergenceReport, certify
from .standard import InputRecord, StageResult, _reporter, record_stage

VERSIONS = ("standard", "plus")
BUDGETS: dict[str, dict[str, Any]] = {
    "standard": {"sda_rounds": 30, "bim_steps": 25, "count_steps": 25, "runs": 1, "escalation_rounds": 1,
                 "escalation_sample": 16, "escalation_stages": 1, "escalation_tolerance": 0.0},
    "plus": {"sda_rounds": 100, "bim_steps": 50, "count_steps": 100, "runs": 3, "escalation_rounds": 2,
             "escalation_sample": 64, "escalation_stages": 2, "escalation_tolerance": 0.0},
}
_NEVER = torch.iinfo(torch.long).max


@dataclass
class EventInputRecord(InputRecord):
    """An input's record (as the image cascade's) with the elements changed by the adversarial
    example that broke it (``flips``) and, with ``minimal=True``, its minimal flips."""

    flips: int = 0
    minimal_flips: int | None = None


@dataclass
class EventEvaluation(CascadeResult):
    """What :func:`event_evaluation` returns: the fields of
    :class:`~spikeattack.evaluation.standard.StandardEvaluation` (``eps`` the budget in
    elements, ``norm="L0"``) plus the budget as given, the elements per input, the frame
    kind and, with ``minimal``, the quantiles of the minimal flips. ``adversarial`` (not part
    of :meth:`to_dict`) holds per input the adversarial example of the first stage that broke
    it within the budget (with ``minimal``: the one with the fewest flips), else the clean input."""

    n: int
    eps: int
    norm: str
    version: str
    clean_accuracy: float
    robust_accuracy: float
    robust_accuracy_ci: tuple[float, float]
    stages: list[StageResult]
    records: list[EventInputRecord]
    cascade: bool = True
    seconds: float = 0.0
    budget: int | str = 0
    elements: int = 0
    frames: str = "binary"
    minimal: bool = False
    minimal_flips: dict[str, Any] | None = None
    convergence: ConvergenceReport | None = None
    adversarial: torch.Tensor | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class EventStage(Stage):
    """A stage of the event cascade: :class:`~spikeattack.evaluation.cascade.Stage` whose
    escalation scales SDA's ``rounds`` as well as ``steps``, run ``runs`` times with seeds
    ``seed, seed + 1, ...``."""

    runs: int = 1

    def build(self, model: SpikingModel, scale: int = 1, round_: int = 0, run: int = 0) -> Attack:
        params = dict(self.params)
        for key in ("rounds", "steps"):
            if key in params:
                params[key] = params[key] * scale
        params["seed"] = params.get("seed", 0) + 1000 * round_ + run
        return make_attack(self.attack, model, **params)


def build_stages(frames: str, budgets: dict[str, Any], budget: int | None, elements: int, seed: int,
                 version: str = "standard") -> list[EventStage]:
    """The cascade's stages for ``frames`` under the L0 ``budget`` (None: unbounded)."""
    b = budgets
    if frames == "binary":
        def sda(grad: str) -> EventStage:
            return EventStage("sda", grad, "sda", {"grad": grad, "eps": budget, "rounds": b["sda_rounds"],
                                                   "seed": seed})

        bim_eps = None if budget is None else spike_bim_eps(budget, elements)
        extra = [sda("bptr"), sda("rga")] if version == "plus" else []
        return [sda("pdsg"), sda("stbp"), sda("hart"), *extra,
                EventStage("spike-bim", "stbp", "spike-bim", {"grad": "stbp", "loss": "ce", "eps": bim_eps,
                                                             "steps": b["bim_steps"], "seed": seed}, runs=b["runs"])]

    def count(grad: str, loss: str) -> EventStage:
        return EventStage(f"count-pgd-{loss}", grad, "count-pgd", {"grad": grad, "loss": loss, "eps": budget,
                                                                   "steps": b["count_steps"], "seed": seed},
                          runs=b["runs"])

    return [count("stbp", "ce"), count("stbp", "cw"), count("pdsg", "ce")]


def _check(model: SpikingModel, x: torch.Tensor, y: torch.Tensor, norm: str, version: str) -> str:
    if not isinstance(model, SpikingModel):
        raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
    if not model.takes_sequence:
        raise ValueError("model: the event evaluation attacks event frames; it needs a spike-input model "
                         "(images: standard_evaluation)")
    if not isinstance(x, torch.Tensor) or x.dim() != 5 or x.shape[1] == 0:
        raise ValueError(f"x: expected a non-empty [T, B, C, H, W] batch of event frames, "
                         f"got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != (x.shape[1],):
        raise ValueError(f"y: expected int64 labels of shape ({x.shape[1]},)")
    if version not in VERSIONS:
        raise ValueError(f"version: expected one of {VERSIONS}, got {version!r}")
    if check_event_norm(norm) != "L0":
        raise ValueError(f"norm: the event evaluation measures L0 budgets, got {norm!r}")
    model.check_input(x, "x")
    if x.numel() and (x.min() < 0 or not bool((x == x.round()).all())):
        raise ValueError("x: expected binary or event-count frames (integers >= 0)")
    return frames_kind(x)


def _run_stage(model: SpikingModel, stage: EventStage, x: torch.Tensor, y: torch.Tensor, batch_size: int,
               scale: int = 1, round_: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Attack]:
    """Per input the adversarial example of the stage's runs that fooled the model with the
    fewest flips (else the first run's): ``(x_adv, prediction, flips, the first run's attack)``."""
    out, preds = x.clone(), y.clone()
    best = torch.full((len(y),), _NEVER, dtype=torch.long)
    first = None
    for run in range(stage.runs):
        attack = stage.build(model, scale, round_, run)
        if first is None:
            first = attack
        for start in range(0, len(y), batch_size):
            sl = slice(start, start + batch_size)
            x_adv = attack(x[:, sl], y[sl])
            with torch.no_grad():
                pred = model(x_adv).argmax(-1)
            n = (x_adv != x[:, sl]).movedim(1, 0).flatten(1).sum(1).cpu()
            score = torch.where((pred != y[sl]).cpu(), n, torch.full_like(n, _NEVER - 1))
            take = score < best[sl]
            out[:, sl][:, take.to(x.device)] = x_adv[:, take.to(x.device)]
            preds[sl][take.to(y.device)] = pred[take.to(y.device)]
            best[sl] = torch.where(take, score, best[sl])
    flips = (out != x).movedim(1, 0).flatten(1).sum(1).cpu()
    return out, preds, flips, first


class _EventCascade:
    """The running state of one event evaluation: who is robust within the budget, which stage
    broke what, the minimal flips so far."""

    def __init__(self, model: SpikingModel, x: torch.Tensor, y: torch.Tensor, clean_pred: torch.Tensor, budget: int,
                 batch_size: int, minimal: bool, cascade: bool) -> None:
        self.model, self.x, self.y, self.budget = model, x, y, budget
        self.batch_size, self.minimal, self.cascade = batch_size, minimal, cascade
        self.correct = clean_pred == y
        self.robust = self.correct.clone()
        self.adversarial = x.clone()
        self.fewest = torch.full((len(y),), -1, dtype=torch.long)
        self.records = [EventInputRecord(index=i, label=int(y[i]), clean_pred=int(clean_pred[i]),
                                         robust=bool(self.correct[i])) for i in range(len(y))]
        self.stages: list[StageResult] = []
        self.after: list[list[int]] = []  # per stage, per input: the prediction within the budget (else the label)

    def run(self, stage: EventStage, idx: torch.Tensor, scale: int = 1, round_: int = 0,
            label: str | None = None) -> StageResult:
        """Attack the inputs ``idx`` with ``stage``; update the records; the stage's result."""
        x, y, k = self.x, self.y, self.budget
        s_index = len(self.stages)
        t0 = time.perf_counter()
        after = y.clone()
        broken_here = torch.zeros(0, dtype=torch.long, device=y.device)
        attack = None
        if idx.numel():
            x_adv, pred, flips, attack = _run_stage(self.model, stage, x[:, idx], y[idx], self.batch_size, scale,
                                                    round_)
            delta = (x_adv - x[:, idx]).movedim(1, 0).flatten(1)
            fooled = (pred != y[idx]).cpu()
            within = fooled & (flips <= k)
            for j in fooled.nonzero().squeeze(1).tolist():
                i, n = int(idx[j]), int(flips[j])
                rec = self.records[i]
                if self.minimal and (self.fewest[i] < 0 or n < self.fewest[i]):
                    self.fewest[i] = rec.minimal_flips = n
                    self.adversarial[:, i] = x_adv[:, j]
                if not within[j]:
                    continue
                after[i] = pred[j]
                rec.broken_by.append(s_index)
                if rec.attack is None:
                    rec.attack, rec.estimator, rec.adv_pred = label or stage.label, stage.estimator, int(pred[j])
                    rec.flips, rec.linf, rec.l2 = n, float(delta[j].abs().max()), float(delta[j].norm())
                    if not self.minimal:
                        self.adversarial[:, i] = x_adv[:, j]
            broken_here = idx[within.to(idx.device)]
        config = (attack or stage.build(self.model, scale, round_)).describe() | {"runs": stage.runs}
        return record_stage(self, stage, label, idx, after, broken_here, t0, config)

    def escalate(self, stage: Stage, scale: int, round_: int, idx: torch.Tensor, label: str
                 ) -> tuple[torch.Tensor, float]:
        """One escalated stage on the still-robust inputs ``idx`` (for :func:`.convergence.certify`)."""
        before = self.robust.clone()
        result = self.run(stage, idx, scale, round_, label)
        return (before & ~self.robust).nonzero().squeeze(1), result.seconds


def _line(s: StageResult, k: int) -> str:
    return (f"{s.attack} ({s.estimator}): attacked {s.attacked}, broke {s.broken} ({s.new} new) within {k} flips, "
            f"robust accuracy {s.robust_accuracy_after:.4f}, {s.seconds:.1f} s")


def event_evaluation(
    model: SpikingModel,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: int | str,
    norm: str = "L0",
    version: str = "standard",
    seed: int = 0,
    batch_size: int = 64,
    cascade: bool = True,
    minimal: bool = False,
    progress: bool | Callable[[str], None] = True,
    budgets: dict[str, Any] | None = None,
) -> EventEvaluation:
    """Run the event evaluation of ``model`` on event frames ``x`` ``[T, B, C, H, W]`` with labels ``y``.

    ``eps``: the L0 budget, a count of elements or a percentage (``"1%"``); ``version``:
    ``standard`` or ``plus``; ``minimal``: every stage unbounded on every input, reporting
    each input's minimal flips. ``progress``: one line per finished stage on stderr (``True``),
    none (``False``), or each line passed to a callable. ``budgets`` overrides entries of the
    version's :data:`BUDGETS` (for studies of the cascade itself).
    """
    frames = _check(model, x, y, norm, version)
    spec = Budget.parse(eps)
    elements = x[:, 0].numel()
    k = spec.resolve(elements)
    check_int("batch_size", batch_size)
    b = dict(BUDGETS[version])
    unknown = set(budgets or {}) - set(b)
    if unknown:
        raise ValueError(f"budgets: unknown keys {sorted(unknown)}; expected some of {sorted(b)}")
    b.update(budgets or {})
    report = _reporter(progress)
    started = time.perf_counter()
    model.encoder.reseed(seed)
    with evaluating(model):
        with torch.no_grad():
            clean_pred = torch.cat([model(x[:, i:i + batch_size]).argmax(-1) for i in range(0, len(y), batch_size)])
        state = _EventCascade(model, x, y, clean_pred, k, batch_size, minimal, cascade)
        stages = build_stages(frames, b, None if minimal else k, elements, seed, version)
        for stage in stages:
            pool = state.correct if (minimal or not cascade) else state.robust
            result = state.run(stage, pool.nonzero().squeeze(1))
            if report is not None:
                report(_line(result, k))
        convergence = None
        if not minimal:
            convergence = certify(stages, [s.new for s in state.stages], state.robust, state.escalate,
                                  rounds=b["escalation_rounds"], sample=b["escalation_sample"],
                                  count=b["escalation_stages"], tolerance=b["escalation_tolerance"], seed=seed,
                                  report=report)
    flags = robust_mask(y.tolist(), [clean_pred.tolist()], state.after)  # the one per-input worst-case kernel
    assert flags == state.robust.tolist(), "per-input bookkeeping disagrees with the worst-case kernel"
    n, kept = len(y), sum(flags)
    fewest = state.fewest
    quantiles = minimal_quantiles(fewest.clamp_min(0), (fewest >= 0) & state.correct.cpu()) if minimal else None
    return EventEvaluation(n=n, eps=k, norm="L0", version=version, clean_accuracy=int(state.correct.sum()) / n,
                           robust_accuracy=kept / n, robust_accuracy_ci=clopper_pearson(kept, n),
                           stages=state.stages, records=state.records, cascade=cascade and not minimal,
                           seconds=time.perf_counter() - started, budget=spec.describe(), elements=elements,
                           frames=frames, minimal=minimal, minimal_flips=quantiles, convergence=convergence,
                           adversarial=state.adversarial)


# ---------------------------------------------------------------------------- SDA vs spike-BIM
@dataclass
class FlipsComparison:
    """SDA against Liang et al.'s spike-BIM, both without a budget, on the same inputs: per attack
    the success rate with its 95% Clopper-Pearson interval, the flips per input (0 where not
    fooled) and the seconds per input; the paired McNemar verdict on success; the median flips
    of each on the inputs both fool and their ratio (SDA / spike-BIM)."""

    n: int
    sda_success: float
    sda_success_ci: tuple[float, float]
    spike_bim_success: float
    spike_bim_success_ci: tuple[float, float]
    verdict: str
    pvalue: float
    both: int
    sda_median_flips: float | None
    spike_bim_median_flips: float | None
    ratio: float | None
    sda_seconds_per_input: float
    spike_bim_seconds_per_input: float
    sda_flips: list[int] = field(default_factory=list)
    spike_bim_flips: list[int] = field(default_factory=list)
    sda_fooled: list[bool] = field(default_factory=list)
    spike_bim_fooled: list[bool] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _attack_all(attack: Attack, x: torch.Tensor, y: torch.Tensor, batch_size: int
                ) -> tuple[list[bool], list[int], float]:
    start = time.perf_counter()
    adv = torch.cat([attack(x[:, i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)], 1)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        fooled = torch.cat([attack.model(adv[:, i:i + batch_size]).argmax(-1) != y[i:i + batch_size]
                            for i in range(0, len(y), batch_size)])
    flips = (adv != x).movedim(1, 0).flatten(1).sum(1)
    return fooled.tolist(), flips.tolist(), seconds / max(1, len(y))


def compare_sda_spike_bim(model: SpikingModel, x: torch.Tensor, y: torch.Tensor, *, loss: str = "mse",
                          sda_grad: str = "pdsg", bim_grad: str = "stbp", steps: int = 25, gamma: float = 0.05,
                          rounds: int = 500, seed: int = 0, batch_size: int = 64) -> FlipsComparison:
    """SDA (``sda_grad``, ``k_init = 10``, ``rounds``) and spike-BIM (``bim_grad``, ``loss``, ``steps``,
    ``gamma``: Liang et al.'s settings) without a budget on binary frames ``x`` ``[T, B, ...]`` --
    the comparison of ``spikeattack reproduce liang``; one after the other, so the seconds per
    input are side by side."""
    if _check(model, x, y, "L0", "standard") != "binary":
        raise ValueError("x: SDA and spike-BIM attack binary event frames")

    sda = make_attack("sda", model, grad=sda_grad, rounds=rounds, seed=seed)
    bim = make_attack("spike-bim", model, grad=bim_grad, loss=loss, steps=steps, gamma=gamma, seed=seed)
    sf, sflips, ssec = _attack_all(sda, x, y, batch_size)
    bf, bflips, bsec = _attack_all(bim, x, y, batch_size)
    n = len(y)
    both = [i for i in range(n) if sf[i] and bf[i]]
    ms = float(statistics.median(sflips[i] for i in both)) if both else None
    mb = float(statistics.median(bflips[i] for i in both)) if both else None
    paired = compare_paired(sf, bf)
    return FlipsComparison(
        n=n, sda_success=sum(sf) / n, sda_success_ci=clopper_pearson(sum(sf), n), spike_bim_success=sum(bf) / n,
        spike_bim_success_ci=clopper_pearson(sum(bf), n), verdict={"a": "sda", "b": "spike-bim"}.get(paired.verdict,
                                                                                                   "tie"),
        pvalue=paired.pvalue, both=len(both), sda_median_flips=ms, spike_bim_median_flips=mb,
        ratio=None if not both or not mb else ms / mb, sda_seconds_per_input=ssec, spike_bim_seconds_per_input=bsec,
        sda_flips=[int(v) for v in sflips], spike_bim_flips=[int(v) for v in bflips], sda_fooled=sf, spike_bim_fooled=bf)

"""The event evaluation: a fixed, parameter-free cascade of event attacks under an L0 budget and
the per-input worst case over it (the rule of the image cascade, :mod:`.standard`).

Inputs are event frames in the model's layout ``[T, B, C, H, W]``: binary spike frames or
event-count frames. The budget ``eps`` is the number of elements (of ``T*C*H*W``) an
adversary may change per input, a count (``64``) or a fraction (``"1%"``). An input counts
as robust only if the model classifies it correctly clean *and* no stage fools it within
the budget; each stage attacks only the inputs still robust. Stages, in order:

- binary frames: SDA with PDSG (Lun et al.'s pairing), SDA with the model's own surrogate
  (STBP), SDA with HART's surrogate (each gradient leads the sparse search to other flips;
  ``plus`` adds SDA with BPTR and with RGA), then Liang et al.'s spike-BIM (cross-entropy loss, STBP) with its ``eps`` set to the budget
  (:func:`~spikeattack.attacks.threat.spike_bim_eps`), for budgets large enough for its
  denser flips;
- count frames: count-frame PGD with cross-entropy and with the C&W margin (STBP), then
  with PDSG.

Which estimators are in the list was measured (docs/events.md, ``perf/events_estimators.py``:
SDA with each estimator at a 1% budget on CE- and MSE-trained nmnist-sim models; PDSG, STBP and
HART together broke every input any of the five broke on the CE model, 77 of 80 on the MSE one).

Budgets per version (fixed, CPU-sized):

==========  ==========  ===============  ==================
version     SDA rounds  spike-BIM steps  count-PGD steps
==========  ==========  ===============  ==================
standard    30          25 (1 run)       25
plus        100         50 (3 seeds)     100 (3 seeds)
==========  ==========  ===============  ==================

``minimal=True`` asks for each input's minimal flips instead: every stage runs without a
budget on every clean-correct input (no cascade), each input's ``minimal_flips`` is the
fewest elements changed by any stage that fooled it, and an input is robust at ``eps``
when no stage fooled it within the budget (the robust accuracy at every budget follows from
the ``minimal_flips``; ``minimal_quantiles`` summarises them over the inputs fooled).

:func:`compare_sda_spike_bim` runs SDA and spike-BIM without a budget on the same inputs:
success, flips on the inputs both fool, seconds per input (the comparison of ``reproduce liang``).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import torch

from .._checks import check_int
from ..attacks import Attack, make_attack
from ..attacks.threat import Budget, check_event_norm, frames_kind, minimal_quantiles, spike_bim_eps
from ..models import SpikingModel, evaluating
from ..results.robust import robust_mask
from ..results.statistics import clopper_pearson, compare_paired
from .standard import InputRecord, StageResult, _reporter

VERSIONS = ("standard", "plus")
BUDGETS: dict[str, dict[str, int]] = {
    "standard": {"sda_rounds": 30, "bim_steps": 25, "runs": 1, "count_steps": 25},
    "plus": {"sda_rounds": 100, "bim_steps": 50, "runs": 3, "count_steps": 100},
}


@dataclass
class EventInputRecord(InputRecord):
    """An input's record (as the image cascade's) with the elements changed by the adversarial
    example that broke it (``flips``) and, with ``minimal=True``, its minimal flips."""

    flips: int = 0
    minimal_flips: int | None = None


@dataclass
class EventEvaluation:
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
    build: Callable[[SpikingModel, int | None, int], Attack]  # (model, budget or None, run seed)
    runs: int = 1


def build_stages(frames: str, version: str, elements: int) -> list[_Stage]:
    """The cascade's stages for ``frames`` (see the module docstring)."""
    b = BUDGETS[version]
    if frames == "binary":
        def sda(grad: str) -> _Stage:
            return _Stage("sda", grad, lambda m, k, s: make_attack("sda", m, grad=grad, eps=k,
                                                                   rounds=b["sda_rounds"], seed=s))

        def bim(m: SpikingModel, k: int | None, s: int) -> Attack:
            eps = None if k is None else spike_bim_eps(k, elements)
            return make_attack("spike-bim", m, grad="stbp", loss="ce", eps=eps, steps=b["bim_steps"], seed=s)

        extra = [sda("bptr"), sda("rga")] if version == "plus" else []
        return [sda("pdsg"), sda("stbp"), sda("hart"), *extra, _Stage("spike-bim", "stbp", bim, b["runs"])]

    def count(grad: str, loss: str) -> _Stage:
        return _Stage(f"count-pgd-{loss}", grad, lambda m, k, s: make_attack(
            "count-pgd", m, grad=grad, loss=loss, eps=k, steps=b["count_steps"], seed=s), b["runs"])

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


def _run_stage(model: SpikingModel, stage: _Stage, x: torch.Tensor, y: torch.Tensor, budget: int | None,
               seed: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per input the adversarial example of the stage's runs that fooled the model with the
    fewest flips (else the last run's): ``(x_adv, prediction, flips)``."""
    out, preds = x.clone(), torch.empty_like(y)
    best = torch.full((len(y),), torch.iinfo(torch.long).max, dtype=torch.long)
    for run in range(stage.runs):
        attack = stage.build(model, budget, seed + run)
        for start in range(0, len(y), batch_size):
            sl = slice(start, start + batch_size)
            xb = x[:, sl]
            x_adv = attack(xb, y[sl])
            with torch.no_grad():
                pred = model(x_adv).argmax(-1)
            n = (x_adv != xb).movedim(1, 0).flatten(1).sum(1).cpu()
            score = torch.where((pred != y[sl]).cpu(), n, torch.full_like(n, torch.iinfo(torch.long).max - 1))
            take = score < best[sl] if run else torch.ones_like(score, dtype=torch.bool)
            out[:, sl][:, take.to(x.device)] = x_adv[:, take.to(x.device)]
            preds[sl][take.to(y.device)] = pred[take.to(y.device)]
            best[sl] = torch.where(take, score, best[sl])
    flips = (out != x).movedim(1, 0).flatten(1).sum(1).cpu()
    return out, preds, flips


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
) -> EventEvaluation:
    """Run the event evaluation of ``model`` on event frames ``x`` ``[T, B, C, H, W]`` with labels ``y``.

    ``eps``: the L0 budget, a count of elements or a percentage (``"1%"``); ``version``:
    ``standard`` or ``plus``; ``minimal``: every stage unbounded on every input, reporting
    each input's minimal flips. ``progress``: one line per finished stage on stderr (``True``),
    none (``False``), or each line passed to a callable.
    """
    frames = _check(model, x, y, norm, version)
    spec = Budget.parse(eps)
    elements = x[:, 0].numel()
    k = spec.resolve(elements)
    check_int("batch_size", batch_size)
    report = _reporter(progress)
    started = time.perf_counter()
    model.encoder.reseed(seed)
    with evaluating(model):
        with torch.no_grad():
            clean_pred = torch.cat([model(x[:, i:i + batch_size]).argmax(-1) for i in range(0, len(y), batch_size)])
        correct = clean_pred == y
        robust = correct.clone()
        adversarial = x.clone()
        fewest = torch.full((len(y),), -1, dtype=torch.long)
        records = [EventInputRecord(index=i, label=int(y[i]), clean_pred=int(clean_pred[i]), robust=bool(correct[i]))
                   for i in range(len(y))]
        stages: list[StageResult] = []
        stage_preds: list[list[int]] = []  # per stage, per input: the prediction within the budget (else the label)
        for s_index, stage in enumerate(build_stages(frames, version, elements)):
            pool = correct if (minimal or not cascade) else robust
            idx = pool.nonzero().squeeze(1)
            t0 = time.perf_counter()
            after = y.clone()
            broken_here = torch.zeros(0, dtype=torch.long, device=y.device)
            config = stage.build(model, None if minimal else k, seed).describe() | {"runs": stage.runs}
            if idx.numel():
                x_adv, pred, flips = _run_stage(model, stage, x[:, idx], y[idx], None if minimal else k, seed,
                                                batch_size)
                delta = (x_adv - x[:, idx]).movedim(1, 0).flatten(1)
                fooled = (pred != y[idx]).cpu()
                within = fooled & (flips <= k)
                for j in fooled.nonzero().squeeze(1).tolist():
                    i, n = int(idx[j]), int(flips[j])
                    rec = records[i]
                    if minimal and (fewest[i] < 0 or n < fewest[i]):
                        fewest[i] = n
                        rec.minimal_flips = n
                        adversarial[:, i] = x_adv[:, j]
                    if not within[j]:
                        continue
                    after[i] = pred[j]
                    rec.broken_by.append(s_index)
                    if rec.attack is None:
                        rec.attack, rec.estimator, rec.adv_pred = stage.attack, stage.estimator, int(pred[j])
                        rec.flips, rec.linf, rec.l2 = n, float(delta[j].abs().max()), float(delta[j].norm())
                        if not minimal:
                            adversarial[:, i] = x_adv[:, j]
                broken_here = idx[within.to(idx.device)]
            stage_preds.append(after.tolist())
            new = int(robust[broken_here].sum())
            robust[broken_here] = False
            for i in broken_here.tolist():
                records[i].robust = False
            stages.append(StageResult(attack=stage.attack, estimator=stage.estimator, attacked=int(idx.numel()),
                                      broken=int(broken_here.numel()), new=new, seconds=time.perf_counter() - t0,
                                      robust_accuracy_after=int(robust.sum()) / len(y), config=config))
            if report is not None:
                s = stages[-1]
                report(f"{s.attack} ({s.estimator}): attacked {s.attacked}, broke {s.broken} ({s.new} new) "
                       f"within {k} flips, robust accuracy {s.robust_accuracy_after:.4f}, {s.seconds:.1f} s")
    flags = robust_mask(y.tolist(), [clean_pred.tolist()], stage_preds)  # the one per-input worst-case kernel
    assert flags == robust.tolist(), "per-input bookkeeping disagrees with the worst-case kernel"
    n = len(y)
    kept = sum(flags)
    quantiles = minimal_quantiles(fewest.clamp_min(0), (fewest >= 0) & correct.cpu()) if minimal else None
    return EventEvaluation(n=n, eps=k, norm="L0", version=version, clean_accuracy=int(correct.sum()) / n,
                           robust_accuracy=kept / n, robust_accuracy_ci=clopper_pearson(kept, n), stages=stages,
                           records=records, cascade=cascade and not minimal, seconds=time.perf_counter() - started,
                           budget=spec.describe(), elements=elements, frames=frames, minimal=minimal,
                           minimal_flips=quantiles, adversarial=adversarial)


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

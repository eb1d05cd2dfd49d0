"""The convergence certificate of the standard evaluation: is the number still moving?

After the cascade, an escalation round re-runs the stages that broke the most inputs with a
larger budget (``2**r`` times the iterations in round ``r``, one more random restart, another
seed) on a seeded sample of the inputs still robust. Inputs it breaks are broken (they lower
the robust accuracy like any stage's). If a round breaks more than ``tolerance`` of the
sampled inputs, the next round escalates further, up to ``rounds`` rounds. The evaluation is
``converged`` when the last round broke at most that share: more budget no longer moves the
number on the sample. Otherwise the robust accuracy is an upper bound that is still moving,
and is reported as such (never as final).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import torch

from .cascade import Stage

#: runs ``stage`` (built with ``scale`` and ``round_``) on the input indices ``idx``; returns the
#: indices it broke and the seconds it took
RunStage = Callable[[Stage, int, int, torch.Tensor, str], tuple[torch.Tensor, float]]


@dataclass
class EscalationRound:
    round: int
    scale: int
    stages: list[str]
    attacked: int
    broken: int
    seconds: float


@dataclass
class ConvergenceReport:
    """``converged``: the last escalation round broke at most ``tolerance`` of the ``sample``."""

    converged: bool
    sample: int
    tolerance: float
    rounds: list[EscalationRound] = field(default_factory=list)

    @property
    def last_broken(self) -> int:
        return self.rounds[-1].broken if self.rounds else 0

    def to_dict(self) -> dict[str, Any]:
        return {"converged": self.converged, "sample": self.sample, "tolerance": self.tolerance,
                "last_round_broken": self.last_broken, "rounds": [asdict(r) for r in self.rounds]}


class CascadeResult:
    """What the image and the event evaluations' results share: the convergence verdict and the
    JSON form (every dataclass field but ``adversarial``; stages, records and the report as dicts)."""

    convergence: ConvergenceReport | None

    @property
    def converged(self) -> bool | None:
        """Whether the last escalation round no longer moved the number (None: not checked)."""
        return None if self.convergence is None else self.convergence.converged

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "adversarial"}  # type: ignore[arg-type]
        out["stages"] = [asdict(s) for s in out["stages"]]
        out["records"] = [asdict(r) for r in out["records"]]
        out["robust_accuracy_ci"] = list(out["robust_accuracy_ci"])
        out["convergence"] = None if self.convergence is None else self.convergence.to_dict()
        out["converged"] = self.converged
        return out

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def best_stages(stages: list[Stage], broke: list[int], count: int) -> list[Stage]:
    """The ``count`` gradient stages that broke the most inputs first (ties: cascade order)."""
    ranked = sorted((i for i, s in enumerate(stages) if s.uses_gradient), key=lambda i: (-broke[i], i))
    return [stages[i] for i in ranked[:count]]


def certify(stages: list[Stage], broke: list[int], robust: torch.Tensor, run_stage: RunStage, *,
            rounds: int, sample: int, count: int, tolerance: float, seed: int,
            report: Callable[[str], None] | None = None) -> ConvergenceReport:
    """Escalate on a seeded sample of the ``robust`` inputs (see the module docstring).

    ``broke[i]``: inputs stage ``i`` broke first in the cascade (which stages escalate).
    ``robust`` is updated in place by ``run_stage``'s callers; it is read before every round.
    """
    pool = robust.nonzero().squeeze(1)
    gen = torch.Generator().manual_seed(seed)
    chosen = pool[torch.randperm(len(pool), generator=gen)[:sample].to(pool.device)].sort().values
    out = ConvergenceReport(converged=True, sample=int(chosen.numel()), tolerance=tolerance)
    escalate = best_stages(stages, broke, count)
    if not chosen.numel() or not escalate or rounds < 1:
        return out
    for r in range(1, rounds + 1):
        scale = 2 ** r
        alive = chosen[robust[chosen]]
        attacked, broken, seconds = int(alive.numel()), 0, 0.0
        for stage in escalate:
            idx = chosen[robust[chosen]]
            if not idx.numel():
                break
            hit, took = run_stage(stage, scale, r, idx, f"escalation {r}: {stage.label} ({stage.estimator}) x{scale}")
            broken += int(hit.numel())
            seconds += took
        out.rounds.append(EscalationRound(r, scale, [f"{s.label}/{s.estimator}" for s in escalate], attacked, broken,
                                          seconds))
        if report is not None:
            report(f"escalation {r} (x{scale} iterations, +1 restart) on {attacked} sampled robust inputs: "
                   f"broke {broken}")
        out.converged = broken <= tolerance * out.sample
        if out.converged:
            break
    return out

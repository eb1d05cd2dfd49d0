"""The number to quote per (experiment, target, norm, eps): the standard evaluation where one is
stored (an ``[[evaluate]]`` table; on event data the event evaluation, norm ``l0`` and ``eps`` in
elements), else the grid's per-input worst case (:mod:`.headline`).

The grid's worst case stays beside it as a breakdown. The standard evaluation runs on the
first ``n`` of the grid's test inputs, so the two are compared input by input: an input the
standard evaluation leaves robust but some white-box grid cell breaks means the standard
evaluation missed an attack that works, and is a hygiene flag (:func:`grid_beats_standard`).
Two evaluations of one key (an event evaluation with and one without ``minimal``) are combined
per input: an input is robust only if robust under both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable

from .headline import Headline, headline
from .hygiene import Flag
from .output import norm_name
from .robust import broken_mask, robust_mask
from .rows import budget_key, eps_key, scenario_kind
from .statistics import clopper_pearson


@dataclass(frozen=True)
class StoredEvaluation:
    """A typed read of one stored standard evaluation (``ResultsStore.evaluations()`` entry)."""

    id: str
    experiment: str
    target: str
    eps: float
    norm: str
    version: str
    labels: list[int]
    clean_pred: list[int]
    adv_pred: list[int]
    robust: list[bool]
    seconds: float
    converged: bool | None = None

    @classmethod
    def from_stored(cls, entry: dict[str, Any]) -> "StoredEvaluation":
        result = entry["result"]
        records = result.get("records") or []
        labels = [int(r["label"]) for r in records]
        clean = [int(r["clean_pred"]) for r in records]
        # an input no stage broke keeps its clean prediction as its adversarial one
        adv = [int(r["adv_pred"]) if r.get("adv_pred") is not None else int(r["clean_pred"]) for r in records]
        return cls(id=entry["id"], experiment=entry["experiment"], target=entry["target"], eps=float(entry["eps"]),
                   norm=str(entry["norm"]).lower(), version=str(entry["version"]), labels=labels, clean_pred=clean,
                   adv_pred=adv, robust=[bool(r["robust"]) for r in records], seconds=float(entry.get("seconds", 0)),
                   converged=(result.get("convergence") or {}).get("converged"))

    @property
    def key(self) -> tuple:
        return (self.experiment, self.target, self.norm, eps_key(self.eps))

    @property
    def kind(self) -> str:
        """``standard evaluation`` (images) or ``event evaluation`` (event frames, L0)."""
        return "event evaluation" if self.norm == "l0" else "standard evaluation"

    def combined(self, other: "StoredEvaluation") -> "StoredEvaluation":
        """Both evaluations of one key per input: robust only if robust under both (the adversarial
        prediction of the one that broke it); ``ValueError`` when their inputs differ."""
        if other.labels[:self.n] != self.labels[:other.n] or other.n != self.n:
            raise ValueError(f"evaluations: {self.id} and {other.id} of {self.target} at eps {self.eps:g} evaluate "
                             "different inputs; they cannot be combined")
        adv = [b if r else a for a, b, r in zip(self.adv_pred, other.adv_pred, self.robust)]
        converged = None if self.converged is None and other.converged is None else \
            all(c is not False for c in (self.converged, other.converged))
        return StoredEvaluation(f"{self.id}+{other.id}", self.experiment, self.target, self.eps, self.norm,
                                f"{self.version}+{other.version}", self.labels, self.clean_pred, adv,
                                [a and b for a, b in zip(self.robust, other.robust)], self.seconds + other.seconds,
                                converged)

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def n_robust(self) -> int:
        return sum(self.robust)

    def recomputed_robust(self) -> list[bool]:
        """The robust flags recomputed from the stored predictions by the worst-case kernel."""
        return robust_mask(self.labels, [self.clean_pred], [self.adv_pred])


@dataclass
class Quote:
    """The number to quote for one (experiment, target, norm, eps), and where it comes from."""

    experiment: str
    target: str
    norm: str
    eps: float | None
    evaluation: StoredEvaluation | None = None
    grid: Headline | None = None
    #: indices of inputs robust under the standard evaluation but broken by a white-box grid cell
    grid_breaks: list[int] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"{self.evaluation.kind} ({self.evaluation.version})" if self.evaluation else "grid worst case"

    @property
    def n(self) -> int:
        return self.evaluation.n if self.evaluation else (self.grid.n if self.grid else 0)

    @property
    def n_robust(self) -> int:
        return self.evaluation.n_robust if self.evaluation else (self.grid.n_robust if self.grid else 0)

    @property
    def robust_accuracy(self) -> float:
        return self.n_robust / self.n if self.n else 0.0

    @property
    def robust_accuracy_ci(self) -> tuple[float, float]:
        return clopper_pearson(self.n_robust, self.n)

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "target": self.target, "norm": self.norm, "eps": self.eps,
                "source": self.source, "n": self.n, "n_robust": self.n_robust,
                "robust_accuracy": self.robust_accuracy, "robust_accuracy_ci": list(self.robust_accuracy_ci),
                "converged": None if self.evaluation is None else self.evaluation.converged,
                "grid_robust_accuracy": None if self.grid is None else self.grid.robust_accuracy,
                "grid_breaks": list(self.grid_breaks)}


def grid_beats_standard(evaluation: StoredEvaluation, grid_rows: Iterable[dict[str, Any]]) -> list[int]:
    """Inputs the standard evaluation leaves robust that some white-box grid row breaks (on the
    evaluation's first ``n`` inputs). ``ValueError`` when the rows' labels do not match the
    evaluation's (the inputs are not the same)."""
    rows = [r for r in grid_rows if scenario_kind(r["scenario"]) == "white-box"]
    if not rows:
        return []
    n = evaluation.n
    for r in rows:
        if list(r["per_input"]["label"][:n]) != evaluation.labels:
            raise ValueError(f"rows: cell {r.get('id')} of {evaluation.target} does not attack the inputs of the "
                             f"standard evaluation {evaluation.id} (labels differ); they cannot be compared")
    broken = broken_mask(evaluation.labels, [list(r["per_input"]["adv_pred"][:n]) for r in rows])
    return [i for i in range(n) if evaluation.robust[i] and broken[i]]


def quotes(rows: Iterable[dict[str, Any]], evaluations: Iterable[dict[str, Any]],
           errors: list[str] | None = None) -> list[Quote]:
    """The number to quote for every key that has a stored standard evaluation or white-box grid rows."""
    rows = list(rows)
    grid = {(h.experiment, h.target, h.norm, eps_key(h.eps)): h for h in headline(rows, errors=errors)}
    by_key: dict[tuple, list[dict]] = {}
    for r in rows:
        by_key.setdefault(budget_key(r), []).append(r)
    out: dict[tuple, Quote] = {}
    stored: dict[tuple, StoredEvaluation] = {}
    for entry in evaluations:
        ev = StoredEvaluation.from_stored(entry)
        if entry["result"].get("minimal"):
            ev = dataclasses.replace(ev, version=f"{ev.version}, minimal")
        if ev.key in stored:
            try:
                ev = stored[ev.key].combined(ev)
            except ValueError as exc:
                if errors is None:
                    raise
                errors.append(str(exc))
                continue
        stored[ev.key] = ev
    for ev in stored.values():
        quote = Quote(ev.experiment, ev.target, ev.norm, ev.eps, evaluation=ev, grid=grid.get(ev.key))
        try:
            quote.grid_breaks = grid_beats_standard(ev, by_key.get(ev.key, []))
        except ValueError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
        out[ev.key] = quote
    for key, h in grid.items():
        out.setdefault(key, Quote(h.experiment, h.target, h.norm, h.eps, grid=h))
    return sorted(out.values(), key=lambda q: (q.experiment, q.target, q.norm, -1.0 if q.eps is None else q.eps))


GRID_BEATS_ADVICE = ("the standard evaluation missed an attack that works on these inputs: quote the per-input worst "
                     "case of both, and report the stage that is missing (a weaker budget or estimator?)")


def quote_flags(items: Iterable[Quote]) -> list[Flag]:
    """``grid-beats-standard``: a white-box grid cell breaks inputs the standard evaluation left robust."""
    flags = []
    for q in items:
        if q.evaluation is None or not q.grid_breaks:
            continue
        combined = q.n_robust - len(q.grid_breaks)
        flags.append(Flag(
            "grid-beats-standard", "high",
            f"{q.target} at {norm_name(q.norm)} eps={q.eps:g}: {len(q.grid_breaks)} input(s) robust under the "
            f"{q.evaluation.kind} are broken by a white-box grid cell (robust accuracy {q.robust_accuracy:.1%} from "
            f"the {q.evaluation.kind}, {combined / q.n:.1%} with the grid's breaks)",
            GRID_BEATS_ADVICE, (q.evaluation.id,), (f"inputs: {q.grid_breaks[:20]}",)))
    return flags

"""The number to quote: robust accuracy as the per-input worst case over everything (AutoAttack's rule).

Per (experiment, target, threat model, eps) an input is *robust* only when the target classifies
it correctly on the clean input **and** after every white-box cell at that budget: every attack
x every estimator (x every restart: an attack with restarts already keeps, per input, a restart
that fooled the target, so the stored ``adv_pred`` of a cell is its worst restart). Croce & Hein
(ICML 2020, AutoAttack) count robust accuracy this way; the minimum over attacks of per-attack
numbers (:func:`.worstcase.per_attack_minimum`) is kept as a breakdown and can only be higher:

    robust = #{i : clean_pred_c(i) = y_i and adv_pred_c(i) = y_i for every cell c} / n.

"incl. transfer" is the same count with the black-box and cross cells of the target added.
The worst-case ASR is ``1 - robust / n_correct`` over the clean-correct inputs (an input counts
as broken when any cell's example is misclassified). Every rate carries a 95% Clopper-Pearson
interval; the strongest estimator is named only when an exact McNemar test on the same inputs
says it broke more inputs than every other estimator (each estimator's success = broken by
some white-box gradient attack crafted with it; gradient-free attacks such as the noise baseline
take part in the headline but not in this comparison), otherwise the estimators within the
noise are a tie.

Cells are combined per input only within one threat model (:func:`.worstcase.threat_model`):
an L2 and an Linf budget of the same size are different numbers. Inputs are aligned by
position; a misaligned set of cells raises :class:`ValueError` (or is reported in ``errors``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from .robust import broken_mask, clean_correct, robust_mask
from .rows import budget_key, eps_key, estimator_label, scenario_kind
from .statistics import clopper_pearson
from .worstcase import (WorstCase, aligned_labels, estimator_order, per_attack_minimum, strongest, strongest_label,
                        worst_case_groups)


NO_GRADIENT = ("none",)  # the random-noise baseline's estimator column
GRADIENT_FREE = ("noise", "square", "boundary")  # attacks that use no estimator: not in the estimator comparison


@dataclass
class Headline:
    """Per-input worst case of one (experiment, target, norm, eps); rates in [0, 1], intervals 95% Clopper-Pearson."""

    experiment: str
    target: str
    norm: str
    eps: float | None
    n: int
    n_correct: int
    n_robust: int
    attacks: list[str]
    estimators: list[str]
    cells: list[str]
    strongest: list[str] = field(default_factory=list)
    tie: bool = False
    unique_per_attack: dict[str, int] = field(default_factory=dict)
    per_attack_minimum: float | None = None
    per_attack_minimum_ci: list[float] | None = None
    weakest_attack: str | None = None
    transfer_cells: list[str] = field(default_factory=list)
    n_robust_incl_transfer: int | None = None

    @property
    def clean_accuracy(self) -> float:
        return self.n_correct / self.n if self.n else 0.0

    @property
    def robust_accuracy(self) -> float:
        return self.n_robust / self.n if self.n else 0.0

    @property
    def asr(self) -> float | None:
        return (self.n_correct - self.n_robust) / self.n_correct if self.n_correct else None

    @property
    def robust_accuracy_incl_transfer(self) -> float:
        count = self.n_robust if self.n_robust_incl_transfer is None else self.n_robust_incl_transfer
        return count / self.n if self.n else 0.0

    @property
    def strongest_estimator(self) -> str | None:
        return strongest_label(self.strongest, self.tie)

    def intervals(self) -> dict[str, list[float] | None]:
        incl = self.n_robust if self.n_robust_incl_transfer is None else self.n_robust_incl_transfer
        return {"clean_accuracy_ci": list(clopper_pearson(self.n_correct, self.n)),
                "robust_accuracy_ci": list(clopper_pearson(self.n_robust, self.n)),
                "asr_ci": list(clopper_pearson(self.n_correct - self.n_robust, self.n_correct)) if self.n_correct
                else None,
                "robust_accuracy_incl_transfer_ci": list(clopper_pearson(incl, self.n))}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"clean_accuracy": self.clean_accuracy, "robust_accuracy": self.robust_accuracy,
                               "asr": self.asr, "robust_accuracy_incl_transfer": self.robust_accuracy_incl_transfer,
                               "strongest_estimator": self.strongest_estimator} | self.intervals()


_key = budget_key


def _robust_flags(rows: list[dict[str, Any]], labels: list[int]) -> list[bool]:
    return robust_mask(labels, [r["per_input"]["clean_pred"] for r in rows], [r["per_input"]["adv_pred"] for r in rows])


def per_input_worst_case(rows: list[dict[str, Any]], transfer: list[dict[str, Any]] = (),
                         groups: Iterable[WorstCase] = ()) -> Headline:
    """The :class:`Headline` of one key's white-box ``rows`` (``transfer``: its black-box/cross rows).

    ``groups``: the per-attack worst cases of these rows (for the breakdown columns; computed
    when empty). ValueError when the rows span several keys or their inputs are not aligned.
    """
    rows, transfer = list(rows), list(transfer)
    if not rows:
        raise ValueError("rows: expected at least one white-box row")
    keys = {_key(r) for r in rows + transfer}
    if len(keys) != 1 or any(scenario_kind(r["scenario"]) != "white-box" for r in rows) or any(
            scenario_kind(r["scenario"]) == "white-box" for r in transfer):
        raise ValueError("rows: expected the white-box rows (and transfer: the other rows) of one "
                         f"(experiment, target, norm, eps), got keys {sorted(map(str, keys))}")
    key = keys.pop()
    n, labels = aligned_labels(rows + transfer, key)
    clean_ok = clean_correct(labels, [r["per_input"]["clean_pred"] for r in rows])
    correct = [i for i in range(n) if clean_ok[i]]
    robust = _robust_flags(rows, labels)
    broken: dict[str, list[bool]] = {}  # per estimator: misclassified after some attack crafted with it
    by_attack: dict[str, list[bool]] = {}
    for r in rows:
        fooled = broken_mask(labels, [r["per_input"]["adv_pred"]])
        wrong = [fooled[i] for i in correct]
        if r["grad"] not in NO_GRADIENT and r["attack"].split("@")[0] not in GRADIENT_FREE:
            label = estimator_label(r)
            broken[label] = [a or b for a, b in zip(broken.get(label, [False] * len(correct)), wrong)]
        by_attack[r["attack"]] = [a or b for a, b in zip(by_attack.get(r["attack"], [False] * len(correct)), wrong)]
    unique = {a: sum(flags[j] and not any(o[j] for b, o in by_attack.items() if b != a) for j in range(len(correct)))
              for a, flags in by_attack.items()}
    best, tie = strongest({k: broken[k] for k in sorted(broken, key=estimator_order)})
    groups = [g for g in groups if (g.experiment, g.target, g.norm, eps_key(g.eps)) == key] or \
        worst_case_groups(rows, scenarios=["white-box"], errors=[])
    minimum = per_attack_minimum(groups)
    experiment, target, norm, _ = key
    return Headline(
        experiment=experiment, target=target, norm=norm, eps=None if rows[0]["eps"] is None else float(rows[0]["eps"]),
        n=n, n_correct=len(correct), n_robust=sum(robust), attacks=sorted(by_attack),
        estimators=sorted(broken, key=estimator_order), cells=[r["id"] for r in rows], strongest=best, tie=tie,
        unique_per_attack=unique,
        per_attack_minimum=minimum[0]["robust_accuracy"] if minimum else None,
        per_attack_minimum_ci=minimum[0]["robust_accuracy_ci"] if minimum else None,
        weakest_attack=minimum[0]["attack"] if minimum else None,
        transfer_cells=[r["id"] for r in transfer],
        n_robust_incl_transfer=sum(_robust_flags(rows + transfer, labels)) if transfer else None)


def headline(rows: Iterable[dict[str, Any]], errors: list[str] | None = None) -> list[Headline]:
    """:func:`per_input_worst_case` of every (experiment, target, norm, eps) that has white-box rows.

    With ``errors`` (a list) a key whose inputs cannot be aligned is skipped and its message
    appended instead of raising.
    """
    white: dict[tuple, list[dict]] = {}
    other: dict[tuple, list[dict]] = {}
    rows = list(rows)
    for r in rows:
        (white if scenario_kind(r["scenario"]) == "white-box" else other).setdefault(_key(r), []).append(r)
    groups = worst_case_groups(rows, scenarios=["white-box"], errors=[])
    out = []
    for key, members in white.items():
        try:
            out.append(per_input_worst_case(members, other.get(key, []), groups))
        except ValueError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return sorted(out, key=lambda h: (h.experiment, h.target, h.norm, -1.0 if h.eps is None else h.eps))

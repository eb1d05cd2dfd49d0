"""Worst case over gradient estimators, per attack: the per-attack breakdown.

Every estimator (STBP, BPTR, RGA, HART, CBA) crafts its own adversarial example for each
test input. An input counts as *robust* only when the target classifies it correctly on
the clean input **and** after every estimator's adversarial example; the worst-case robust
accuracy is the share of all inputs that are robust in this sense.

Groups are ``(experiment, target, scenario kind, attack, eps, norm)`` cells, where the scenario
kind is ``white-box``, ``black-box`` or ``cross`` (every ``cross:<model>`` source of the
target together): white-box rows are combined only with white-box rows, black-box only with
black-box rows. Inputs are aligned by position (the runner attacks the same first ``limit``
test inputs in every cell); every row of a group must have the same ``n`` and the same
labels, else :class:`ValueError`.

Per group the result holds the worst-case robust accuracy, the worst-case attack success
rate (over the inputs clean-correct in every row: the share some estimator fooled — for a
targeted attack: sent to its target), each estimator's ASR on that same set of inputs, and
per estimator how many inputs it fooled (``fooled``) and how many it alone fooled
(``unique``), and 95% Clopper-Pearson intervals of the rates (:mod:`..evaluation.statistics`).
An estimator is called the *strongest* only when an exact McNemar test on the same inputs
says it fools more than every other one (:func:`strongest`); otherwise the estimators
within the noise of the best are a *tie*.

Note: the per-cell ``robust_accuracy`` of the store counts ``adv_pred == label`` over all
inputs (an input misclassified clean but "repaired" by the perturbation counts); the worst
case additionally requires clean correctness, so it is never above any single estimator's
robust accuracy.

:func:`per_attack_minimum` is the per-attack view: per target and eps the minimum of these
group numbers over the attacks. It is a breakdown only; the number to quote is the per-input
worst case over every attack and estimator at once (:mod:`.headline`), which can only be lower.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from .robust import clean_correct, robust_mask
from .rows import (SCENARIO_KINDS, CellRecord, eps_key, estimator_label, group_key, threat_model)
from .statistics import clopper_pearson, compare_paired

ESTIMATOR_ORDER = ("cba", "bptr", "stbp", "rga", "hart", "exact")


def strongest(success: dict[str, Sequence[bool]], level: float = 0.05) -> tuple[list[str], bool]:
    """The strongest of several attacks/estimators run on the same inputs, or a tie within the noise.

    ``success[name][i]``: whether ``name`` broke input ``i``. The candidate is the one that broke
    the most inputs; it is the strongest (returns ``([name], False)``) only when the exact McNemar
    test (:func:`..evaluation.statistics.compare_paired`, two-sided, ``level``) says it broke
    more than *every* other one. Otherwise returns ``(tied, True)``: the candidate and every
    name not significantly below it. Nothing broken, or a single name (nothing to compare it
    with, e.g. an ANN's one exact gradient): ``([], False)``.
    """
    names = list(success)
    if not names:
        return [], False
    counts = {k: sum(bool(v) for v in success[k]) for k in names}
    best = max(names, key=lambda k: counts[k])
    if counts[best] == 0:
        return [], False
    if len(names) == 1:
        return [], False
    verdicts = {k: compare_paired(success[best], success[k], level=level).verdict for k in names if k != best}
    if all(v == "a" for v in verdicts.values()):
        return [best], False
    return [k for k in names if k == best or verdicts[k] != "a"], True


def strongest_label(names: Sequence[str], tie: bool) -> str | None:
    """``rga``, ``tie: rga = hart`` or None (nothing broken)."""
    if not names:
        return None
    return "tie: " + " = ".join(names) if tie else names[0]


def estimator_order(label: str) -> tuple:
    """Sort key: estimators in the order of the HART tables, then the rest by name."""
    base = label.split(":")[-1].split("(")[0]
    return (ESTIMATOR_ORDER.index(base) if base in ESTIMATOR_ORDER else len(ESTIMATOR_ORDER), label)


@dataclass
class WorstCase:
    """Worst case over the estimators of one (experiment, target, scenario kind, attack, eps) group."""

    experiment: str
    target: str
    scenario: str
    attack: str
    eps: float | None
    n: int
    n_correct: int
    estimators: list[str]
    cells: list[str]
    robust_accuracy: float
    asr: float | None
    per_estimator_asr: dict[str, float | None]
    per_estimator_robust_accuracy: dict[str, float]
    fooled: dict[str, int]
    unique: dict[str, int]
    strongest: list[str] = field(default_factory=list)
    tie: bool = False
    n_robust: int = 0
    n_fooled: int = 0
    norm: str = "linf"

    @property
    def clean_accuracy(self) -> float:
        return self.n_correct / self.n if self.n else 0.0

    @property
    def strongest_estimator(self) -> str | None:
        """The estimator that beats every other beyond the paired noise, ``tie: a = b`` or None."""
        return strongest_label(self.strongest, self.tie)

    @property
    def robust_accuracy_ci(self) -> tuple[float, float]:
        return clopper_pearson(self.n_robust, self.n)

    @property
    def asr_ci(self) -> tuple[float, float] | None:
        return None if self.asr is None else clopper_pearson(self.n_fooled, self.n_correct)

    def per_estimator_asr_ci(self, label: str) -> tuple[float, float] | None:
        if self.per_estimator_asr.get(label) is None:
            return None
        return clopper_pearson(self.fooled[label], self.n_correct)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"clean_accuracy": self.clean_accuracy, "strongest_estimator": self.strongest_estimator,
                               "robust_accuracy_ci": list(self.robust_accuracy_ci),
                               "asr_ci": None if self.asr_ci is None else list(self.asr_ci)}


def aligned_labels(rows: Sequence[dict[str, Any]], group: Any) -> tuple[int, list[int]]:
    """``(n, labels)`` shared by ``rows`` (inputs aligned by position); ValueError naming ``group`` otherwise."""
    ns = {r["metrics"]["n"] for r in rows} | {len(r["per_input"]["label"]) for r in rows}
    if len(ns) != 1:
        cells = ", ".join(f"{r['id']} (n={r['metrics']['n']})" for r in rows)
        raise ValueError(f"rows: the rows of group {group} have different numbers of inputs; "
                         f"inputs cannot be aligned: {cells}")
    labels = rows[0]["per_input"]["label"]
    for r in rows[1:]:
        if r["per_input"]["label"] != labels:
            raise ValueError(f"rows: cell {r['id']} has other labels than cell {rows[0]['id']} at the same positions; "
                             "inputs are not aligned")
    return ns.pop(), labels


def success_flags(row: dict[str, Any]) -> list[bool]:
    """Per input of a row: the attack reached its goal (fooled; targeted: sent to the target class)."""
    return CellRecord.from_row(row).success


def worst_case(rows: list[dict[str, Any]]) -> WorstCase:
    """Worst case over the rows of one group (see the module docstring); ValueError on misaligned rows."""
    rows = list(rows)
    if not rows:
        raise ValueError("rows: expected at least one row of a group")
    keys = {group_key(r) for r in rows}
    if len(keys) != 1:
        raise ValueError("rows: expected rows of one (experiment, target, scenario, attack, eps, norm) group, "
                         f"got {sorted(map(str, keys))}")
    n, labels = aligned_labels(rows, keys.pop())
    with_source = len({r["source"] for r in rows}) > 1
    named: list[tuple[str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for r in rows:
        label = estimator_label(r, with_source)
        if label in seen:  # same estimator twice (e.g. another attack config under the same label)
            seen[label] += 1
            label = f"{label}#{seen[label]}"
        else:
            seen[label] = 1
        named.append((label, r))
    named.sort(key=lambda item: estimator_order(item[0]))

    records = [CellRecord.from_row(r) for _, r in named]
    correct = clean_correct(labels, [c.clean_pred for c in records])
    robust = robust_mask(labels, [c.clean_pred for c in records], [c.adv_pred for c in records])
    success: dict[str, list[bool]] = {}
    still: dict[str, list[bool]] = {}
    for (label, _), record in zip(named, records):
        success[label] = record.success
        still[label] = [record.adv_pred[i] == labels[i] for i in range(n)]
    correct_idx = [i for i in range(n) if correct[i]]
    n_correct = len(correct_idx)
    fooled = {lab: sum(success[lab][i] for i in correct_idx) for lab, _ in named}
    unique = {lab: sum(success[lab][i] and not any(success[o][i] for o, _ in named if o != lab) for i in correct_idx)
              for lab, _ in named}
    any_success = sum(any(success[lab][i] for lab, _ in named) for i in correct_idx)
    per_asr = {lab: (fooled[lab] / n_correct if n_correct else None) for lab, _ in named}
    per_robust = {lab: (sum(still[lab]) / n if n else 0.0) for lab, _ in named}
    best, tie = strongest({lab: [success[lab][i] for i in correct_idx] for lab, _ in named})
    experiment, target, kind, attack, eps, _ = group_key(rows[0])
    return WorstCase(experiment=experiment, target=target, scenario=kind, attack=attack,
                     eps=None if rows[0]["eps"] is None else float(rows[0]["eps"]), n=n, n_correct=n_correct,
                     estimators=[lab for lab, _ in named], cells=[r["id"] for _, r in named],
                     robust_accuracy=sum(robust) / n if n else 0.0,
                     asr=any_success / n_correct if n_correct else None,
                     per_estimator_asr=per_asr, per_estimator_robust_accuracy=per_robust,
                     fooled=fooled, unique=unique, strongest=best, tie=tie, n_robust=sum(robust),
                     n_fooled=any_success, norm=threat_model(rows[0]))


def group_rows(rows: Iterable[dict[str, Any]], scenarios: Iterable[str] | None = None) -> dict[tuple, list[dict]]:
    """Rows by group key, in first-seen order; ``scenarios`` keeps only these kinds."""
    kinds = None if scenarios is None else set(scenarios)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = group_key(r)
        if kinds is not None and key[2] not in kinds:
            continue
        groups.setdefault(key, []).append(r)
    return groups


def worst_case_groups(rows: Iterable[dict[str, Any]], scenarios: Iterable[str] | None = None,
                      errors: list[str] | None = None) -> list[WorstCase]:
    """:func:`worst_case` of every group (``scenarios``: kinds to keep, default all).

    With ``errors`` (a list) a misaligned group is skipped and its message appended
    instead of raising — the report uses this to degrade gracefully.
    """
    out = []
    for group in group_rows(rows, scenarios).values():
        try:
            out.append(worst_case(group))
        except ValueError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    out.sort(key=lambda w: (w.experiment, w.target, SCENARIO_KINDS.index(w.scenario), w.attack,
                            -1.0 if w.eps is None else w.eps))
    return out


def per_attack_minimum(groups: Iterable[WorstCase]) -> list[dict[str, Any]]:
    """The per-attack view (a breakdown, never the headline): per (experiment, target, norm, eps) the
    minimum over white-box attacks of each attack's worst case over estimators.

    Each entry: ``experiment, target, norm, eps, robust_accuracy`` (that minimum), ``robust_accuracy_ci``,
    ``attack`` (the attack attaining it), ``asr`` and ``strongest_estimator`` of that group, ``n``.
    The per-input worst case over every attack (:func:`.headline.headline`) is never above it.
    """
    out: dict[tuple, WorstCase] = {}
    for w in groups:
        if w.scenario != "white-box":
            continue
        key = (w.experiment, w.target, w.norm, eps_key(w.eps))
        best = out.get(key)
        if best is None or w.robust_accuracy < best.robust_accuracy or (
                w.robust_accuracy == best.robust_accuracy and (w.asr or 0) > (best.asr or 0)):
            out[key] = w
    return [{"experiment": w.experiment, "target": w.target, "norm": w.norm, "eps": w.eps,
             "robust_accuracy": w.robust_accuracy, "robust_accuracy_ci": list(w.robust_accuracy_ci), "attack": w.attack,
             "asr": w.asr, "strongest_estimator": w.strongest_estimator, "n": w.n}
            for _, w in sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], -1.0 if kv[1].eps is None
                                                            else kv[1].eps))]

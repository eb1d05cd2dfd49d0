"""Worst case over gradient estimators (DESIGN.md "Scenarios"): the number to quote.

Every estimator (STBP, BPTR, RGA, HART, CBA) crafts its own adversarial example for each
test input. An input counts as *robust* only when the target classifies it correctly on
the clean input **and** after every estimator's adversarial example; the worst-case robust
accuracy is the share of all inputs that are robust in this sense.

Groups are ``(experiment, target, scenario kind, attack, eps)`` cells, where the scenario
kind is ``white-box``, ``black-box`` or ``cross`` (every ``cross:<model>`` source of the
target together): white-box rows are combined only with white-box rows, black-box only with
black-box rows. Inputs are aligned by position (the runner attacks the same first ``limit``
test inputs in every cell); every row of a group must have the same ``n`` and the same
labels, else :class:`ValueError`.

Per group the result holds the worst-case robust accuracy, the worst-case attack success
rate (over the inputs clean-correct in every row: the share some estimator fooled — for a
targeted attack: sent to its target), each estimator's ASR on that same set of inputs, and
per estimator how many inputs it fooled (``fooled``) and how many it alone fooled
(``unique``). The strongest estimator is the one with the highest ASR (ties broken by
``unique``; remaining ties are all named).

Note: the per-cell ``robust_accuracy`` of the store counts ``adv_pred == label`` over all
inputs (an input misclassified clean but "repaired" by the perturbation counts); the worst
case additionally requires clean correctness, so it is never above any single estimator's
robust accuracy.

The headline (:func:`headline`) is, per target and eps, the minimum worst-case robust
accuracy over all white-box groups (every attack) of that target at that eps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

SCENARIO_KINDS = ("white-box", "black-box", "cross")
ESTIMATOR_ORDER = ("cba", "bptr", "stbp", "rga", "hart", "exact")


def scenario_kind(scenario: str) -> str:
    """``white-box`` | ``black-box`` | ``cross`` (for ``cross:<model>``)."""
    return "cross" if scenario.startswith("cross") else scenario


def eps_key(eps: float | None) -> float | None:
    """Epsilons as group keys (robust to float noise from JSON/SQLite round trips)."""
    return None if eps is None else round(float(eps), 12)


def format_eps(eps: float | None) -> str:
    return "—" if eps is None else f"{eps:g}"


def estimator_label(row: dict[str, Any], with_source: bool = False) -> str:
    """The estimator of a row as shown in reports: ``rga``, ``hart(gamma=0.5)``, ``ann:exact``."""
    label = row["grad"]
    params = (row.get("config") or {}).get("grad_params") or {}
    if params:
        label += "(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
    if with_source:
        label = f"{row['source']}:{label}"
    return label


def group_key(row: dict[str, Any]) -> tuple:
    return (row.get("experiment", ""), row["target"], scenario_kind(row["scenario"]), row["attack"],
            eps_key(row["eps"]))


def _order(label: str) -> tuple:
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

    @property
    def clean_accuracy(self) -> float:
        return self.n_correct / self.n if self.n else 0.0

    @property
    def strongest_estimator(self) -> str | None:
        return " = ".join(self.strongest) if self.strongest else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"clean_accuracy": self.clean_accuracy, "strongest_estimator": self.strongest_estimator}


def worst_case(rows: list[dict[str, Any]]) -> WorstCase:
    """Worst case over the rows of one group (see the module docstring); ValueError on misaligned rows."""
    rows = list(rows)
    if not rows:
        raise ValueError("rows: expected at least one row of a group")
    keys = {group_key(r) for r in rows}
    if len(keys) != 1:
        raise ValueError("rows: expected rows of one (experiment, target, scenario, attack, eps) group, "
                         f"got {sorted(map(str, keys))}")
    ns = {r["metrics"]["n"] for r in rows} | {len(r["per_input"]["label"]) for r in rows}
    if len(ns) != 1:
        cells = ", ".join(f"{r['id']} (n={r['metrics']['n']})" for r in rows)
        raise ValueError(f"rows: the rows of group {keys.pop()} have different numbers of inputs; "
                         f"inputs cannot be aligned: {cells}")
    n = ns.pop()
    labels = rows[0]["per_input"]["label"]
    for r in rows[1:]:
        if r["per_input"]["label"] != labels:
            raise ValueError(f"rows: cell {r['id']} has other labels than cell {rows[0]['id']} at the same positions; "
                             "inputs are not aligned")
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
    named.sort(key=lambda item: _order(item[0]))

    correct = [all(r["per_input"]["clean_pred"][i] == labels[i] for _, r in named) for i in range(n)]
    success: dict[str, list[bool]] = {}
    still: dict[str, list[bool]] = {}
    for label, r in named:
        per = r["per_input"]
        target = per.get("target")
        adv = per["adv_pred"]
        if target is None:
            success[label] = [adv[i] != labels[i] for i in range(n)]
        else:
            success[label] = [adv[i] == target[i] for i in range(n)]
        still[label] = [adv[i] == labels[i] for i in range(n)]
    robust = [correct[i] and all(still[lab][i] for lab, _ in named) for i in range(n)]
    correct_idx = [i for i in range(n) if correct[i]]
    n_correct = len(correct_idx)
    fooled = {lab: sum(success[lab][i] for i in correct_idx) for lab, _ in named}
    unique = {lab: sum(success[lab][i] and not any(success[o][i] for o, _ in named if o != lab) for i in correct_idx)
              for lab, _ in named}
    any_success = sum(any(success[lab][i] for lab, _ in named) for i in correct_idx)
    per_asr = {lab: (fooled[lab] / n_correct if n_correct else None) for lab, _ in named}
    per_robust = {lab: (sum(still[lab]) / n if n else 0.0) for lab, _ in named}
    strongest: list[str] = []
    if n_correct:
        best = max((fooled[lab], unique[lab]) for lab, _ in named)
        if best[0] > 0:
            strongest = [lab for lab, _ in named if (fooled[lab], unique[lab]) == best]
    experiment, target, kind, attack, eps = group_key(rows[0])
    return WorstCase(experiment=experiment, target=target, scenario=kind, attack=attack,
                     eps=None if rows[0]["eps"] is None else float(rows[0]["eps"]), n=n, n_correct=n_correct,
                     estimators=[lab for lab, _ in named], cells=[r["id"] for _, r in named],
                     robust_accuracy=sum(robust) / n if n else 0.0,
                     asr=any_success / n_correct if n_correct else None,
                     per_estimator_asr=per_asr, per_estimator_robust_accuracy=per_robust,
                     fooled=fooled, unique=unique, strongest=strongest)


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


def headline(groups: Iterable[WorstCase]) -> list[dict[str, Any]]:
    """Per (experiment, target, eps): the minimum worst-case robust accuracy over all white-box groups.

    Each entry: ``experiment, target, eps, robust_accuracy`` (the number to quote),
    ``asr`` (worst-case ASR of that group), ``attack`` (the group that attains the minimum),
    ``strongest_estimator`` (of that group), ``clean_accuracy``, ``n``, and
    ``any_scenario_robust_accuracy``: the same minimum over white-box, black-box and cross
    groups (lower than the headline only when a transfer attack beats every white-box one —
    see the gradient-masking hygiene flag).
    """
    groups = list(groups)
    out: dict[tuple, dict[str, Any]] = {}
    for w in groups:
        if w.scenario != "white-box":
            continue
        key = (w.experiment, w.target, eps_key(w.eps))
        best = out.get(key)
        if best is None or w.robust_accuracy < best["robust_accuracy"] or (
                w.robust_accuracy == best["robust_accuracy"] and (w.asr or 0) > (best["asr"] or 0)):
            out[key] = {"experiment": w.experiment, "target": w.target, "eps": w.eps,
                        "robust_accuracy": w.robust_accuracy, "asr": w.asr, "attack": w.attack,
                        "strongest_estimator": w.strongest_estimator, "clean_accuracy": w.clean_accuracy, "n": w.n}
    for entry in out.values():
        values = [w.robust_accuracy for w in groups if (w.experiment, w.target, eps_key(w.eps))
                  == (entry["experiment"], entry["target"], eps_key(entry["eps"]))]
        entry["any_scenario_robust_accuracy"] = min(values)
    return sorted(out.values(), key=lambda e: (e["experiment"], e["target"], -1.0 if e["eps"] is None else e["eps"]))


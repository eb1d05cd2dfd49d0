"""The stored cell row: its schema, a typed view of it, and the keys rows are grouped by.

A row is what the runner writes per cell (``ResultsStore.put``) and every analysis reads:
``{"id", "experiment", "target", "source", "scenario", "attack", "grad", "eps", "config",
"metrics", "per_input", "seconds"}``, with ``per_input`` holding ``label``, ``clean_pred``,
``adv_pred``, ``target`` (None when untargeted) and ``vanishing`` (one entry per input, in the
order of the test split). :class:`CellRecord` is the typed read of one row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

SCENARIO_KINDS = ("white-box", "black-box", "cross")


def scenario_kind(scenario: str) -> str:
    """``white-box`` | ``black-box`` | ``cross`` (for ``cross:<model>``)."""
    return "cross" if scenario.startswith("cross") else scenario


def eps_key(eps: float | None) -> float | None:
    """Epsilons as group keys (robust to float noise from JSON/SQLite round trips)."""
    return None if eps is None else round(float(eps), 12)


def format_eps(eps: float | None) -> str:
    return "—" if eps is None else f"{eps:g}"


def attack_base(row: Mapping[str, Any]) -> str:
    """The attack of a row without its grid variant (``spike-bim@uth=2`` -> ``spike-bim``)."""
    return row["attack"].split("@")[0]


def threat_model(row: Mapping[str, Any]) -> str:
    """The norm of a row's budget, spelled as the library does internally: ``linf`` | ``l2``
    (an image attack's ``attack_config["norm"]``), ``l0`` for the event attacks that change
    elements (spike-BIM, SDA, count-frame PGD: their ``describe()`` says ``norm = "L0"``; rows
    stored before it did are recognised by the attack), ``retime`` for the timing-only attack.
    Leaving the package, :func:`.output.norm_name` spells them ``Linf``/``L2``/``L0``/``retime``.
    Rows are only combined per input within one threat model: an L2 and an Linf attack at the
    same numeric eps are different budgets."""
    norm = ((row.get("config") or {}).get("attack_config") or {}).get("norm")
    if norm:
        return str(norm).lower()
    return "l0" if attack_base(row).startswith("spike") else "linf"


def estimator_label(row: Mapping[str, Any], with_source: bool = False) -> str:
    """The estimator of a row as shown in reports: ``rga``, ``hart(gamma=0.5)``, ``ann:exact``."""
    label = row["grad"]
    params = (row.get("config") or {}).get("grad_params") or {}
    if params:
        label += "(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
    if with_source:
        label = f"{row['source']}:{label}"
    return label


def group_key(row: Mapping[str, Any]) -> tuple:
    """``(experiment, target, scenario kind, attack, eps, norm)``: rows of one per-attack group."""
    return (row.get("experiment", ""), row["target"], scenario_kind(row["scenario"]), row["attack"],
            eps_key(row["eps"]), threat_model(row))


def budget_key(row: Mapping[str, Any]) -> tuple:
    """``(experiment, target, norm, eps)``: rows whose per-input outcomes combine into one worst case."""
    return (row.get("experiment", ""), row["target"], threat_model(row), eps_key(row["eps"]))


@dataclass(frozen=True)
class CellRecord:
    """A typed, read-only view of one stored row."""

    id: str
    experiment: str
    target: str
    source: str
    scenario: str
    attack: str
    grad: str
    eps: float | None
    labels: Sequence[int]
    clean_pred: Sequence[int]
    adv_pred: Sequence[int]
    target_class: Sequence[int] | None = None
    flips: Sequence[int] | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "CellRecord":
        per = row.get("per_input") or {}
        return cls(id=str(row.get("id", "")), experiment=row.get("experiment", ""), target=row["target"],
                   source=row.get("source", row["target"]), scenario=row["scenario"], attack=row["attack"],
                   grad=row["grad"], eps=None if row["eps"] is None else float(row["eps"]),
                   labels=per.get("label") or [], clean_pred=per.get("clean_pred") or [],
                   adv_pred=per.get("adv_pred") or [], target_class=per.get("target"), flips=per.get("flips"),
                   metrics=row.get("metrics") or {}, config=row.get("config") or {},
                   seconds=float(row.get("seconds") or 0.0))

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def norm(self) -> str:
        return threat_model({"attack": self.attack, "config": self.config})

    @property
    def kind(self) -> str:
        return scenario_kind(self.scenario)

    @property
    def success(self) -> list[bool]:
        """Per input: the attack reached its goal (fooled; targeted: sent to the target class)."""
        if self.target_class is None:
            return [a != y for a, y in zip(self.adv_pred, self.labels)]
        return [a == t for a, t in zip(self.adv_pred, self.target_class)]


#: metrics every stored row carries (what the tables, intervals, headline and hygiene read)
REQUIRED_METRICS = ("n", "clean_accuracy", "asr", "robust_accuracy", "vanishing")
PER_INPUT_LISTS = ("label", "clean_pred", "adv_pred", "vanishing")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_share(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def row_problems(row: Mapping[str, Any]) -> list[str]:
    """What makes a decoded row unusable (empty when it is sound): the metrics every reader
    needs (``n``, the accuracies and ASR as shares in [0, 1], ``vanishing``) and per-input
    lists of one entry per input, ``n`` of them."""
    problems = []
    metrics, per = row.get("metrics"), row.get("per_input")
    if not isinstance(row.get("config"), dict):
        return [f"config is {type(row.get('config')).__name__}, expected an object"]
    if not isinstance(metrics, dict):
        return [f"metrics is {type(metrics).__name__}, expected an object"]
    if not isinstance(per, dict):
        return [f"per_input is {type(per).__name__}, expected an object"]
    missing = [k for k in REQUIRED_METRICS if k not in metrics]
    if missing:
        problems.append(f"metrics lack {', '.join(missing)}")
    for key in ("n", "vanishing"):
        if key in metrics and not _is_count(metrics[key]):
            problems.append(f"metrics.{key}={metrics[key]!r} (expected a count)")
    for key in ("clean_accuracy", "robust_accuracy", "asr"):
        if key in metrics and not (_is_share(metrics[key]) or (key == "asr" and metrics[key] is None)):
            problems.append(f"metrics.{key}={metrics[key]!r} (expected a share in [0, 1])")
    lists = {k: per.get(k) for k in PER_INPUT_LISTS}
    for optional in ("target", "flips"):
        if per.get(optional) is not None:
            lists[optional] = per[optional]
    for key, values in lists.items():
        if not isinstance(values, list) or not all(_is_int(v) for v in values):
            problems.append(f"per_input.{key} is not a list of integers")
    lengths = {len(v) for v in lists.values() if isinstance(v, list)}
    n = metrics.get("n")
    if len(lengths) > 1 or (_is_count(n) and lengths and lengths != {n}):
        problems.append(f"per_input lists of lengths {sorted(lengths)} for n={n!r}")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int)  # bools are ints here: the vanishing flags are stored as true/false

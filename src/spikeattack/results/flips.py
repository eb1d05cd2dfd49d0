"""Flips of the event attacks (L0 budgets): how few elements fool each input.

An event cell stores per input the elements its adversarial example changed (``per_input.flips``);
on the inputs it fooled these are the flips it needed (SDA's generation-reduction looks for the
fewest: its minimal flips). An event evaluation run with ``minimal`` stores per input the fewest
flips any stage needed (``records[i].minimal_flips``). From either, per attack and estimator:

- ``within(k)``: the share of the clean-correct inputs fooled within ``k`` flips, with its 95%
  Clopper-Pearson interval (``k`` clean-correct inputs out of ``n``: an exact binomial count);
  a cell with a budget ``eps`` reports nothing above it (its attack stopped there);
- the quantiles of the flips of the inputs fooled (lower interpolation: every quantile is a flip
  count some input needed), as :func:`spikeattack.attacks.threat.minimal_quantiles` computes them.

Only white-box, untargeted L0 cells count (not retiming: it moves events); per (experiment,
target, attack, estimator) the cell with the largest budget (none: the largest) is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .rows import estimator_label, scenario_kind, threat_model
from .statistics import clopper_pearson

#: the label of an event evaluation's minimal flips (every stage, per input the fewest)
EVALUATION = "event evaluation"


@dataclass(frozen=True)
class FlipsCurve:
    """The flips one attack with one estimator needed on one target's clean-correct inputs."""

    experiment: str
    target: str
    attack: str
    estimator: str
    eps: float | None      # the cell's budget in elements (None: none)
    n: int                 # clean-correct inputs
    flips: tuple[int, ...]  # of the inputs fooled, ascending
    elements: int | None = None

    @property
    def fooled(self) -> int:
        return len(self.flips)

    def within(self, k: float) -> tuple[float, tuple[float, float]] | None:
        """``(share, 95% interval)`` of the ``n`` inputs fooled within ``k`` flips; None above the budget."""
        if self.eps is not None and k > self.eps + 1e-9:
            return None
        count = sum(f <= k for f in self.flips)
        return (count / self.n if self.n else 0.0), clopper_pearson(count, self.n)

    def quantile(self, q: float) -> int | None:
        """The ``q`` quantile of the flips of the inputs fooled (lower interpolation); None when none was."""
        if not self.flips:
            return None
        return self.flips[max(0, min(len(self.flips) - 1, math.floor(q * (len(self.flips) - 1))))]

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "target": self.target, "attack": self.attack,
                "estimator": self.estimator, "eps": self.eps, "n": self.n, "fooled": self.fooled,
                "median": self.quantile(0.5), "q25": self.quantile(0.25), "q75": self.quantile(0.75),
                "mean": sum(self.flips) / len(self.flips) if self.flips else None, "elements": self.elements}


def _wider(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether row ``a`` has the larger budget (None: unbounded)."""
    return b["eps"] is not None and (a["eps"] is None or a["eps"] > b["eps"])


def cell_curve(row: Mapping[str, Any]) -> FlipsCurve:
    """The flips of one stored event cell."""
    per = row["per_input"]
    flips = []
    correct = 0
    for i, (y, c, a) in enumerate(zip(per["label"], per["clean_pred"], per["adv_pred"])):
        if c != y:
            continue
        correct += 1
        if a != y:
            flips.append(int(per["flips"][i]))
    return FlipsCurve(row.get("experiment", ""), row["target"], row["attack"], estimator_label(row),
                      None if row["eps"] is None else float(row["eps"]), correct, tuple(sorted(flips)),
                      (row.get("config") or {}).get("elements"))


def evaluation_curve(entry: Mapping[str, Any]) -> FlipsCurve:
    """The minimal flips of a stored event evaluation run with ``minimal``."""
    result = entry["result"]
    records = [r for r in result.get("records") or [] if r["clean_pred"] == r["label"]]
    flips = sorted(int(r["minimal_flips"]) for r in records if r.get("minimal_flips") is not None)
    return FlipsCurve(entry["experiment"], entry["target"], EVALUATION, "all stages", None, len(records),
                      tuple(flips), result.get("elements"))


def flips_curves(rows: Iterable[Mapping[str, Any]], evaluations: Iterable[Mapping[str, Any]] = ()
                 ) -> list[FlipsCurve]:
    """Per (experiment, target, attack, estimator) the flips curve of the white-box untargeted event cell
    with the largest budget, then every event evaluation run with ``minimal`` (one per target: the
    first stored)."""
    best: dict[tuple, Mapping[str, Any]] = {}
    for r in rows:
        per = r.get("per_input") or {}
        if (per.get("flips") is None or threat_model(r) != "l0" or scenario_kind(r["scenario"]) != "white-box"
                or per.get("target") is not None):
            continue
        key = (r.get("experiment", ""), r["target"], r["attack"], estimator_label(r))
        if key not in best or _wider(r, best[key]):
            best[key] = r
    curves = [cell_curve(r) for _, r in sorted(best.items(), key=lambda kv: kv[0])]
    seen = set()
    for entry in evaluations:
        key = (entry["experiment"], entry["target"])
        if (entry.get("result") or {}).get("minimal") and key not in seen:
            seen.add(key)
            curves.append(evaluation_curve(entry))
    return curves

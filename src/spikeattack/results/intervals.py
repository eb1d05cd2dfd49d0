"""95% Clopper-Pearson intervals of a stored cell's ASR and robust accuracy.

A cell's rates are binomial proportions: robust accuracy = ``n_robust / n`` (clean-correct
and still correct under attack, :func:`.metrics.summarize`), ASR = ``n_success / n_correct``
over the clean-correct inputs. The counts come from the stored per-input predictions; a row
without them (an older or hand-made row) falls back to ``rate * denominator`` rounded, which
is exact for rates that were computed as counts over ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .statistics import clopper_pearson
from .rows import CellRecord


@dataclass(frozen=True)
class CellCounts:
    """The counts behind one cell's rates."""

    n: int
    n_correct: int
    n_robust: int
    n_success: int

    @property
    def robust_accuracy_ci(self) -> tuple[float, float]:
        return clopper_pearson(self.n_robust, self.n)

    @property
    def asr_ci(self) -> tuple[float, float] | None:
        return clopper_pearson(self.n_success, self.n_correct) if self.n_correct else None


def cell_counts(row: dict[str, Any]) -> CellCounts | None:
    """The counts of ``row`` (from ``per_input`` when stored, else from its metrics); None without ``n``."""
    per = row.get("per_input") or {}
    if per.get("label") is not None and per.get("clean_pred") is not None and per.get("adv_pred") is not None:
        labels, clean, adv = per["label"], per["clean_pred"], per["adv_pred"]
        correct = [c == y for c, y in zip(clean, labels)]
        success = CellRecord.from_row(row).success
        return CellCounts(n=len(labels), n_correct=sum(correct),
                          n_robust=sum(ok and a == y for ok, a, y in zip(correct, adv, labels)),
                          n_success=sum(ok and s for ok, s in zip(correct, success)))
    m = row.get("metrics") or {}
    n = m.get("n")
    if not n:
        return None
    n_correct = round((m.get("clean_accuracy") if m.get("clean_accuracy") is not None else 1.0) * n)
    return CellCounts(n=n, n_correct=n_correct, n_robust=round((m.get("robust_accuracy") or 0.0) * n),
                      n_success=round((m.get("asr") or 0.0) * n_correct))


def cell_intervals(row: dict[str, Any]) -> dict[str, list[float] | None]:
    """``{"asr_ci": [low, high] | None, "robust_accuracy_ci": [low, high] | None}`` of ``row``."""
    counts = cell_counts(row)
    if counts is None:
        return {"asr_ci": None, "robust_accuracy_ci": None}
    asr = counts.asr_ci
    return {"asr_ci": None if asr is None else list(asr), "robust_accuracy_ci": list(counts.robust_accuracy_ci)}

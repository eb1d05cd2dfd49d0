"""Numbers as the report prints them: percentages with their 95% Clopper-Pearson interval.

``45.0 [38.1, 52.1]`` is a rate of 45.0% whose exact binomial 95% interval
(:func:`spikeattack.evaluation.statistics.clopper_pearson`) runs from 38.1% to 52.1%.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..intervals import cell_counts


def pct(value: float | None, digits: int = 2) -> str | None:
    """``0.4512`` -> ``"45.12"``; None stays None (printed as ``—``)."""
    return None if value is None else f"{100 * value:.{digits}f}"


def with_ci(value: float | None, ci: Sequence[float] | None, digits: int = 1) -> str | None:
    """``45.0 [38.1, 52.1]`` (percent); just the value when there is no interval."""
    if value is None:
        return None
    if ci is None:
        return pct(value, digits)
    return f"{pct(value, digits)} [{pct(ci[0], digits)}, {pct(ci[1], digits)}]"


def cell_asr(row: dict[str, Any]) -> str | None:
    """A stored cell's ASR with its interval."""
    counts = cell_counts(row)
    asr = row["metrics"].get("asr")
    if counts is None or asr is None:
        return pct(asr, 1)
    return with_ci(asr, counts.asr_ci)


def cell_robust(row: dict[str, Any]) -> str | None:
    """A stored cell's robust accuracy with its interval."""
    counts = cell_counts(row)
    value = row["metrics"].get("robust_accuracy")
    if counts is None or value is None:
        return pct(value, 1)
    return with_ci(value, counts.robust_accuracy_ci)


def num(value: float | None) -> str | None:
    return None if value is None else f"{value:.4g}"

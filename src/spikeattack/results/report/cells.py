"""What the report's sections read off a stored cell or model: rates with intervals, sort keys, kinds."""

from __future__ import annotations

from typing import Any

from ..intervals import cell_counts
from ..rows import scenario_kind, threat_model

SCENARIOS = ("white-box", "black-box", "cross")


def asr(row: dict) -> float | None:
    return row["metrics"].get("asr")


def asr_point(row: dict) -> tuple[float | None, list[float] | None]:
    """``(asr, [low, high])`` of a cell (the interval None when its counts are unknown)."""
    counts = cell_counts(row)
    ci = counts.asr_ci if counts is not None else None
    return asr(row), None if ci is None else list(ci)


def sort_eps(eps: float | None) -> float:
    return -1.0 if eps is None else float(eps)


def scenario_rank(scenario: str) -> tuple:
    kind = scenario_kind(scenario)
    return (SCENARIOS.index(kind) if kind in SCENARIOS else 3, scenario)


def is_noise(row: dict) -> bool:
    return row["attack"].split("@")[0] == "noise"


def model_kind(config: dict | None) -> str:
    if not config:
        return "?"
    return "ANN" if config.get("neuron") == "relu" else "SNN"


def model_notes(model: dict[str, Any]) -> str:
    info = model.get("info") or {}
    notes = []
    if "#seed" in model["name"]:
        notes.append("black-box source")
    adv = info.get("adv")
    if adv:
        notes.append("adversarially trained (" + ", ".join(f"{k}={v}" for k, v in adv.items()) + ")")
    if info.get("converted_from"):
        notes.append(f"converted from {info['converted_from']}")
    return "; ".join(notes)


def eps_axis_label(rows: list[dict]) -> str:
    norms = {threat_model(r) for r in rows}
    if norms == {"l0"}:
        return "ε (L0 budget: elements changed per input)"
    norm = "L2" if norms == {"l2"} else "L∞"
    return f"ε ({norm} budget, input units in [0, 1])" if norms <= {"linf", "l2"} else "ε (each threat model's units)"

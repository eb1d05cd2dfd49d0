"""The budgets of an experiment file: ``grid.eps`` per attack (pixel numbers, or the L0 budgets of
the event attacks) and the ``[[evaluate]]`` tables (the standard evaluation on images, the event
evaluation under L0 on event frames)."""

from __future__ import annotations

from typing import Any

from ..attacks import ATTACKS
from .cells import Cell, EvaluationSpec, ModelSpec
from .schema import EVALUATE_KEYS, Checker, kind


def cell_eps(check: Checker, attack: str, value: Any, nth: int) -> float | int | str | None:
    """One ``grid.eps`` entry as the cell's budget for ``attack``: a number for the image attacks
    (and spike-BIM's own size per point); for the L0 event attacks a count of elements (an
    integer), a percentage (``"1%"``) or ``"none"`` (no budget)."""
    from ..attacks.threat import Budget

    cls = ATTACKS[attack]
    l0_words = 'a count of elements (64), a percentage ("1%") or "none"'
    if cls.threat == "L0":
        if isinstance(value, str) and value.strip().lower() == "none":
            return None
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            try:
                return Budget.parse(value, "grid.eps").describe()
            except ValueError as exc:
                raise check.fail("grid.eps", f"{attack}: {exc}".replace("grid.eps: ", ""), "grid", nth) from None
        if cls.l0_eps:
            raise check.fail("grid.eps", f"{attack} takes an L0 budget: {l0_words}; got {kind(value)} {value!r}",
                             "grid", nth)
        return float(check.number(value, "grid.eps", "grid", nth, low=0))  # spike-BIM's size per point
    if isinstance(value, str):
        raise check.fail("grid.eps", f"{attack} takes a number (pixel units), got {value!r}: percentages and \"none\" "
                         "are L0 budgets of the event attacks (sda, count-pgd, spike-bim)", "grid", nth)
    return float(check.number(value, "grid.eps", "grid", nth, low=0))


def check_budget_units(check: Checker, cells: list[Cell]) -> None:
    """Spike-BIM's budgets in one experiment are all its own size per point (numbers such as 0.08)
    or all L0 budgets: stored rows of both would share the threat model L0 with eps in two units."""
    units = {}
    for cell in cells:
        cls = ATTACKS[cell.attack]
        if cls.threat == "L0" and not cls.l0_eps:
            units.setdefault("per point" if isinstance(cell.eps, float) else "L0", cell)
    if len(units) > 1:
        raise check.fail("grid.eps", f"{units['L0'].attack}'s budgets in one experiment are either its own size per "
                         "point (numbers such as 0.08) or L0 budgets (a count of elements, \"1%\", \"none\"), not "
                         "both: their rows would mix two units under one threat model", "grid")


def parse_evaluations(check: Checker, raw: dict, models: dict[str, ModelSpec], sweeps: dict[str, list[str]],
                       data: dict) -> list[EvaluationSpec]:
    """The ``[[evaluate]]`` tables: the standard evaluation (images) or the event evaluation (event
    frames, L0) per target and eps (the number to quote)."""
    tables = raw.get("evaluate", [])
    if not isinstance(tables, list):
        raise check.fail("evaluate", "expected one or more [[evaluate]] tables")
    from ..data import EVENT_DATASETS
    from ..evaluation import VERSIONS
    from ..evaluation.events import VERSIONS as EVENT_VERSIONS

    out: list[EvaluationSpec] = []
    for nth, table in enumerate(tables):
        check.table(table, "evaluate", "evaluate", nth)
        check.keys(table, EVALUATE_KEYS, "evaluate", "evaluate", nth)
        events = data["dataset"] in EVENT_DATASETS
        names = []
        for v in check.strings(table.get("targets", [n for n in sweeps]), "evaluate.targets", "evaluate", nth):
            if v not in sweeps and v not in models:
                raise check.fail("evaluate.targets", f"unknown model {v!r}; valid: {', '.join(sorted(models))}",
                                 "evaluate", nth)
            names += sweeps.get(v, [v])
        eps_values = table.get("eps", ["1%"] if events else [8 / 255])
        eps_values = eps_values if isinstance(eps_values, list) else [eps_values]
        if not eps_values:
            raise check.fail("evaluate.eps", "empty list: nothing to evaluate", "evaluate", nth)
        norm = table.get("norm", "L0" if events else "Linf")
        norms = ("l0",) if events else ("linf", "l2")
        if not isinstance(norm, str) or norm.lower() not in norms:
            expected = ('"L0" (event frames are evaluated under L0 budgets)' if events
                        else '"Linf" or "L2" (L0 is the event evaluation\'s, for event data)')
            raise check.fail("evaluate.norm", f"expected {expected}, got {kind(norm)} {norm!r}", "evaluate", nth)
        if events:
            eps_values = [event_eps(check, e, nth) for e in eps_values]
        else:
            for e in eps_values:
                check.number(e, "evaluate.eps", "evaluate", nth, positive=True)
            eps_values = [float(e) for e in eps_values]
        version = table.get("version", "standard")
        if version not in (EVENT_VERSIONS if events else VERSIONS):
            raise check.fail("evaluate.version", f"expected one of {', '.join(EVENT_VERSIONS if events else VERSIONS)}"
                             f", got {version!r}", "evaluate", nth)
        minimal = table.get("minimal", False)
        if not isinstance(minimal, bool):
            raise check.fail("evaluate.minimal", f"expected true or false, got {kind(minimal)} {minimal!r}",
                             "evaluate", nth)
        if minimal and not events:
            raise check.fail("evaluate.minimal", "minimal flips are measured by the event evaluation (event data)",
                             "evaluate", nth)
        limit = table.get("limit")
        if limit is not None:
            limit = check.integer(limit, "evaluate.limit", "evaluate")
            if limit > data["limit"]:
                raise check.fail("evaluate.limit", f"expected at most data.limit = {data['limit']} (the same first "
                                 "test inputs as the grid)", "evaluate", nth)
        spelled = {"l0": "L0", "l2": "L2", "linf": "Linf"}[norm.lower()]
        for name in names:
            for e in eps_values:
                out.append(EvaluationSpec(name, e, spelled, version, limit, minimal))
    return list(dict.fromkeys(out))


def event_eps(check: Checker, value: Any, nth: int) -> int | str:
    """An ``evaluate.eps`` entry on event data: an L0 budget, a count of elements or a percentage."""
    from ..attacks.threat import Budget

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise check.fail("evaluate.eps", f"expected an L0 budget, a count of elements (64) or a percentage (\"1%\"), "
                         f"got {kind(value)} {value!r}", "evaluate", nth)
    try:
        return Budget.parse(value, "evaluate.eps").describe()
    except ValueError as exc:
        raise check.fail("evaluate.eps", str(exc).replace("evaluate.eps: ", ""), "evaluate", nth) from None

"""What a report is built from: the store's rows, models and analyses, and what is derived from them once."""

from __future__ import annotations

from pathlib import Path

from ..headline import Headline, headline
from ..quote import Quote, quote_flags, quotes
from ..hygiene import Flag, hygiene_flags
from ..rows import eps_key, group_key
from ..worstcase import WorstCase, worst_case_groups
from .document import Document
from .plots import Plotter


class _Names:
    """Target/model names, prefixed by the experiment when a report covers several."""

    def __init__(self, rows: list[dict], models: list[dict]) -> None:
        self.multi = len({r["experiment"] for r in rows} | {m["experiment"] for m in models}) > 1

    def __call__(self, experiment: str, name: str) -> str:
        return f"{experiment}/{name}" if self.multi else name


class ReportContext:
    """Everything the sections read: the store's rows, models and analyses, and what is derived from them
    once (per-attack worst cases, the per-input headline, grouped hygiene flags)."""

    def __init__(self, rows: list[dict], models: list[dict], shuffles: list[dict], plots_dir: Path,
                 evaluations: list[dict] = ()) -> None:
        self.rows, self.models, self.shuffles = rows, models, shuffles
        self.plots = Plotter(plots_dir)
        self.doc = Document()
        self.name = _Names(rows, models)
        self.errors: list[str] = []
        self.groups: list[WorstCase] = worst_case_groups(rows, errors=self.errors)
        self.by_group = {(w.experiment, w.target, w.scenario, w.attack, eps_key(w.eps), w.norm): w for w in self.groups}
        self.headline: list[Headline] = headline(rows, errors=[])
        self.evaluations = list(evaluations)
        self.quotes: list[Quote] = quotes(rows, self.evaluations, errors=self.errors)
        self.flags: list[Flag] = quote_flags(self.quotes) + hygiene_flags(rows, models)
        self.model_by_name = {(m["experiment"], m["name"]): m for m in models}

    def group_of(self, by_label: dict[str, dict]) -> WorstCase | None:
        """The per-attack worst case that holds these rows (one attack, eps, scenario kind of one target)."""
        return self.by_group.get(group_key(next(iter(by_label.values()))))

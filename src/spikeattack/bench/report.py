"""The report of a run: ``report.md``, a self-contained ``report.html`` and PNG plots.

:func:`write_report` reads a results store (see :mod:`.store`) and writes, into ``out_dir``:

- ``report.md`` — GitHub-flavoured Markdown (tables are valid GFM);
- ``report.html`` — the same content, self-contained: inline CSS, every plot embedded
  as a base64 PNG, no external URL;
- ``plots/*.png`` — the figures (matplotlib, Agg canvas; matplotlib is the optional
  ``plots`` extra: without it the report keeps every table and says how to get plots).

Sections: headline (worst case over estimators, white-box: the number to quote), models,
estimator comparison in the layout of Hao et al.'s (ICLR 2024) Tables 2/3, worst case
details, full results (ASR beside robust accuracy), white- vs black-box, cross (ANN vs SNN)
transfer, ASR vs eps, ASR vs decay and vs T (for models that differ only in that field),
spike-shuffle test, evaluation hygiene flags. A section without data says so in one line.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .hygiene import Flag, hygiene_flags
from .store import ResultsStore
from .worstcase import (ESTIMATOR_ORDER, WorstCase, eps_key, estimator_label, format_eps, headline, scenario_kind,
                        worst_case_groups)

HART_COLUMNS = ("cba", "bptr", "stbp", "rga", "hart")
HART_HEADER = ("target", "attack", "eps", "scenario", "CBA", "BPTR", "STBP", "RGA", "HART", "worst case")
PLOTS_HINT = "Plots need matplotlib: `pip install spikeattack[plots]`."
STORE_NAME = "results.sqlite"
COLORS = {"cba": "#8c564b", "bptr": "#ff7f0e", "stbp": "#1f77b4", "rga": "#2ca02c", "hart": "#d62728",
          "exact": "#9467bd"}
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .15em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
img { max-width: 100%; border: 1px solid #ddd; margin: .5em 0; }
figure { margin: 1em 0; }
figcaption { font-size: .85em; color: #555; }
li.high { color: #a00; }
.muted { color: #666; }
"""


# ---------------------------------------------------------------------------------------------- document model
@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    bold: set[tuple[int, int]] = field(default_factory=set)


@dataclass
class Image:
    path: Path
    caption: str


class Document:
    """Blocks rendered both as Markdown and as HTML (one source for both files)."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, Any]] = []

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", (level, text)))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str], classes: list[str] | None = None) -> None:
        self.blocks.append(("ul", (items, classes or [""] * len(items))))

    def table(self, header: Iterable[str], rows: list[list[Any]], numeric: Iterable[bool] | None = None,
              bold: set[tuple[int, int]] | None = None) -> None:
        header = [str(h) for h in header]
        rows = [[_cell(v) for v in r] for r in rows]
        for r in rows:
            if len(r) != len(header):
                raise ValueError(f"table: row of {len(r)} cells under a header of {len(header)}")
        numeric = list(numeric) if numeric is not None else [False] * len(header)
        self.blocks.append(("table", Table(header, rows, numeric, bold or set())))

    def image(self, path: Path, caption: str) -> None:
        self.blocks.append(("img", Image(path, caption)))

    # ----------------------------------------------------------------------------------------- markdown
    def markdown(self, base: Path) -> str:
        out = []
        for kind, value in self.blocks:
            if kind == "h":
                out.append("#" * value[0] + " " + value[1])
            elif kind == "p":
                out.append(value)
            elif kind == "ul":
                out.append("\n".join(f"- {item}" for item in value[0]))
            elif kind == "table":
                out.append(_markdown_table(value))
            elif kind == "img":
                rel = os.path.relpath(value.path, base).replace(os.sep, "/")
                out.append(f"![{_md_alt(value.caption)}]({rel})\n\n*{value.caption}*")
        return "\n\n".join(out) + "\n"

    # ----------------------------------------------------------------------------------------- html
    def html(self, title: str) -> str:
        body = []
        for kind, value in self.blocks:
            if kind == "h":
                level, text = value
                anchor = _slug(text)
                body.append(f'<h{level} id="{anchor}">{_inline(text)}</h{level}>')
            elif kind == "p":
                body.append(f"<p>{_inline(value)}</p>")
            elif kind == "ul":
                items = "".join(f'<li class="{c}">{_inline(i)}</li>' if c else f"<li>{_inline(i)}</li>"
                                for i, c in zip(*value))
                body.append(f"<ul>{items}</ul>")
            elif kind == "table":
                body.append(_html_table(value))
            elif kind == "img":
                data = base64.b64encode(Path(value.path).read_bytes()).decode("ascii")
                body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(value.caption)}">'
                            f"<figcaption>{html.escape(value.caption)}</figcaption></figure>")
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
                + "\n".join(body) + "\n</body>\n</html>\n")


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    return str(value).replace("\n", " ")


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _md_alt(text: str) -> str:
    return text.replace("[", "(").replace("]", ")")


def _markdown_table(t: Table) -> str:
    lines = ["| " + " | ".join(_md_escape(h) for h in t.header) + " |",
             "|" + "|".join("---:" if num else "---" for num in t.numeric) + "|"]
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            c = _md_escape(c)
            cells.append(f"**{c}**" if (i, j) in t.bold and c != "—" else c)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    rows = []
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            text = html.escape(c)
            if (i, j) in t.bold and c != "—":
                text = f"<strong>{text}</strong>"
            cls = ' class="num"' if t.numeric[j] else ""
            cells.append(f"<td{cls}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def _inline(text: str) -> str:
    """The little Markdown used in paragraphs (``**bold**``, ``*italic*``, `` `code` ``) as HTML."""
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)
    return text


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def pct(value: float | None, digits: int = 2) -> str | None:
    return None if value is None else f"{100 * value:.{digits}f}"


# ---------------------------------------------------------------------------------------------- plots
def _matplotlib():
    """(Figure, FigureCanvasAgg) or None when the optional ``plots`` extra is missing.

    The Agg canvas is attached to each figure directly, so no global backend is switched
    (a notebook's pyplot backend is left alone).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


PLOT_PREFIXES = ("asr_vs_", "white_vs_black_")


class Plotter:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mpl = _matplotlib()
        self.names: set[str] = set()
        self.written: list[Path] = []
        if folder.is_dir():  # plots of an earlier report of this folder (only the names this module writes)
            for old in folder.glob("*.png"):
                if old.name.startswith(PLOT_PREFIXES):
                    old.unlink()

    @property
    def available(self) -> bool:
        return self.mpl is not None

    def figure(self, width: float = 6.4, height: float = 4.2):
        Figure, Canvas = self.mpl
        fig = Figure(figsize=(width, height), dpi=110)
        Canvas(fig)
        return fig

    def save(self, fig, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "plot"
        base, k = stem, 1
        while stem in self.names:
            k += 1
            stem = f"{base}_{k}"
        self.names.add(stem)
        path = self.folder / f"{stem}.png"
        fig.tight_layout()
        fig.savefig(path, format="png", metadata={"Software": None})
        self.written.append(path)
        return path


def _color(label: str, index: int) -> str:
    base = label.split(":")[-1].split("(")[0]
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf"]
    return COLORS.get(base, palette[index % len(palette)])


def _eps_axis_label(rows: list[dict]) -> str:
    norms = {((r.get("config") or {}).get("attack_config") or {}).get("norm", "linf") for r in rows}
    norm = "L2" if norms == {"l2"} else "L∞"
    return f"ε ({norm} budget, input units in [0, 1])"


def _order_key(label: str) -> tuple:
    base = label.split(":")[-1].split("(")[0]
    return (ESTIMATOR_ORDER.index(base) if base in ESTIMATOR_ORDER else len(ESTIMATOR_ORDER), label)


# ---------------------------------------------------------------------------------------------- helpers
def _open_store(store_or_path: ResultsStore | str | os.PathLike) -> tuple[ResultsStore, bool]:
    if isinstance(store_or_path, ResultsStore):
        return store_or_path, False
    path = Path(store_or_path)
    if path.is_dir():
        path = path / STORE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"store: no results store at {str(path)!r}")
    return ResultsStore(path), True


def _asr(row: dict) -> float | None:
    return row["metrics"].get("asr")


def _sort_eps(eps: float | None) -> float:
    return -1.0 if eps is None else float(eps)


def _scenario_rank(scenario: str) -> tuple:
    kind = scenario_kind(scenario)
    return (("white-box", "black-box", "cross").index(kind) if kind in ("white-box", "black-box", "cross") else 3,
            scenario)


class _Names:
    """Target/model names, prefixed by the experiment when a report covers several."""

    def __init__(self, rows: list[dict], models: list[dict]) -> None:
        self.multi = len({r["experiment"] for r in rows} | {m["experiment"] for m in models}) > 1

    def __call__(self, experiment: str, name: str) -> str:
        return f"{experiment}/{name}" if self.multi else name


def _model_kind(config: dict | None) -> str:
    if not config:
        return "?"
    return "ANN" if config.get("neuron") == "relu" else "SNN"


def _model_notes(model: dict) -> str:
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


# ---------------------------------------------------------------------------------------------- sweeps
def sweep_families(models: list[dict], field_name: str) -> list[tuple[str, dict[Any, dict]]]:
    """Groups of models that differ only in ``field_name`` (config ``decay`` or ``timesteps``).

    Models are grouped by their config without that field, their adversarial-training and
    conversion origin; a group whose models repeat a value is split by base name (the part
    before ``@``), and dropped if that does not separate them. Returns ``(label, {value: model})``
    for groups with at least two values.
    """
    groups: dict[str, list[dict]] = {}
    for m in models:
        config = dict(m.get("config") or {})
        if field_name not in config:
            continue
        config.pop(field_name)
        info = m.get("info") or {}
        key = json.dumps({"experiment": m["experiment"], "config": config, "adv": info.get("adv"),
                          "converted_from": info.get("converted_from")}, sort_keys=True, default=str)
        groups.setdefault(key, []).append(m)
    out = []
    for members in groups.values():
        values = [m["config"][field_name] for m in members]
        parts = [members] if len(set(values)) == len(values) else _split_by_base(members)
        for part in parts:
            vals = [m["config"][field_name] for m in part]
            if len(part) < 2 or len(set(vals)) != len(vals):
                continue
            bases = sorted({m["name"].split("@")[0] for m in part})
            label = bases[0] if len(bases) == 1 else " / ".join(sorted(m["name"] for m in part))
            out.append((label, {m["config"][field_name]: m for m in sorted(part, key=lambda m: m["config"][field_name])}))
    return sorted(out, key=lambda item: item[0])


def _split_by_base(members: list[dict]) -> list[list[dict]]:
    parts: dict[str, list[dict]] = {}
    for m in members:
        parts.setdefault(m["name"].split("@")[0], []).append(m)
    return list(parts.values())


# ---------------------------------------------------------------------------------------------- builder
class ReportBuilder:
    def __init__(self, rows: list[dict], models: list[dict], shuffles: list[dict], plots_dir: Path,
                 title: str) -> None:
        self.rows = rows
        self.models = models
        self.shuffles = shuffles
        self.plots = Plotter(plots_dir)
        self.doc = Document()
        self.title = title
        self.name = _Names(rows, models)
        self.errors: list[str] = []
        self.groups: list[WorstCase] = worst_case_groups(rows, errors=self.errors)
        self.by_group = {(w.experiment, w.target, w.scenario, w.attack, eps_key(w.eps)): w for w in self.groups}
        self.headline = headline(self.groups)
        self.flags: list[Flag] = hygiene_flags(rows, models)
        self.model_by_name = {(m["experiment"], m["name"]): m for m in models}
        self._noise: dict[tuple, list[dict]] = {}

    def build(self) -> Document:
        d = self.doc
        d.heading(1, self.title)
        experiments = sorted({r["experiment"] for r in self.rows} | {m["experiment"] for m in self.models})
        d.para(f"{len(self.rows)} result cells, {len(self.models)} models"
               + (f", experiment(s): {', '.join(f'`{e}`' for e in experiments)}" if experiments else "")
               + ". ASR = attack success rate over the inputs the target classifies correctly; robust accuracy = "
                 "share of all inputs classified correctly both clean and under attack. Percentages unless stated.")
        for section in (self.section_headline, self.section_models, self.section_estimators, self.section_worst_case,
                        self.section_results, self.section_white_black, self.section_cross, self.section_eps_plots,
                        lambda: self.section_sweep("decay", "ASR vs membrane decay", "membrane decay λ (1.0 = IF)"),
                        lambda: self.section_sweep("timesteps", "ASR vs time steps", "time steps T"),
                        self.section_shuffle, self.section_hygiene):
            section()
        return d

    # ------------------------------------------------------------------------------------------ sections
    def section_headline(self) -> None:
        d = self.doc
        d.heading(2, "Headline: worst-case robust accuracy")
        if not self.headline:
            d.para("No white-box results: no headline number.")
            return
        d.para("**The number to quote.** Per target and eps: the minimum over every white-box attack of the "
               "*worst case over estimators* — an input counts as robust only if the target classifies it correctly "
               "and still does after the adversarial example of *every* gradient estimator. Worst-case ASR is over "
               "the clean-correct inputs. \"incl. transfer\" is the same minimum over white-box, black-box and cross "
               "attacks (lower only when a transfer attack is stronger than every white-box one).")
        header = ["target", "eps", "worst-case robust acc. (%)", "worst-case ASR (%)", "clean acc. (%)",
                  "weakest against", "strongest estimator", "incl. transfer (%)", "n"]
        rows = []
        for h in self.headline:
            rows.append([self.name(h["experiment"], h["target"]), format_eps(h["eps"]), pct(h["robust_accuracy"]),
                         pct(h["asr"]), pct(h["clean_accuracy"]), h["attack"], h["strongest_estimator"],
                         pct(h["any_scenario_robust_accuracy"]), h["n"]])
        d.table(header, rows, [False, True, True, True, True, False, False, True, True])
        per_target: dict[str, list[str]] = {}
        for h in self.headline:
            per_target.setdefault(self.name(h["experiment"], h["target"]), []).append(
                f"{pct(h['robust_accuracy'])}% at eps {format_eps(h['eps'])}")
        d.bullets([f"**{t}**: worst-case robust accuracy " + ", ".join(v) for t, v in per_target.items()])

    def section_models(self) -> None:
        d = self.doc
        d.heading(2, "Models")
        if not self.models:
            d.para("No models recorded in the store.")
            return
        header = ["name", "kind", "arch", "neuron", "decay", "T", "encoding", "clean acc. (%)", "notes"]
        rows = []
        for m in sorted(self.models, key=lambda m: (m["experiment"], m["name"])):
            c = m.get("config") or {}
            snn = _model_kind(c) == "SNN"
            rows.append([self.name(m["experiment"], m["name"]), _model_kind(c), c.get("arch"), c.get("neuron"),
                         c.get("decay") if snn else None, c.get("timesteps") if snn else None, c.get("encoding"),
                         pct(m.get("clean_accuracy")), _model_notes(m) or None])
        d.table(header, rows, [False, False, False, False, True, True, False, True, False])
        d.para("Clean accuracy on the attacked test inputs (the experiment's `limit`).")

    def section_estimators(self) -> None:
        d = self.doc
        d.heading(2, "Estimator comparison (HART Tables 2/3 layout)")
        rows_in = [r for r in self.rows if scenario_kind(r["scenario"]) in ("white-box", "black-box")
                   and r["grad"] != "exact" and not _is_noise(r)]
        if not rows_in:
            d.para("No white- or black-box results crafted with a spiking-gradient estimator.")
            return
        labels = sorted({estimator_label(r) for r in rows_in}, key=_order_key)
        extra = [lab for lab in labels if lab not in HART_COLUMNS]
        header = list(HART_HEADER[:4]) + [c.upper() for c in HART_COLUMNS] + extra + [HART_HEADER[-1]]
        cells: dict[tuple, dict[str, dict]] = {}
        for r in rows_in:
            key = (r["experiment"], r["target"], r["attack"], eps_key(r["eps"]), r["scenario"])
            cells.setdefault(key, {})[estimator_label(r)] = r
        rows, bold = [], set()
        for key in sorted(cells, key=lambda k: (k[0], k[1], k[2], _sort_eps(k[3]), _scenario_rank(k[4]))):
            experiment, target, attack, eps, scenario = key
            by_label = cells[key]
            values = [_asr(by_label[c]) if c in by_label else None for c in list(HART_COLUMNS) + extra]
            wc = self.by_group.get((experiment, target, scenario_kind(scenario), attack, eps))
            row = [self.name(experiment, target), attack, format_eps(eps), scenario] + [pct(v) for v in values]
            row.append(pct(wc.asr) if wc else None)
            present = [v for v in values if v is not None]
            if len(present) >= 2:
                best = max(present)
                bold |= {(len(rows), 4 + j) for j, v in enumerate(values) if v is not None and abs(v - best) < 1e-12}
            rows.append(row)
        d.para("Attack success rate (%) of each gradient estimator crafting the attack (white-box: on the target; "
               "black-box: on a separately trained source of the same configuration). The best estimator per row is "
               "in bold; \"worst case\" is the share of clean-correct inputs fooled by at least one estimator. "
               "\"—\": not run.")
        d.table(header, rows, [False, False, True, False] + [True] * (len(header) - 4), bold)

    def section_worst_case(self) -> None:
        d = self.doc
        d.heading(2, "Worst case over estimators")
        if not self.groups and not self.errors:
            d.para("No results.")
            return
        header = ["target", "scenario", "attack", "eps", "n", "ASR per estimator (%)", "worst-case ASR (%)",
                  "worst-case robust acc. (%)", "strongest", "inputs only it fooled"]
        rows = []
        for w in self.groups:
            rows.append([self.name(w.experiment, w.target), w.scenario, w.attack, format_eps(w.eps), w.n,
                         ", ".join(f"{lab} {pct(v, 1) if v is not None else '—'}" for lab, v in w.per_estimator_asr.items()),
                         pct(w.asr), pct(w.robust_accuracy), w.strongest_estimator,
                         ", ".join(f"{lab} {w.unique[lab]}" for lab in w.estimators)])
        if rows:
            d.para("Per group (target, scenario, attack, eps): an input is robust only if clean-correct and correct "
                   "after every estimator's adversarial example. \"inputs only it fooled\": per estimator, the inputs "
                   "no other estimator fooled.")
            d.table(header, rows, [False, False, False, True, True, False, True, True, False, False])
        if self.errors:
            d.para("Groups skipped (their inputs cannot be aligned):")
            d.bullets(self.errors)

    def section_results(self) -> None:
        d = self.doc
        d.heading(2, "Full results")
        if not self.rows:
            d.para("No results in the store.")
            return
        header = ["target", "source", "scenario", "attack", "estimator", "eps", "n", "clean acc. (%)", "ASR (%)",
                  "robust acc. (%)", "acc. loss (%)", "L∞", "L2", "vanishing"]
        rows = []
        for r in sorted(self.rows, key=lambda r: (r["experiment"], r["target"], r["attack"], _scenario_rank(r["scenario"]),
                                                   _sort_eps(r["eps"]), _order_key(estimator_label(r)))):
            m = r["metrics"]
            rows.append([self.name(r["experiment"], r["target"]), self.name(r["experiment"], r["source"]),
                         r["scenario"], r["attack"], estimator_label(r), format_eps(r["eps"]), m.get("n"),
                         pct(m.get("clean_accuracy")), pct(m.get("asr")), pct(m.get("robust_accuracy")),
                         pct(m.get("accuracy_loss")), _num(m.get("linf")), _num(m.get("l2")), m.get("vanishing")])
        d.para("Every cell, ASR beside robust accuracy. L∞ and L2: mean perturbation size per input; vanishing: "
               "inputs whose input gradient was all zero.")
        d.table(header, rows, [False] * 6 + [True] * 8)

    def section_white_black(self) -> None:
        d = self.doc
        d.heading(2, "White-box vs black-box")
        white = {(r["experiment"], r["target"], r["attack"], estimator_label(r), eps_key(r["eps"])): r
                 for r in self.rows if r["scenario"] == "white-box"}
        pairs = []
        for r in self.rows:
            if r["scenario"] != "black-box":
                continue
            w = white.get((r["experiment"], r["target"], r["attack"], estimator_label(r), eps_key(r["eps"])))
            if w is not None:
                pairs.append((w, r))
        if not pairs:
            d.para("No black-box results with a white-box counterpart (add \"black-box\" to a grid's scenarios).")
            return
        pairs.sort(key=lambda p: (p[0]["experiment"], p[0]["target"], p[0]["attack"], _sort_eps(p[0]["eps"]),
                                  _order_key(estimator_label(p[0]))))
        header = ["target", "attack", "estimator", "eps", "white-box ASR (%)", "black-box ASR (%)",
                  "white-box robust acc. (%)", "black-box robust acc. (%)", "black-box source"]
        rows = [[self.name(w["experiment"], w["target"]), w["attack"], estimator_label(w), format_eps(w["eps"]),
                 pct(_asr(w)), pct(_asr(b)), pct(w["metrics"].get("robust_accuracy")),
                 pct(b["metrics"].get("robust_accuracy")), self.name(b["experiment"], b["source"])] for w, b in pairs]
        d.para("The same attack and estimator crafted on the target (white-box) and on a separately trained source "
               "(black-box transfer), judged by the target. Black-box ASR above white-box ASR is a gradient-masking "
               "sign (see the hygiene section).")
        d.table(header, rows, [False, False, False, True, True, True, True, True, False])
        if not self.plots.available:
            d.para(PLOTS_HINT)
            return
        by_target: dict[tuple, list] = {}
        for w, b in pairs:
            by_target.setdefault((w["experiment"], w["target"], w["attack"]), []).append((w, b))
        for (experiment, target, attack), items in by_target.items():
            path = self._plot_white_black(self.name(experiment, target), attack, items)
            d.image(path, f"White- vs black-box ASR on {self.name(experiment, target)}, {attack} "
                          "(same estimator and eps; one panel per eps).")

    def section_cross(self) -> None:
        d = self.doc
        d.heading(2, "Cross-model transfer (ANN vs SNN)")
        cross = [r for r in self.rows if r["scenario"].startswith("cross")]
        if not cross:
            d.para("No cross results (a grid's `cross = [...]` crafts on other models, e.g. an ANN against the SNN).")
            return
        best_white: dict[tuple, dict] = {}
        for r in self.rows:
            if r["scenario"] == "white-box" and _asr(r) is not None:
                key = (r["experiment"], r["target"], r["attack"], eps_key(r["eps"]))
                if key not in best_white or _asr(r) > _asr(best_white[key]):
                    best_white[key] = r
        header = ["target", "target kind", "source", "source kind", "attack", "estimator", "eps", "ASR (%)",
                  "robust acc. (%)", "best white-box ASR (%)"]
        rows = []
        for r in sorted(cross, key=lambda r: (r["experiment"], r["target"], r["source"], r["attack"], _sort_eps(r["eps"]),
                                               _order_key(estimator_label(r)))):
            t = self.model_by_name.get((r["experiment"], r["target"]))
            s = self.model_by_name.get((r["experiment"], r["source"]))
            bw = best_white.get((r["experiment"], r["target"], r["attack"], eps_key(r["eps"])))
            rows.append([self.name(r["experiment"], r["target"]), _model_kind(t and t["config"]),
                         self.name(r["experiment"], r["source"]), _model_kind(s and s["config"]), r["attack"],
                         estimator_label(r), format_eps(r["eps"]), pct(_asr(r)), pct(r["metrics"].get("robust_accuracy")),
                         None if bw is None else f"{pct(_asr(bw))} ({estimator_label(bw)})"])
        d.para("Adversarial examples crafted on another model (ANN-crafted against an SNN, SNN-crafted against an "
               "ANN, ...) and judged by the target, beside the target's strongest white-box estimator.")
        d.table(header, rows, [False, False, False, False, False, False, True, True, True, False])

    def section_eps_plots(self) -> None:
        d = self.doc
        d.heading(2, "ASR vs eps")
        series: dict[tuple, list[dict]] = {}
        noise: dict[tuple, list[dict]] = {}
        for r in self.rows:
            if r["eps"] is None:
                continue
            if _is_noise(r):
                noise.setdefault((r["experiment"], r["target"]), []).append(r)
            else:
                series.setdefault((r["experiment"], r["target"], r["attack"], r["scenario"]), []).append(r)
        for (experiment, target), rows in noise.items():  # no white-box figure to overlay it on: its own figure
            if not any(k[:2] == (experiment, target) and k[3] == "white-box" for k in series):
                series[(experiment, target, rows[0]["attack"], rows[0]["scenario"])] = rows
        self._noise = noise
        if not series:
            d.para("No results with an eps budget.")
            return
        if not self.plots.available:
            d.para(PLOTS_HINT)
            return
        d.para("One figure per target, attack and scenario; one line per estimator; dashed black: worst case over "
               "estimators; dotted grey (white-box figures, when run): the random-noise baseline of the same size.")
        for key in sorted(series, key=lambda k: (k[0], k[1], k[2], _scenario_rank(k[3]))):
            experiment, target, attack, scenario = key
            path = self._plot_eps(key, series[key])
            d.image(path, f"ASR vs eps: {self.name(experiment, target)}, {attack}, {scenario}.")

    def section_sweep(self, field_name: str, title: str, axis: str) -> None:
        d = self.doc
        d.heading(2, title)
        families = sweep_families(self.models, field_name)
        found = []
        for label, members in families:
            names = {m["name"]: value for value, m in members.items()}
            experiment = next(iter(members.values()))["experiment"]
            rows = [r for r in self.rows if r["experiment"] == experiment and r["target"] in names
                    and scenario_kind(r["scenario"]) in ("white-box", "black-box") and _asr(r) is not None]
            values = sorted(members)
            if len({names[r["target"]] for r in rows}) >= 2:
                found.append((label, experiment, values, names, rows))
        if not found:
            d.para(f"No models that differ only in {field_name} (sweep it in the experiment, e.g. "
                   f"`{field_name} = [{'0.5, 1.0' if field_name == 'decay' else '4, 8'}]`).")
            return
        short = "λ" if field_name == "decay" else "T"
        for label, experiment, values, names, rows in found:
            table: dict[tuple, dict] = {}
            for r in rows:
                key = (r["attack"], r["scenario"], estimator_label(r), eps_key(r["eps"]))
                table.setdefault(key, {})[names[r["target"]]] = _asr(r)
            header = ["attack", "scenario", "estimator", "eps"] + [f"{short}={v:g}" if isinstance(v, (int, float))
                                                                  else f"{short}={v}" for v in values]
            out = []
            for key in sorted(table, key=lambda k: (k[0], _scenario_rank(k[1]), _order_key(k[2]), _sort_eps(k[3]))):
                out.append([key[0], key[1], key[2], format_eps(key[3])] + [pct(table[key].get(v)) for v in values])
            d.para(f"**{self.name(experiment, label)}** ({', '.join(sorted(names))}): ASR (%) per {field_name}.")
            d.table(header, out, [False, False, False, True] + [True] * len(values))
            if not self.plots.available:
                d.para(PLOTS_HINT)
                continue
            white = [r for r in rows if r["scenario"] == "white-box"]
            for attack in sorted({r["attack"] for r in white}):
                path = self._plot_sweep(self.name(experiment, label), attack, [r for r in white if r["attack"] == attack],
                                        names, values, axis, field_name)
                d.image(path, f"White-box ASR vs {field_name}: {self.name(experiment, label)}, {attack}.")

    def section_shuffle(self) -> None:
        d = self.doc
        d.heading(2, "Spike-shuffle test")
        if not self.shuffles:
            d.para("No spike-shuffle analysis in the store (set `[analyses] spike_shuffle = true`).")
            return
        rows = []
        for a in sorted(self.shuffles, key=lambda a: (a["experiment"], a["subject"])):
            res = a["result"]
            change = res.get("change")
            rows.append([self.name(a["experiment"], a["subject"]), pct(res.get("accuracy")),
                         pct(res.get("shuffled_accuracy")), None if change is None else f"{100 * change:+.2f}"])
        d.para("Bu et al. (CVPR 2023) Sec. 4.1: every spiking layer's spikes are shuffled over time (rates unchanged). "
               "A small accuracy change means the network is rate-coded — what the rate-path estimators (RGA, HART, "
               "BPTR, CBA) assume; a large drop means temporal information matters and STBP/HART may be stronger.")
        d.table(["model", "accuracy (%)", "shuffled accuracy (%)", "change (points)"], rows, [False, True, True, True])

    def section_hygiene(self) -> None:
        d = self.doc
        d.heading(2, "Evaluation hygiene")
        if not self.rows:
            d.para("No results to check.")
            return
        if not self.flags:
            d.para("No hygiene flags: no vanishing gradients above 5%, no stochastic encoder attacked without EOT, no "
                   "transfer or random-noise attack beating a white-box one, and white-box ASR rises with eps to "
                   "at least 90%.")
            return
        d.para(f"{len(self.flags)} flag(s), most severe first. Each names the cells involved; a flag is a reason to "
               "look, not a verdict (with few inputs a one-input difference can raise one).")
        items, classes = [], []
        for f in self.flags:
            cells = list(f.cells)
            shown = "; ".join(cells[:8]) + (f"; (+{len(cells) - 8} more)" if len(cells) > 8 else "")
            items.append(f"**[{f.severity}] {f.name}**: {f.message}. *Advice:* {f.advice}."
                         + (f" Cells: {shown}." if shown else ""))
            classes.append(f.severity)
        d.bullets(items, classes)

    # ------------------------------------------------------------------------------------------ plots
    def _plot_eps(self, key: tuple, rows: list[dict]) -> Path:
        experiment, target, attack, scenario = key
        fig = self.plots.figure()
        ax = fig.add_subplot()
        by_label: dict[str, dict[float, float]] = {}
        noise_only = all(_is_noise(r) for r in rows)
        for r in rows:
            if _asr(r) is not None:
                label = "random signs (no gradient)" if noise_only else estimator_label(r)
                by_label.setdefault(label, {})[float(r["eps"])] = _asr(r)
        for i, label in enumerate(sorted(by_label, key=_order_key)):
            pts = sorted(by_label[label].items())
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", color=_color(label, i),
                    label=label.upper() if label in COLORS else label)
        baseline = self._noise.get((experiment, target)) if scenario == "white-box" else None
        if baseline and not noise_only:
            pts = sorted({float(r["eps"]): _asr(r) for r in baseline if _asr(r) is not None}.items())
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], linestyle=":", color="grey", marker="x",
                    label="random noise")
            rows = rows + baseline
        if len(by_label) >= 2:
            wc = sorted((w.eps, w.asr) for w in self.groups if w.experiment == experiment and w.target == target
                        and w.attack == attack and w.scenario == scenario_kind(scenario) and w.eps is not None
                        and w.asr is not None)
            if wc:
                ax.plot([p[0] for p in wc], [100 * p[1] for p in wc], linestyle="--", color="black", marker="s",
                        markersize=4, label="worst case")
        eps_values = sorted({float(r["eps"]) for r in rows})
        if len(eps_values) <= 8:
            ax.set_xticks(eps_values)
            ax.set_xticklabels([format_eps(e) for e in eps_values])
        ax.set_xlabel(_eps_axis_label(rows))
        ax.set_ylabel("attack success rate (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        n = rows[0]["metrics"].get("n")
        sources = {r["source"] for r in rows if not _is_noise(r)}
        via = f" from {self.name(experiment, sources.pop())}" if scenario == "black-box" and len(sources) == 1 else ""
        ax.set_title(f"{self.name(experiment, target)}: {attack}, {scenario}{via}" + (f" (n={n})" if n else ""))
        ax.legend(title="estimator", loc="best", fontsize="small")
        return self.plots.save(fig, f"asr_vs_eps_{self.name(experiment, target)}_{attack}_{scenario}")

    def _plot_white_black(self, target: str, attack: str, pairs: list[tuple[dict, dict]]) -> Path:
        eps_values = sorted({eps_key(w["eps"]) for w, _ in pairs}, key=_sort_eps)
        labels = sorted({estimator_label(w) for w, _ in pairs}, key=_order_key)
        panels = len(eps_values)
        width = min(18.0, max(6.4, panels * (1.0 + 0.55 * len(labels)) + 1.2))
        fig = self.plots.figure(width, 4.2)
        axes = fig.subplots(1, panels, sharey=True, squeeze=False)[0]
        for ax, eps in zip(axes, eps_values):
            by_label = {estimator_label(w): (w, b) for w, b in pairs if eps_key(w["eps"]) == eps}
            xs = list(range(len(labels)))
            white = [100 * (_asr(by_label[lab][0]) or 0) if lab in by_label else 0 for lab in labels]
            black = [100 * (_asr(by_label[lab][1]) or 0) if lab in by_label else 0 for lab in labels]
            ax.bar([x - 0.2 for x in xs], white, width=0.4, label="white-box", color="#1f77b4")
            ax.bar([x + 0.2 for x in xs], black, width=0.4, label="black-box (transfer)", color="#ff7f0e")
            ax.set_xticks(xs)
            ax.set_xticklabels([lab.upper() if lab in COLORS else lab for lab in labels], fontsize="small",
                               rotation=30 if len(labels) > 6 else 0)
            ax.set_title(f"ε = {format_eps(eps)}", fontsize="medium")
            ax.set_xlabel("estimator")
            ax.set_ylim(0, 119)  # headroom above 100% for the legend
            ax.set_yticks(range(0, 101, 20))
            ax.grid(axis="y", alpha=0.3)
        axes[0].set_ylabel("attack success rate (%)")
        axes[0].legend(loc="upper center", ncol=2, fontsize="small")
        fig.suptitle(f"{target}: {attack}, white-box vs black-box ASR")
        return self.plots.save(fig, f"white_vs_black_{target}_{attack}")

    def _plot_sweep(self, family: str, attack: str, rows: list[dict], names: dict[str, Any], values: list,
                    axis: str, field_name: str) -> Path:
        fig = self.plots.figure()
        ax = fig.add_subplot()
        lines: dict[tuple, dict] = {}
        for r in rows:
            lines.setdefault((estimator_label(r), eps_key(r["eps"])), {})[names[r["target"]]] = _asr(r)
        styles, markers = ["-", "--", ":", "-."], ["o", "s", "^", "D", "v"]
        eps_values = sorted({k[1] for k in lines}, key=_sort_eps)
        labels = sorted({k[0] for k in lines}, key=_order_key)
        for label, eps in sorted(lines, key=lambda k: (_order_key(k[0]), _sort_eps(k[1]))):
            pts = sorted(lines[(label, eps)].items())
            j = eps_values.index(eps)
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker=markers[j % len(markers)],
                    color=_color(label, labels.index(label)), linestyle=styles[j % len(styles)],
                    label=f"{label.upper() if label in COLORS else label}, ε={format_eps(eps)}")
        ax.set_xticks(values)
        ax.set_xlabel(axis)
        ax.set_ylabel("attack success rate (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.set_title(f"{family}: white-box {attack}, ASR vs {field_name}")
        ax.legend(title="estimator, budget", loc="best", fontsize="small")
        return self.plots.save(fig, f"asr_vs_{field_name}_{family}_{attack}")


def _is_noise(row: dict) -> bool:
    return row["attack"].split("@")[0] == "noise"


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:.4g}"


# ---------------------------------------------------------------------------------------------- entry points
def load_report_inputs(store: ResultsStore, experiment: str | None = None) -> tuple[list, list, list]:
    """Rows, models and spike-shuffle analyses of ``experiment`` (all experiments when None)."""
    return (store.rows(experiment=experiment), store.models(experiment),
            store.analyses(experiment=experiment, kind="spike_shuffle"))


def report_headline(store_or_path: ResultsStore | str | os.PathLike, experiment: str | None = None) -> list[dict]:
    """The headline entries (:func:`.worstcase.headline`) of a store, without writing anything."""
    store, owned = _open_store(store_or_path)
    try:
        rows = store.rows(experiment=experiment)
    finally:
        if owned:
            store.close()
    return headline(worst_case_groups(rows, errors=[]))


def write_report(store_path_or_store: ResultsStore | str | os.PathLike, out_dir: str | os.PathLike,
                 experiment: str | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` into ``out_dir``.

    ``store_path_or_store``: a :class:`ResultsStore`, the path of its SQLite file, or a
    run folder holding ``results.sqlite``. ``experiment``: report only this experiment
    (default: every experiment in the store). Returns ``{"markdown", "html", "plots"}``
    paths (``plots`` is the folder; it holds no file when matplotlib is missing).
    """
    store, owned = _open_store(store_path_or_store)
    try:
        rows, models, shuffles = load_report_inputs(store, experiment)
    finally:
        if owned:
            store.close()
    if experiment is not None and not rows and not models:
        raise ValueError(f"experiment: no results or models named {experiment!r} in the store")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots_dir = out / "plots"
    title = f"Robustness report: {experiment}" if experiment else (
        "Robustness report" + (f": {rows[0]['experiment']}" if rows and len({r['experiment'] for r in rows}) == 1 else ""))
    builder = ReportBuilder(rows, models, shuffles, plots_dir, title)
    doc = builder.build()
    md_path, html_path = out / "report.md", out / "report.html"
    md_path.write_text(doc.markdown(out), encoding="utf-8")
    html_path.write_text(doc.html(title), encoding="utf-8")
    return {"markdown": md_path, "html": html_path, "plots": plots_dir}

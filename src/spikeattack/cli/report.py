"""``spikeattack report`` (write the report of a run) and ``spikeattack results`` (list/filter its cells)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..io import check_output_dir
from ..results.output import norm_name
from .common import add_output_args, budget, emit

from ..results.store import STORE_NAME
RESULT_COLUMNS = ("target", "source", "scenario", "attack", "grad", "eps", "n", "clean_acc", "asr", "asr_95ci",
                  "robust_acc", "robust_95ci", "linf", "l2", "vanishing")


def store_path(run: str) -> Path:
    """``RUN`` is a run folder holding ``results.sqlite`` or the SQLite file itself (never created here)."""
    path = Path(run)
    if path.is_dir():
        path = path / STORE_NAME
        if not path.is_file():
            raise FileNotFoundError(f"RUN: no {STORE_NAME} in the folder {run!r} (run 'spikeattack bench' first)")
        return path
    if not path.is_file():
        raise FileNotFoundError(f"RUN: no run folder or results store at {run!r}")
    return path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write the report of a run (Markdown, self-contained HTML, plots)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write report.md, a self-contained report.html, plots/ (each figure as PNG at 300 dpi, PDF and\n"
                    "SVG) and tables/ (each table as CSV and LaTeX) from a run's results store:\n"
                    "the per-input worst-case robust accuracy over every attack and estimator with its 95% interval\n"
                    "(the number to quote), grouped evaluation-hygiene flags, the per-attack breakdown, the estimator\n"
                    "comparison in the layout of the HART tables, white- vs black-box, cross-model transfer, ASR vs\n"
                    "eps/decay/T and the spike-shuffle test.\n\n"
                    "Example: spikeattack report runs/demo\n"
                    "Example: spikeattack report runs/demo/results.sqlite --experiment demo --out /tmp/rep --json")
    p.add_argument("run", metavar="RUN", help="run folder holding results.sqlite, or the sqlite file itself")
    p.add_argument("--experiment", default=None, metavar="NAME", help="report only this experiment (default: all)")
    p.add_argument("--out", default=None, metavar="DIR", help="folder for the report (default: the run folder)")
    add_output_args(p)
    p.set_defaults(func=run)

    q = sub.add_parser(
        "results", help="list and filter the result cells of a run (table, CSV or JSON)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List the finished cells of a run's results store, filtered by target, attack, estimator,\n"
                    "scenario and eps; as an aligned text table, CSV (columns + metrics) or JSON. ASR and robust\n"
                    "accuracy carry 95% Clopper-Pearson intervals.\n\n"
                    "Example: spikeattack results runs/demo --attack pgd --scenario white-box\n"
                    "Example: spikeattack results runs/demo --grad rga --eps 0.1 --format csv > rga.csv")
    q.add_argument("run", metavar="RUN", help="run folder holding results.sqlite, or the sqlite file itself")
    q.add_argument("--experiment", default=None, metavar="NAME", help="only this experiment")
    q.add_argument("--target", default=None, help="only cells judged by this model")
    q.add_argument("--source", default=None, help="only cells crafted on this model")
    q.add_argument("--attack", default=None, help="only this attack (as stored, e.g. pgd or spike-bim@uth=2)")
    q.add_argument("--grad", default=None, help="only this estimator (stbp, bptr, rga, hart, cba, exact)")
    q.add_argument("--scenario", default=None,
                   help="white-box, black-box, cross (every cross:<model>) or one cross:<model>")
    q.add_argument("--eps", type=budget, default=None,
                   help="only this perturbation budget (a number or a fraction; event cells: a count of elements or "
                        "a percentage such as 1%%)")
    q.add_argument("--format", default="table", choices=("table", "csv", "json"),
                   help="output format (default: table; --json is the same as --format json)")
    add_output_args(q)
    q.set_defaults(func=run_results)


def run(args: argparse.Namespace) -> int:
    from ..results.headline import headline
    from ..results.hygiene import hygiene_flags
    from ..results.quote import quote_flags, quotes
    from ..results.report import write_report
    from ..results.store import ResultsStore

    path = store_path(args.run)
    out = args.out if args.out is not None else str(path.parent)
    check_output_dir(out, "--out" if args.out is not None else "RUN")
    with ResultsStore(path, readonly=True) as store:  # reporting never writes the store
        paths = write_report(store, out, experiment=args.experiment)
        rows, models = store.rows(experiment=args.experiment), store.models(args.experiment)
        evaluations = store.evaluations(experiment=args.experiment)
    heads = [h.to_dict() for h in headline(rows, errors=[])]
    quoted = quotes(rows, evaluations, errors=[])
    flags = quote_flags(quoted) + hygiene_flags(rows, models)
    result = {"store": str(path), "experiment": args.experiment, "report": {k: str(v) for k, v in paths.items()},
              "quote": [q.to_dict() for q in quoted], "headline": heads, "hygiene_flags": len(flags),
              "cells": len(rows)}
    lines = [f"report: {paths['markdown']}", f"html:   {paths['html']}",
             f"plots:  {paths['plots']} (PNG 300 dpi, PDF, SVG)", f"tables: {paths['tables']} (CSV, LaTeX)"]
    if any(q.evaluation is not None for q in quoted):
        lines.append("the number to quote: the standard evaluation [95% CI]:")
        lines += [f"  {quote_line(q.to_dict())}" for q in quoted if q.evaluation is not None]
    if heads:
        lines.append("robust accuracy, per-input worst case over every white-box attack and estimator [95% CI]:")
        lines += [f"  {headline_line(h)}" for h in heads]
    else:
        lines.append("no white-box results: no headline number")
    if flags:
        lines.append(f"{len(flags)} kind(s) of evaluation-hygiene flag: see the report's hygiene section")
    emit(args, "report", result, "\n".join(lines))
    return 0


def quote_line(q: dict) -> str:
    """``snn Linf eps=0.1: 61.00% [53.9, 67.8] (standard evaluation (standard), n=200; grid worst case 68.50%)``."""
    low, high = q["robust_accuracy_ci"]
    norm = norm_name(q["norm"])
    grid = "" if q["grid_robust_accuracy"] is None else f"; grid worst case {100 * q['grid_robust_accuracy']:.2f}%"
    moving = "" if q["converged"] is not False else "; NOT CONVERGED"
    breaks = f"; {len(q['grid_breaks'])} input(s) broken only by the grid" if q["grid_breaks"] else ""
    return (f"{q['target']} {norm} eps={q['eps']:g}: {100 * q['robust_accuracy']:.2f}% [{100 * low:.1f}, "
            f"{100 * high:.1f}] ({q['source']}, n={q['n']}{grid}{breaks}{moving})")


def headline_line(h: dict) -> str:
    """``snn eps=0.1: 70.00% [63.1, 76.3] (clean 98.00%; best single attack pgd 70.50%; strongest estimator
    tie: cba = stbp)`` from a headline entry (:meth:`spikeattack.bench.headline.Headline.to_dict`)."""
    eps = "—" if h["eps"] is None else f"{h['eps']:g}"
    low, high = h["robust_accuracy_ci"]
    single = "" if h["per_attack_minimum"] is None else \
        f"; best single attack {h['weakest_attack']} {100 * h['per_attack_minimum']:.2f}%"
    strongest = "" if h["strongest_estimator"] is None else f"; strongest estimator {h['strongest_estimator']}"
    return (f"{h['target']} eps={eps}: {100 * h['robust_accuracy']:.2f}% [{100 * low:.1f}, {100 * high:.1f}] "
            f"(clean {100 * h['clean_accuracy']:.2f}%{single}{strongest})")


def _matches(row: dict, args: argparse.Namespace) -> bool:
    if args.scenario is not None:
        scenario = row["scenario"]
        if args.scenario == "cross":
            if not scenario.startswith("cross"):
                return False
        elif scenario != args.scenario:
            return False
    if args.eps is not None:
        wanted = _row_budget(row, args.eps)
        if row["eps"] is None or wanted is None or abs(row["eps"] - wanted) > 1e-9:
            return False
    return True


def _row_budget(row: dict, eps: float | str) -> float | None:
    """``--eps`` in the row's units: a percentage (an L0 budget) resolved for the row's elements per
    input (None, matching nothing, for a row without them: an image cell)."""
    if not isinstance(eps, str):
        return eps
    from ..attacks.threat import Budget

    elements = (row.get("config") or {}).get("elements")
    return None if elements is None else Budget.parse(eps, "--eps").resolve(elements)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _fmt_ci(ci: list[float] | None) -> str | None:
    return None if ci is None else f"[{ci[0]:.3f},{ci[1]:.3f}]"


def results_table(rows: list[dict]) -> str:
    """An aligned plain-text table of cells (percent columns as fractions, 4 significant digits)."""
    from ..results.intervals import cell_intervals

    body = []
    for r in rows:
        m, ci = r["metrics"], cell_intervals(r)
        body.append([r["target"], r["source"], r["scenario"], r["attack"], r["grad"], r["eps"], m.get("n"),
                     m.get("clean_accuracy"), m.get("asr"), _fmt_ci(ci["asr_ci"]), m.get("robust_accuracy"),
                     _fmt_ci(ci["robust_accuracy_ci"]), m.get("linf"), m.get("l2"), m.get("vanishing")])
    text = [[_fmt(v) for v in row] for row in body]
    widths = [max([len(h)] + [len(row[i]) for row in text]) for i, h in enumerate(RESULT_COLUMNS)]
    numeric = [False] * 5 + [True] * 10

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)).rstrip()

    return "\n".join([line(list(RESULT_COLUMNS)), line(["-" * w for w in widths])] + [line(row) for row in text])


def run_results(args: argparse.Namespace) -> int:
    from ..results.store import ResultsStore, export_rows

    path = store_path(args.run)
    with ResultsStore(path, readonly=True) as store:  # listing never writes the store
        rows = store.rows(experiment=args.experiment, target=args.target, source=args.source, attack=args.attack,
                          grad=args.grad)
    rows = [r for r in rows if _matches(r, args)]
    fmt = "json" if args.json else args.format
    if fmt == "table":
        print(results_table(rows) if rows else "no cells match")
    elif fmt == "json":
        args.json = True
        emit(args, "results", {"store": str(path), "cells": json.loads(export_rows(rows, "json"))}, "")
    else:
        text = export_rows(rows, fmt, public=True)
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


"""Assembling a report: the data a report is built from, the sections in order, the files written."""

from __future__ import annotations

import os
from pathlib import Path

from ...io import write_text
from ..headline import headline
from ..quote import quotes
from ..store import STORE_NAME, ResultsStore
from .context import ReportContext
from .document import Document, md_escape
from .manifest import MANIFEST_NAME, replace_manifest
from .sections import SECTIONS
from .tables import table_csv, table_latex


def build_document(ctx: ReportContext, title: str) -> Document:
    d = ctx.doc
    d.heading(1, title)
    experiments = sorted({r["experiment"] for r in ctx.rows} | {m["experiment"] for m in ctx.models})
    if not ctx.rows and not ctx.models and not ctx.evaluations:
        d.para("The store holds no results and no models yet: run `spikeattack bench` first.")
        return d
    d.para(f"{len(ctx.rows)} result cells, {len(ctx.models)} models"
           + (f", experiment(s): {', '.join(md_escape(e) for e in experiments)}" if experiments else "")
           + ". ASR = attack success rate over the inputs the target classifies correctly; robust accuracy = "
             "share of all inputs classified correctly both clean and under attack. Percentages; brackets hold "
             "95% Clopper-Pearson intervals. Sections without data are left out. Every table is also in "
             "`tables/` as CSV and LaTeX (booktabs), every figure in `plots/` as PNG (300 dpi), PDF and SVG.")
    for section in SECTIONS:
        section(ctx)
    return d


def _open_store(store_or_path: ResultsStore | str | os.PathLike) -> tuple[ResultsStore, bool]:
    if isinstance(store_or_path, ResultsStore):
        return store_or_path, False
    path = Path(store_or_path)
    if path.is_dir():
        path = path / STORE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"store: no results store at {str(path)!r}")
    return ResultsStore(path, readonly=True), True  # a report never writes the store


def load_report_inputs(store: ResultsStore, experiment: str | None = None) -> tuple[list, list, list, list]:
    """Rows, models, spike-shuffle analyses and standard evaluations of ``experiment`` (all when None)."""
    return (store.rows(experiment=experiment), store.models(experiment),
            store.analyses(experiment=experiment, kind="spike_shuffle"), store.evaluations(experiment=experiment))


def report_headline(store_or_path: ResultsStore | str | os.PathLike, experiment: str | None = None) -> list[dict]:
    """The per-input headline entries (:meth:`.headline.Headline.to_dict`) of a store, without writing anything."""
    store, owned = _open_store(store_or_path)
    try:
        rows = store.rows(experiment=experiment)
    finally:
        if owned:
            store.close()
    return [h.to_dict() for h in headline(rows, errors=[])]


def report_quotes(store_or_path: ResultsStore | str | os.PathLike, experiment: str | None = None) -> list[dict]:
    """The number to quote per target and budget (:meth:`.quote.Quote.to_dict`): the standard evaluation
    where stored, else the grid's per-input worst case; nothing is written."""
    store, owned = _open_store(store_or_path)
    try:
        rows, evaluations = store.rows(experiment=experiment), store.evaluations(experiment=experiment)
    finally:
        if owned:
            store.close()
    return [q.to_dict() for q in quotes(rows, evaluations, errors=[])]


def write_report(store_path_or_store: ResultsStore | str | os.PathLike, out_dir: str | os.PathLike,
                 experiment: str | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``report.html``, ``plots/*`` and ``tables/*`` into ``out_dir``.

    ``store_path_or_store``: a :class:`ResultsStore`, the path of its SQLite file, or a
    run folder holding ``results.sqlite``. ``experiment``: report only this experiment
    (default: every experiment in the store). Each figure is written as PNG (300 dpi), PDF
    and SVG (none without matplotlib), each table as CSV and LaTeX. Every file is written
    atomically and listed in ``report-manifest.json``; the files an earlier report in the same
    folder wrote and this one did not are deleted (:mod:`.manifest`), nothing else. Returns
    ``{"markdown", "html", "plots", "tables", "manifest"}`` paths (``plots``, ``tables``: folders).
    """
    store, owned = _open_store(store_path_or_store)
    try:
        rows, models, shuffles, evaluations = load_report_inputs(store, experiment)
    finally:
        if owned:
            store.close()
    if experiment is not None and not rows and not models and not evaluations:
        raise ValueError(f"experiment: no results or models named {experiment!r} in the store")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots_dir, tables_dir = out / "plots", out / "tables"
    title = f"Robustness report: {experiment}" if experiment else (
        "Robustness report" + (f": {rows[0]['experiment']}" if rows and len({r['experiment'] for r in rows}) == 1 else ""))
    ctx = ReportContext(rows, models, shuffles, plots_dir, evaluations)
    doc = build_document(ctx, title)
    md_path, html_path = out / "report.md", out / "report.html"
    written = list(ctx.plots.written)
    for table in doc.tables():
        for suffix, render in ((".csv", table_csv), (".tex", table_latex)):
            path = tables_dir / f"{table.name}{suffix}"
            write_text(path, render(table))
            written.append(path)
    write_text(md_path, doc.markdown(out))  # atomic: a reader never sees half a report
    write_text(html_path, doc.html(title))
    replace_manifest(out, written + [md_path, html_path])
    return {"markdown": md_path, "html": html_path, "plots": plots_dir, "tables": tables_dir,
            "manifest": out / MANIFEST_NAME}

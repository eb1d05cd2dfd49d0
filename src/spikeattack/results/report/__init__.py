"""The report of a run: ``report.md``, a self-contained ``report.html``, figures and tables for a paper.

:func:`write_report` reads a results store (see :mod:`..store`) and writes, into ``out_dir``,
GitHub-flavoured Markdown, the same content as self-contained HTML (inline CSS, figures as
base64 SVG, no external URL), ``plots/`` (each figure as PNG at 300 dpi, PDF and SVG;
matplotlib, the optional ``plots`` extra), ``tables/`` (each table as CSV and booktabs LaTeX)
and ``report-manifest.json`` (what it wrote: the only files a later report there deletes).

Modules: :mod:`.document` (the document model: blocks, sections, table of contents, Markdown
and HTML rendering, names escaped), :mod:`.stats` (rates with 95% Clopper-Pearson intervals),
:mod:`.figure` (canvases, estimator styles, print-ready files) and :mod:`.plots` (the figure
families), :mod:`.tables` (CSV and LaTeX), :mod:`.cells` (what sections read off a cell),
:mod:`.sections`, :mod:`.transfer` and :mod:`.curves` (the sections, in order),
:mod:`.manifest` (the files a report wrote), :mod:`.builder` (the data a report is built from
and the files written).

Sections: the per-input worst-case headline with intervals (the number to quote), evaluation
hygiene (grouped flags), models, the per-attack breakdown (worst case over estimators), the
estimator comparison in the layout of Hao et al.'s (ICLR 2024) Tables 2/3, full results,
white- vs black-box, cross-model transfer (named by the model kinds it holds), ASR vs eps,
ASR vs decay and vs T, the spike-shuffle test. A section without data is left out.
"""

from ..store import STORE_NAME
from .builder import build_document, load_report_inputs, report_headline, report_quotes, write_report
from .context import ReportContext
from .document import Document
from .plots import PLOTS_HINT
from .sections import HART_COLUMNS, HART_HEADER, sweep_families
from .stats import pct

__all__ = ["Document", "HART_COLUMNS", "HART_HEADER", "PLOTS_HINT", "ReportContext", "STORE_NAME", "build_document",
           "load_report_inputs", "pct", "report_headline", "report_quotes", "sweep_families", "write_report"]

"""The report's tables as files for a paper: ``tables/<name>.csv`` and ``tables/<name>.tex``.

CSV holds the numbers exactly as the report prints them; a column whose cells read
``45.0 [38.1, 52.1]`` (a rate and its 95% interval, percent) becomes three columns, ``<h>``,
``<h> CI low`` and ``<h> CI high`` (and ``<h> detail`` for a trailing ``(pgd)``), so the numbers
can be re-plotted; an empty cell means "not run" (``—`` in the report).

LaTeX is a ``tabular`` in the booktabs style (``\\toprule``/``\\midrule``/``\\bottomrule``; needs
``\\usepackage{booktabs}``): every cell escaped (:func:`latex_escape`: ``% _ & # $ { } ~ ^ \\``
and the Greek and arrow symbols the report uses), numbers right-aligned, the report's bold as
``\\textbf``. Wrap it in your own ``table`` environment and caption.
"""

from __future__ import annotations

import csv
import io
import re

from .document import Table

_RATE = re.compile(r"^(-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\](?: \((.*)\))?$")
MISSING = "—"
_LATEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "%": r"\%",
          "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "<": r"\textless{}",
          ">": r"\textgreater{}", "|": r"\textbar{}", "—": "---", "–": "--", "ε": r"$\varepsilon$",
          "λ": r"$\lambda$", "γ": r"$\gamma$", "β": r"$\beta$", "∞": r"$\infty$", "→": r"$\rightarrow$",
          "×": r"$\times$", "±": r"$\pm$", "≤": r"$\leq$", "≥": r"$\geq$", "\n": " "}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX))


def latex_escape(text: str) -> str:
    """Plain text as LaTeX source (text mode; the symbols above as math)."""
    out = _LATEX_RE.sub(lambda m: _LATEX[m.group(0)], str(text))
    return "{}" + out if out.startswith("[") else out  # "\\ [..." would read as a row-skip argument


def _split_columns(t: Table) -> list[tuple[str, int, str | None]]:
    """Per output column: ``(header, source column, part)``; part None (the cell), or value/low/high/detail."""
    out: list[tuple[str, int, str | None]] = []
    for j, head in enumerate(t.header):
        cells = [row[j] for row in t.rows if row[j] != MISSING]
        matches = [_RATE.match(c) for c in cells]
        if cells and all(matches):
            out += [(head, j, "value"), (f"{head} CI low", j, "low"), (f"{head} CI high", j, "high")]
            if any(m.group(4) is not None for m in matches):
                out.append((f"{head} detail", j, "detail"))
        else:
            out.append((head, j, None))
    return out


def table_csv(t: Table) -> str:
    """The table as CSV (numbers as printed; rate-and-interval columns split in three)."""
    columns = _split_columns(t)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([head for head, _, _ in columns])
    parts = {"value": 1, "low": 2, "high": 3, "detail": 4}
    for row in t.rows:
        line = []
        for _, j, part in columns:
            cell = row[j]
            if cell == MISSING:
                line.append("")
            elif part is None:
                line.append(cell)
            else:
                line.append(_RATE.match(cell).group(parts[part]) or "")
        writer.writerow(line)
    return buf.getvalue()


def table_latex(t: Table) -> str:
    """The table as a booktabs ``tabular`` (escaped; bold kept)."""
    spec = "".join("r" if num else "l" for num in t.numeric)
    lines = [f"% {latex_escape(t.title or t.name)}: spikeattack report table '{latex_escape(t.name)}'; "
             r"needs \usepackage{booktabs}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(h) for h in t.header) + r" \\", r"\midrule"]
    for i, row in enumerate(t.rows):
        cells = []
        for j, cell in enumerate(row):
            text = "--" if cell == MISSING else latex_escape(cell)
            cells.append(rf"\textbf{{{text}}}" if (i, j) in t.bold and cell != MISSING else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"

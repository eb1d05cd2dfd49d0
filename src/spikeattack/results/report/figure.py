"""The report's figure machinery: canvases, one style per estimator, print-ready files.

matplotlib is the optional ``plots`` extra; without it :attr:`Plotter.available` is False, the
report keeps every table and says so once on stderr. No global backend is switched (a
notebook's pyplot backend is left alone): each figure gets its own Agg canvas, and the style
(:data:`RC`) applies only inside :func:`styled` plot functions.

Every figure is written three times, atomically: ``<name>.png`` at :data:`DPI` (300, print
resolution), ``<name>.pdf`` (TrueType fonts, editable) and ``<name>.svg``, without dates or
software tags, so the same results give the same bytes.

Colours: the Okabe-Ito palette (Okabe & Ito 2008, safe for the common colour-vision
deficiencies); each estimator has its own colour, marker and line style, the same in every
figure (:data:`ESTIMATOR_STYLES`); black is kept for the worst case and the headline.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import zlib
from pathlib import Path
from typing import Any, Callable, Sequence

from ...io import atomic_write
from ..rows import format_eps
from ..worstcase import estimator_order

PLOTS_HINT = "Plots need matplotlib: `pip install spikeattack[plots]`."
DPI = 300
FORMATS = ("png", "pdf", "svg")
NCOLS = 3
#: estimator -> (colour, marker, line style); Okabe-Ito colours
ESTIMATOR_STYLES: dict[str, tuple[str, str, Any]] = {
    "stbp": ("#0072B2", "o", "-"),                   # blue
    "bptr": ("#E69F00", "s", "--"),                  # orange
    "rga": ("#009E73", "^", "-."),                   # bluish green
    "hart": ("#D55E00", "D", ":"),                   # vermillion
    "cba": ("#CC79A7", "v", (0, (5, 1, 1, 1, 1, 1))),  # reddish purple
    "assg": ("#56B4E9", "P", (0, (3, 1))),           # sky blue
    "mdse": ("#F0E442", "X", (0, (1, 1))),           # yellow (black marker edges keep it visible)
    "pdsg": ("#882255", "p", (0, (5, 2))),           # wine (Paul Tol's muted: Okabe-Ito's seven colours are taken)
    "exact": ("#666666", "*", "-"),                  # grey: an ANN's own gradient
    "none": ("#999999", "h", (0, (4, 2))),           # light grey: gradient-free
}
_EXTRA_COLOURS = ("#882255", "#117733", "#332288", "#999933", "#44AA99", "#AA4499")  # Paul Tol's muted
_EXTRA_MARKERS = ("<", ">", "p", "d", "8", "H")
_EXTRA_LINES = ("-", "--", "-.", ":")
WORST = {"color": "black", "marker": "s", "linestyle": "-", "linewidth": 1.8}
#: figure text sizes (points) and file settings, applied inside :func:`styled` functions only
RC = {"font.size": 9.0, "axes.titlesize": 10.0, "axes.labelsize": 9.5, "xtick.labelsize": 9.0,
      "ytick.labelsize": 9.0, "legend.fontsize": 9.0, "legend.title_fontsize": 9.0, "figure.titlesize": 11.0,
      "lines.markersize": 5.0, "errorbar.capsize": 2.5, "pdf.fonttype": 42, "svg.fonttype": "path",
      "svg.hashsalt": "spikeattack", "text.usetex": False}
METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
            "svg": {"Creator": None, "Date": None}}
_notified = False


def _matplotlib():
    """(Figure, FigureCanvasAgg, rc_context) or None when the optional ``plots`` extra is missing."""
    try:
        from matplotlib import rc_context
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg, rc_context


def notify_missing() -> None:
    """Say once per process, on stderr, that the report has no figures."""
    global _notified
    if not _notified:
        _notified = True
        print("spikeattack report: matplotlib is not installed, so the report has no figures "
              "(pip install spikeattack[plots])", file=sys.stderr)


def text(value: Any) -> str:
    """A name as matplotlib text: ``$`` escaped so that no name is read as mathtext (``$\\frac$``)."""
    return str(value).replace("$", r"\$")


def base_name(label: str) -> str:
    """``ann:hart(gamma=0.5)`` -> ``hart``."""
    return label.split(":")[-1].split("(")[0]


def order_key(label: str) -> tuple:
    """Estimators in the order of the HART tables, then the rest by name."""
    return estimator_order(label)


def display(label: str) -> str:
    """``stbp`` -> ``STBP``; labels with parameters or a source stay as they are."""
    return label.upper() if label in ESTIMATOR_STYLES and label not in ("exact", "none") else label


def estimator_style(label: str, variant: int = 0) -> dict[str, Any]:
    """Colour, marker and line style of an estimator label, the same in every figure. A label not in
    :data:`ESTIMATOR_STYLES` gets one from its name's checksum; ``variant`` > 0 (another parameter
    setting of the same estimator in one panel) keeps the colour, with a hollow marker and its own dashes."""
    base = base_name(label)
    if base in ESTIMATOR_STYLES:
        colour, marker, line = ESTIMATOR_STYLES[base]
    else:
        k = zlib.crc32(base.encode("utf-8"))
        colour, marker = _EXTRA_COLOURS[k % len(_EXTRA_COLOURS)], _EXTRA_MARKERS[k % len(_EXTRA_MARKERS)]
        line = _EXTRA_LINES[k % len(_EXTRA_LINES)]
    style = {"color": colour, "marker": marker, "linestyle": line, "markeredgecolor": "black",
             "markeredgewidth": 0.5}
    if variant:
        style.update(markerfacecolor="none", markeredgecolor=colour, markeredgewidth=1.2,
                     linestyle=_EXTRA_LINES[variant % len(_EXTRA_LINES)])
    return style


def variants(labels: Sequence[str]) -> dict[str, int]:
    """Per label: its index among the labels of the same estimator (0 for the first)."""
    seen: dict[str, int] = {}
    out = {}
    for label in sorted(labels, key=order_key):
        base = base_name(label)
        out[label] = seen.get(base, 0)
        seen[base] = out[label] + 1
    return out


def dodge(index: int, count: int, xs: Sequence[float]) -> float:
    """Horizontal offset of series ``index`` of ``count`` so that error bars at one x do not hide each
    other: 1.5% of the x range per series (at most 8% for all of them), centred on the true value."""
    values = [x for x in xs if x is not None]
    span = (max(values) - min(values)) if len(values) > 1 else 1.0
    step = min(0.015, 0.08 / max(count - 1, 1))
    return (index - (count - 1) / 2) * step * (span or 1.0)


def errors(values: Sequence[float], cis: Sequence[Sequence[float] | None]) -> list[list[float]]:
    """Asymmetric error bars (percent) from rates and their 95% intervals; 0 where there is none."""
    low = [100 * (v - ci[0]) if ci else 0.0 for v, ci in zip(values, cis)]
    high = [100 * (ci[1] - v) if ci else 0.0 for v, ci in zip(values, cis)]
    return [[max(0.0, e) for e in low], [max(0.0, e) for e in high]]


class Plotter:
    """Writes figures into ``folder`` (unique names), each as PNG, PDF and SVG; remembers what it wrote.
    It deletes nothing: stale figures of an earlier report go by its manifest (:mod:`.manifest`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mpl = _matplotlib()
        self.names: set[str] = set()
        self.written: list[Path] = []
        if self.mpl is None:
            notify_missing()

    @property
    def available(self) -> bool:
        return self.mpl is not None

    def grid(self, panels: int, panel_width: float = 4.2, panel_height: float = 3.2, ncols: int = NCOLS,
             sharey: bool = True):
        """A figure with ``panels`` axes in rows of at most ``ncols``; unused cells hidden. Returns (fig, axes)."""
        Figure, Canvas, _ = self.mpl
        cols = max(1, min(ncols, panels))
        rows = max(1, math.ceil(panels / cols))
        fig = Figure(figsize=(panel_width * cols + 0.6, panel_height * rows + 0.7), dpi=100)
        Canvas(fig)
        axes = fig.subplots(rows, cols, sharey=sharey, squeeze=False).ravel().tolist()
        for ax in axes[panels:]:
            ax.set_visible(False)
        return fig, axes[:panels]

    def save(self, fig, name: str) -> Path:
        """Write ``fig`` as ``<stem>.png`` (300 dpi), ``.pdf`` and ``.svg``; returns the PNG's path."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.") or "plot"
        base, k = stem, 1
        while stem in self.names:
            k += 1
            stem = f"{base}_{k}"
        self.names.add(stem)
        for fmt in FORMATS:
            path = self.folder / f"{stem}.{fmt}"
            with atomic_write(path, "wb") as handle:
                fig.savefig(handle, format=fmt, dpi=DPI, metadata=METADATA[fmt])
            self.written.append(path)
        return self.folder / f"{stem}.png"


def styled(plot: Callable) -> Callable:
    """Run a plot function (``plot(plotter, ...)``) under the report's figure style :data:`RC`."""
    @functools.wraps(plot)
    def wrapper(plotter: Plotter, *args: Any, **kwargs: Any):
        with plotter.mpl[2](RC):
            return plot(plotter, *args, **kwargs)

    return wrapper


def legend(fig, axes, title: str | None = None) -> None:
    """One legend for the whole figure (labels of every panel, first occurrence), below the panels;
    the panels are laid out above it."""
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    per_row = 4
    rows = math.ceil(len(labels) / per_row) if labels else 0
    if labels:
        fig.legend([handles[lab] for lab in labels], labels, loc="lower center", ncol=min(per_row, len(labels)),
                   title=None if title is None else text(title), frameon=False)
    legend_inches = 0.25 * rows + (0.28 if title and rows else 0.0) + 0.12
    fig.set_figheight(fig.get_figheight() + legend_inches)  # the legend gets its own room below the panels
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))


def eps_ticks(ax, eps_values: Sequence[float]) -> None:
    if 0 < len(eps_values) <= 8:
        ax.set_xticks(list(eps_values))
        ax.set_xticklabels([format_eps(e) for e in eps_values])


def rate_axis(ax, title: str, xlabel: str | None = None) -> None:
    """A panel whose y axis is a rate in percent."""
    ax.set_title(text(title))
    if xlabel is not None:
        ax.set_xlabel(text(xlabel))
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)

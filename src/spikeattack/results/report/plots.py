"""The report's figures: compact grids of panels (matplotlib subplots on an Agg canvas).

matplotlib is the optional ``plots`` extra; without it :attr:`Plotter.available` is False
and the report keeps every table. No global backend is switched (a notebook's pyplot
backend is left alone): each figure gets its own Agg canvas.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Sequence

from ..rows import format_eps
from ..worstcase import ESTIMATOR_ORDER

PLOTS_HINT = "Plots need matplotlib: `pip install spikeattack[plots]`."
PLOT_PREFIXES = ("asr_vs_", "white_vs_black_", "robust_vs_")
COLORS = {"cba": "#8c564b", "bptr": "#ff7f0e", "stbp": "#1f77b4", "rga": "#2ca02c", "hart": "#d62728",
          "exact": "#9467bd"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
NCOLS = 3


def _matplotlib():
    """(Figure, FigureCanvasAgg) or None when the optional ``plots`` extra is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


def order_key(label: str) -> tuple:
    """Estimators in the order of the HART tables, then the rest by name."""
    base = label.split(":")[-1].split("(")[0]
    return (ESTIMATOR_ORDER.index(base) if base in ESTIMATOR_ORDER else len(ESTIMATOR_ORDER), label)


def color(label: str, index: int) -> str:
    base = label.split(":")[-1].split("(")[0]
    return COLORS.get(base, PALETTE[index % len(PALETTE)])


def display(label: str) -> str:
    return label.upper() if label in COLORS else label


class Plotter:
    """Writes PNGs into ``folder`` (unique names); removes this module's plots of an earlier report there."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mpl = _matplotlib()
        self.names: set[str] = set()
        self.written: list[Path] = []
        if folder.is_dir():
            for old in folder.glob("*.png"):
                if old.name.startswith(PLOT_PREFIXES):
                    old.unlink()

    @property
    def available(self) -> bool:
        return self.mpl is not None

    def grid(self, panels: int, panel_width: float = 4.2, panel_height: float = 3.1, ncols: int = NCOLS,
             sharey: bool = True):
        """A figure with ``panels`` axes in rows of at most ``ncols``; unused cells hidden. Returns (fig, axes)."""
        Figure, Canvas = self.mpl
        cols = max(1, min(ncols, panels))
        rows = max(1, math.ceil(panels / cols))
        fig = Figure(figsize=(panel_width * cols + 0.6, panel_height * rows + 0.9), dpi=100)
        Canvas(fig)
        axes = fig.subplots(rows, cols, sharey=sharey, squeeze=False).ravel().tolist()
        for ax in axes[panels:]:
            ax.set_visible(False)
        return fig, axes[:panels]

    def save(self, fig, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "plot"
        base, k = stem, 1
        while stem in self.names:
            k += 1
            stem = f"{base}_{k}"
        self.names.add(stem)
        path = self.folder / f"{stem}.png"
        fig.savefig(path, format="png", metadata={"Software": None})
        self.written.append(path)
        return path


def _legend(fig, axes, title: str | None = None) -> None:
    """One legend for the whole figure (labels of every panel, first occurrence), below the panels;
    the panels are laid out above it."""
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    rows = math.ceil(len(labels) / 5) if labels else 0
    if labels:
        fig.legend([handles[lab] for lab in labels], labels, loc="lower center", ncol=min(5, len(labels)),
                   fontsize="small", title=title, title_fontsize="small", frameon=False)
    legend_inches = 0.22 * rows + (0.25 if title and rows else 0.0) + 0.1
    fig.tight_layout(rect=(0, min(0.45, legend_inches / fig.get_figheight()), 1, 1))


def _eps_ticks(ax, eps_values: Sequence[float]) -> None:
    if 0 < len(eps_values) <= 8:
        ax.set_xticks(list(eps_values))
        ax.set_xticklabels([format_eps(e) for e in eps_values], fontsize="small")


def plot_headline(plotter: Plotter, panels: list[tuple[str, list[dict]]], xlabel: str, name: str) -> Path:
    """Per target: per-input worst-case robust accuracy vs eps with 95% intervals, the per-attack minimum
    (the breakdown) and the clean accuracy. ``panels``: ``(title, [{eps, robust, ci, per_attack, clean}])``."""
    fig, axes = plotter.grid(len(panels))
    for ax, (title, points) in zip(axes, panels):
        points = sorted(points, key=lambda p: p["eps"])
        xs = [p["eps"] for p in points]
        ys = [100 * p["robust"] for p in points]
        err = [[100 * (p["robust"] - p["ci"][0]) for p in points], [100 * (p["ci"][1] - p["robust"]) for p in points]]
        ax.errorbar(xs, ys, yerr=err, marker="o", color="black", capsize=3, label="per-input worst case (95% CI)")
        per_attack = [(p["eps"], 100 * p["per_attack"]) for p in points if p["per_attack"] is not None]
        if per_attack:
            ax.plot([p[0] for p in per_attack], [p[1] for p in per_attack], linestyle="--", marker="s", markersize=4,
                    color="#1f77b4", label="best single attack (breakdown)")
        clean = [100 * p["clean"] for p in points]
        ax.plot(xs, clean, linestyle=":", color="grey", label="clean accuracy")
        _eps_ticks(ax, xs)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(xlabel, fontsize="small")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("robust accuracy (%)")
    _legend(fig, axes)
    return plotter.save(fig, f"robust_vs_eps_{name}")


def plot_eps_grid(plotter: Plotter, title: str, panels: list[dict], xlabel: str, name: str) -> Path:
    """ASR vs eps, one panel per (attack, scenario): ``{"title", "lines": {label: {eps: asr}},
    "worst": [(eps, asr)], "noise": [(eps, asr)]}``; one line per estimator."""
    fig, axes = plotter.grid(len(panels))
    labels = sorted({lab for p in panels for lab in p["lines"]}, key=order_key)
    for ax, panel in zip(axes, panels):
        for label in sorted(panel["lines"], key=order_key):
            pts = sorted(panel["lines"][label].items())
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", markersize=4,
                    color=color(label, labels.index(label)), label=display(label))
        if panel.get("noise"):
            pts = sorted(panel["noise"])
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], linestyle=":", color="grey", marker="x",
                    label="random noise")
        if panel.get("worst"):
            pts = sorted(panel["worst"])
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], linestyle="--", color="black", marker="s",
                    markersize=3, label="worst case over estimators")
        _eps_ticks(ax, sorted({e for lab in panel["lines"] for e in panel["lines"][lab]}))
        ax.set_title(panel["title"], fontsize="medium")
        ax.set_xlabel(xlabel, fontsize="small")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    for ax in axes[::NCOLS]:
        ax.set_ylabel("attack success rate (%)")
    fig.suptitle(title)
    _legend(fig, axes, "estimator")
    return plotter.save(fig, f"asr_vs_eps_{name}")


def plot_white_black(plotter: Plotter, title: str, panels: list[dict], name: str) -> Path:
    """Bars of white- vs black-box ASR per estimator, one panel per (attack, eps):
    ``{"title", "labels": [...], "white": [asr|None], "black": [asr|None]}``."""
    fig, axes = plotter.grid(len(panels), panel_width=3.6)
    for ax, panel in zip(axes, panels):
        xs = list(range(len(panel["labels"])))
        ax.bar([x - 0.2 for x in xs], [100 * (v or 0) for v in panel["white"]], width=0.4, label="white-box",
               color="#1f77b4")
        ax.bar([x + 0.2 for x in xs], [100 * (v or 0) for v in panel["black"]], width=0.4,
               label="black-box (transfer)", color="#ff7f0e")
        ax.set_xticks(xs)
        ax.set_xticklabels([display(lab) for lab in panel["labels"]], fontsize="x-small",
                           rotation=30 if len(xs) > 5 else 0)
        ax.set_title(panel["title"], fontsize="medium")
        ax.set_ylim(0, 105)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[::NCOLS]:
        ax.set_ylabel("attack success rate (%)")
    fig.suptitle(title)
    _legend(fig, axes)
    return plotter.save(fig, f"white_vs_black_{name}")


def plot_sweep(plotter: Plotter, title: str, panels: list[dict], values: list, axis: str, name: str) -> Path:
    """ASR vs a model field (decay, T), one panel per attack: ``{"title", "lines": {(label, eps): {value: asr}}}``."""
    fig, axes = plotter.grid(len(panels))
    styles, markers = ["-", "--", ":", "-."], ["o", "s", "^", "D", "v"]
    for ax, panel in zip(axes, panels):
        eps_values = sorted({k[1] for k in panel["lines"]}, key=lambda e: -1.0 if e is None else e)
        labels = sorted({k[0] for k in panel["lines"]}, key=order_key)
        for label, eps in sorted(panel["lines"], key=lambda k: (order_key(k[0]), -1.0 if k[1] is None else k[1])):
            pts = sorted(panel["lines"][(label, eps)].items())
            j = eps_values.index(eps)
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker=markers[j % len(markers)],
                    color=color(label, labels.index(label)), linestyle=styles[j % len(styles)],
                    label=f"{display(label)}, ε={format_eps(eps)}")
        ax.set_xticks(values)
        ax.set_xlabel(axis, fontsize="small")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.set_title(panel["title"], fontsize="medium")
    axes[0].set_ylabel("attack success rate (%)")
    fig.suptitle(title)
    _legend(fig, axes, "estimator, budget")
    return plotter.save(fig, f"asr_vs_{name}")

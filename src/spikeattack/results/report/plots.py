"""The report's figure families: compact grids of panels, every rate with its 95% interval.

Each point is a rate with its exact (Clopper-Pearson) 95% interval, drawn as an error bar;
series that share an x value are offset horizontally by a hair (:func:`.figure.dodge`) so that
their bars stay visible. The machinery (canvases, styles, files) is in :mod:`.figure`.

Point formats: a rate is ``(value, [low, high] | None)`` in [0, 1]; the functions plot percent.
"""

from __future__ import annotations

from pathlib import Path

from ..rows import format_eps
from .figure import (NCOLS, PLOTS_HINT, WORST, Plotter, display, dodge, eps_ticks, errors, estimator_style,
                     legend, order_key, rate_axis, styled, text, variants)

#: one colour and marker per target in the overlay panel (Paul Tol's "bright", colour-blind safe)
TARGET_COLOURS = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB")
TARGET_MARKERS = ("o", "s", "^", "D", "v", "P", "X")

__all__ = ["PLOTS_HINT", "Plotter", "order_key", "plot_eps_grid", "plot_flips", "plot_headline", "plot_sweep",
           "plot_white_black"]


def _series(ax, points: list[tuple[float, float, list | None]], shift: float, **style) -> None:
    """``(x, rate, ci)`` points as one line with error bars, shifted by ``shift`` on x."""
    points = sorted(points, key=lambda p: p[0])
    xs = [p[0] + shift for p in points]
    ys = [100 * p[1] for p in points]
    ax.errorbar(xs, ys, yerr=errors([p[1] for p in points], [p[2] for p in points]), elinewidth=0.9, **style)


@styled
def plot_headline(plotter: Plotter, panels: list[tuple[str, list[dict]]], xlabel: str, name: str,
                  overlay: bool = True) -> Path:
    """Per target: per-input worst-case robust accuracy vs eps, the best single attack (the breakdown)
    and the clean accuracy, each with its 95% interval. ``panels``: ``(title, [{eps, robust, ci,
    per_attack, per_attack_ci, clean, clean_ci}])``. The best single attack is drawn under the
    headline with larger hollow markers and offset, so it shows where the two coincide. With several
    targets (and ``overlay``: one budget axis for all) a last panel overlays their headlines (is the SNN
    more robust than its ANN twin?)."""
    overlay = overlay and len(panels) > 1
    fig, axes = plotter.grid(len(panels) + overlay)
    for ax, (title, points) in zip(axes, panels):
        xs = [p["eps"] for p in points]
        _series(ax, [(p["eps"], p["clean"], p.get("clean_ci")) for p in points], dodge(0, 3, xs),
                color="#777777", linestyle=":", marker=".", label="clean accuracy")
        per_attack = [(p["eps"], p["per_attack"], p.get("per_attack_ci")) for p in points
                      if p["per_attack"] is not None]
        if per_attack:
            _series(ax, per_attack, dodge(2, 3, xs), color="#0072B2", linestyle="--", marker="o", markersize=7,
                    markerfacecolor="none", markeredgewidth=1.3, linewidth=1.6,
                    label="best single attack (breakdown)")
        _series(ax, [(p["eps"], p["robust"], p["ci"]) for p in points], dodge(1, 3, xs), markersize=4,
                label="per-input worst case (the headline)", **WORST)
        eps_ticks(ax, sorted(set(xs)))
        rate_axis(ax, title, xlabel)
    if overlay:
        ax = axes[-1]
        xs = sorted({p["eps"] for _, points in panels for p in points})
        for k, (title, points) in enumerate(panels):
            _series(ax, [(p["eps"], p["robust"], p["ci"]) for p in points], dodge(k, len(panels), xs),
                    color=TARGET_COLOURS[k % len(TARGET_COLOURS)], marker=TARGET_MARKERS[k % len(TARGET_MARKERS)],
                    markeredgecolor="black", markeredgewidth=0.5, label=text(f"{title}: per-input worst case"))
        eps_ticks(ax, xs)
        rate_axis(ax, "all targets", xlabel)
    for ax in axes[::NCOLS]:
        ax.set_ylabel("robust accuracy (%)")
    legend(fig, axes)
    return plotter.save(fig, f"robust_vs_eps_{name}")


@styled
def plot_eps_grid(plotter: Plotter, title: str, panels: list[dict], xlabel: str, name: str) -> Path:
    """ASR vs eps, one panel per (attack, scenario): ``{"title", "lines": {label: {eps: (asr, ci)}},
    "worst": [(eps, asr, ci)], "noise": [(eps, asr, ci)]}``; one line per estimator."""
    fig, axes = plotter.grid(len(panels))
    for ax, panel in zip(axes, panels):
        labels = sorted(panel["lines"], key=order_key)
        variant = variants(labels)
        xs = sorted({e for lab in labels for e in panel["lines"][lab]})
        count = len(labels) + bool(panel.get("worst")) + bool(panel.get("noise"))
        for k, label in enumerate(labels):
            points = [(e, v[0], v[1]) for e, v in panel["lines"][label].items()]
            _series(ax, points, dodge(k, count, xs), label=text(display(label)),
                    **estimator_style(label, variant[label]))
        k = len(labels)
        if panel.get("noise"):
            _series(ax, panel["noise"], dodge(k, count, xs), linestyle=":", color="#999999", marker="x",
                    label="random noise")
            k += 1
        if panel.get("worst"):
            _series(ax, panel["worst"], dodge(k, count, xs), markersize=4, label="worst case over estimators",
                    **WORST)
        eps_ticks(ax, xs)
        rate_axis(ax, panel["title"], xlabel)
    for ax in axes[::NCOLS]:
        ax.set_ylabel("attack success rate (%)")
    fig.suptitle(text(title))
    legend(fig, axes, "estimator")
    return plotter.save(fig, f"asr_vs_eps_{name}")


@styled
def plot_white_black(plotter: Plotter, title: str, panels: list[dict], name: str) -> Path:
    """Bars of white- vs black-box ASR per estimator, one panel per (attack, eps), with 95% intervals:
    ``{"title", "labels": [...], "white": [(asr, ci) | None], "black": [(asr, ci) | None]}``."""
    fig, axes = plotter.grid(len(panels), panel_width=3.8)
    bars = (("white", "white-box", "#0072B2", None), ("black", "black-box (transfer)", "#E69F00", "//"))
    for ax, panel in zip(axes, panels):
        xs = list(range(len(panel["labels"])))
        for j, (key, label, colour, hatch) in enumerate(bars):
            values = [(v or (0.0, None))[0] or 0.0 for v in panel[key]]
            cis = [(v or (0.0, None))[1] for v in panel[key]]
            ax.bar([x + (j - 0.5) * 0.4 for x in xs], [100 * v for v in values], width=0.4, color=colour,
                   hatch=hatch, edgecolor="black", linewidth=0.5, label=label,
                   yerr=errors(values, cis), error_kw={"elinewidth": 0.9, "capsize": 2.5})
        ax.set_xticks(xs)
        ax.set_xticklabels([text(display(lab)) for lab in panel["labels"]], rotation=30 if len(xs) > 4 else 0)
        ax.set_title(text(panel["title"]))
        ax.set_ylim(0, 105)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[::NCOLS]:
        ax.set_ylabel("attack success rate (%)")
    fig.suptitle(text(title))
    legend(fig, axes)
    return plotter.save(fig, f"white_vs_black_{name}")


@styled
def plot_sweep(plotter: Plotter, title: str, panels: list[dict], values: list, axis: str, name: str) -> Path:
    """ASR vs a model field (decay, T), one panel per attack: ``{"title", "lines": {(label, eps):
    {value: (asr, ci)}}}``; one colour, marker and dash per estimator, hollow markers for a further eps."""
    fig, axes = plotter.grid(len(panels))
    for ax, panel in zip(axes, panels):
        keys = sorted(panel["lines"], key=lambda k: (order_key(k[0]), -1.0 if k[1] is None else k[1]))
        eps_values = sorted({k[1] for k in keys}, key=lambda e: -1.0 if e is None else e)
        variant = variants([k[0] for k in keys if k[1] == eps_values[0]])
        for n, (label, eps) in enumerate(keys):
            style = estimator_style(label, variant.get(label, 0) + eps_values.index(eps))
            points = [(x, v[0], v[1]) for x, v in panel["lines"][(label, eps)].items()]
            _series(ax, points, dodge(n, len(keys), values), label=text(f"{display(label)}, ε={format_eps(eps)}"),
                    **style)
        ax.set_xticks(values)
        rate_axis(ax, panel["title"], axis)
    axes[0].set_ylabel("attack success rate (%)")
    fig.suptitle(text(title))
    legend(fig, axes, "estimator, budget")
    return plotter.save(fig, f"asr_vs_{name}")


@styled
def plot_flips(plotter: Plotter, title: str, panels: list[dict], name: str) -> Path:
    """The share of clean-correct inputs fooled within k flips, one panel per attack: ``{"title",
    "lines": {label: {"steps": [(k, share)], "bars": [(k, share, ci)]}}, "reference": same or None}``.
    One step line per estimator (its colour, marker and dashes of every figure), error bars (95%
    Clopper-Pearson) at a few k; the reference (an event evaluation's minimal flips) in black."""
    fig, axes = plotter.grid(len(panels))
    for ax, panel in zip(axes, panels):
        labels = sorted(panel["lines"], key=order_key)
        variant = variants(labels)
        series = [(lab, panel["lines"][lab], estimator_style(lab, variant[lab]), text(display(lab))) for lab in labels]
        if panel.get("reference"):
            series.append(("reference", panel["reference"], dict(WORST), text(panel["reference_label"])))
        xs = [p[0] for _, line, _, _ in series for p in line["steps"]]
        for k, (_, line, style, label) in enumerate(series):
            ax.step([p[0] for p in line["steps"]], [100 * p[1] for p in line["steps"]], where="post",
                    color=style["color"], linestyle=style["linestyle"], linewidth=style.get("linewidth", 1.3),
                    label=label)
            bars = line["bars"]
            shift = dodge(k, len(series), xs)
            ax.errorbar([p[0] + shift for p in bars], [100 * p[1] for p in bars],
                        yerr=errors([p[1] for p in bars], [p[2] for p in bars]), linestyle="none",
                        color=style["color"], marker=style["marker"], markeredgecolor="black", markeredgewidth=0.5,
                        elinewidth=0.9)
        rate_axis(ax, panel["title"], "k: elements changed (flips)")
    for ax in axes[::NCOLS]:
        ax.set_ylabel("inputs fooled within k flips (%)")
    fig.suptitle(text(title))
    legend(fig, axes, "estimator")
    return plotter.save(fig, f"flips_{name}")

"""The report's flips section (event attacks, L0): how many elements each attack needed per input,
as a table (quantiles) and as curves of the share of inputs fooled within k flips (:mod:`..flips`)."""

from __future__ import annotations

from ..flips import EVALUATION, FlipsCurve, flips_curves
from ..rows import format_eps
from .context import ReportContext
from .plots import PLOTS_HINT, order_key, plot_flips
from .stats import pct, with_ci

#: error bars per curve (at evenly spaced k)
BARS = 6


def _line(curve: FlipsCurve, top: int) -> dict:
    """A curve's step points (at every k where it changes) and its error bars, up to ``top`` flips
    (or its budget)."""
    end = top if curve.eps is None else min(top, int(curve.eps))
    ks = sorted({0, end, *[f for f in curve.flips if f <= end]})
    steps = [(k, curve.within(k)[0]) for k in ks]
    marks = sorted({round(end * j / (BARS - 1)) for j in range(BARS)}) if end else [0]
    bars = [(k, *curve.within(k)) for k in marks]
    return {"steps": steps, "bars": [(k, share, list(ci)) for k, share, ci in bars]}


def section_flips(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "Flips (event attacks, L0)")
    curves = flips_curves(ctx.rows, ctx.evaluations)
    if not curves:
        return
    d.para("Per event attack and estimator (white-box, untargeted; per attack and estimator the cell with the largest "
           "budget): the clean-correct inputs it fooled and the elements it changed on them. SDA looks for the "
           "fewest flips, so its are the minimal flips it found; \"event evaluation\": per input the fewest flips any "
           "stage of an event evaluation run with `minimal` needed. Quantiles over the inputs fooled; flip rate: "
           "the median flips over the elements of one input (T·C·H·W).")
    header = ["target", "attack", "estimator", "eps", "n", "fooled (%)", "median flips", "q25–q75", "mean flips",
              "median flip rate (%)"]
    rows = []
    for c in sorted(curves, key=lambda c: (c.experiment, c.target, c.attack == EVALUATION, c.attack,
                                           order_key(c.estimator))):
        share, ci = (c.fooled / c.n if c.n else 0.0), c.within(c.eps if c.eps is not None else float("inf"))[1]
        median = c.quantile(0.5)
        rows.append([ctx.name(c.experiment, c.target), c.attack, c.estimator, format_eps(c.eps), c.n,
                     with_ci(share, ci), median, None if median is None else f"{c.quantile(0.25)}–{c.quantile(0.75)}",
                     None if not c.flips else f"{sum(c.flips) / len(c.flips):.1f}",
                     None if median is None or not c.elements else pct(median / c.elements, 2)])
    d.table(header, rows, [False, False, False, True, True, True, True, False, True, True], name="flips")
    if not ctx.plots.available:
        d.para(PLOTS_HINT)
        return
    targets: dict[tuple, list[FlipsCurve]] = {}
    for c in curves:
        targets.setdefault((c.experiment, c.target), []).append(c)
    for (experiment, target), members in targets.items():
        cells = [c for c in members if c.attack != EVALUATION]
        reference = next((c for c in members if c.attack == EVALUATION), None)
        top = max((f for c in members for f in c.flips), default=0)
        attacks = sorted({c.attack for c in cells})
        panels = [{"title": attack, "lines": {c.estimator: _line(c, top) for c in cells if c.attack == attack},
                   "reference": None if reference is None else _line(reference, top),
                   "reference_label": "event evaluation (minimal flips, all stages)"} for attack in attacks]
        if not panels and reference is not None:
            panels = [{"title": EVALUATION, "lines": {}, "reference": _line(reference, top),
                       "reference_label": "event evaluation (minimal flips, all stages)"}]
        path = plot_flips(ctx.plots, f"{ctx.name(experiment, target)}: inputs fooled within k flips", panels,
                          ctx.name(experiment, target))
        d.image(path, f"{ctx.name(experiment, target)}: the share of clean-correct inputs each attack fooled within "
                      "k flips (elements changed), one panel per attack, one step line per estimator; black: the "
                      "event evaluation's per-input minimal flips over all its stages, where run (on its own "
                      "inputs, the first `limit` of the evaluation). Error bars: 95% "
                      "Clopper-Pearson at a few k. A budgeted cell's line ends at its budget.")

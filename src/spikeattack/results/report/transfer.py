"""The report's transfer sections: white- vs black-box, and cross-model transfer."""

from __future__ import annotations

from ..rows import eps_key, estimator_label, format_eps
from .cells import asr, asr_point, model_kind, sort_eps
from .context import ReportContext
from .plots import PLOTS_HINT, order_key, plot_white_black
from .stats import cell_asr, cell_robust


def section_white_black(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "White-box vs black-box")
    white = {(r["experiment"], r["target"], r["attack"], estimator_label(r), eps_key(r["eps"])): r
             for r in ctx.rows if r["scenario"] == "white-box"}
    pairs = []
    for r in ctx.rows:
        if r["scenario"] != "black-box":
            continue
        w = white.get((r["experiment"], r["target"], r["attack"], estimator_label(r), eps_key(r["eps"])))
        if w is not None:
            pairs.append((w, r))
    if not pairs:
        return
    pairs.sort(key=lambda p: (p[0]["experiment"], p[0]["target"], p[0]["attack"], sort_eps(p[0]["eps"]),
                              order_key(estimator_label(p[0]))))
    header = ["target", "attack", "estimator", "eps", "white-box ASR (%)", "black-box ASR (%)",
              "white-box robust acc. (%)", "black-box robust acc. (%)", "black-box source"]
    rows = [[ctx.name(w["experiment"], w["target"]), w["attack"], estimator_label(w), format_eps(w["eps"]),
             cell_asr(w), cell_asr(b), cell_robust(w), cell_robust(b), ctx.name(b["experiment"], b["source"])]
            for w, b in pairs]
    d.para("The same attack and estimator crafted on the target (white-box) and on a separately trained source "
           "of the same configuration (black-box transfer), judged by the target. Black-box ASR above white-box "
           "ASR is a gradient-masking sign (see the hygiene section).")
    d.table(header, rows, [False, False, False, True, True, True, True, True, False], name="white_vs_black")
    if not ctx.plots.available:
        d.para(PLOTS_HINT)
        return
    by_target: dict[tuple, list] = {}
    for w, b in pairs:
        by_target.setdefault((w["experiment"], w["target"]), []).append((w, b))
    for (experiment, target), items in by_target.items():
        panels = []
        for attack in sorted({w["attack"] for w, _ in items}):
            for eps in sorted({eps_key(w["eps"]) for w, _ in items if w["attack"] == attack}, key=sort_eps):
                sel = {estimator_label(w): (w, b) for w, b in items if w["attack"] == attack and eps_key(w["eps"]) == eps}
                labels = sorted(sel, key=order_key)
                panels.append({"title": f"{attack}, ε = {format_eps(eps)}", "labels": labels,
                               "white": [asr_point(sel[lab][0]) for lab in labels],
                               "black": [asr_point(sel[lab][1]) for lab in labels]})
        name = ctx.name(experiment, target)
        path = plot_white_black(ctx.plots, f"{name}: white-box vs black-box ASR", panels, name)
        d.image(path, f"White- vs black-box ASR on {name} (same estimator and eps; one panel per attack and eps; "
                      "error bars: 95% Clopper-Pearson).")


def cross_title(ctx: ReportContext, cross: list[dict]) -> str:
    """``Cross-model transfer: ANN → SNN, SNN → ANN`` — named by the model kinds it holds."""
    pairs = []
    for r in cross:
        s = ctx.model_by_name.get((r["experiment"], r["source"]))
        t = ctx.model_by_name.get((r["experiment"], r["target"]))
        pair = f"{model_kind(s and s['config'])} → {model_kind(t and t['config'])}".replace("?", "other model")
        if pair not in pairs:
            pairs.append(pair)
    return "Cross-model transfer: " + ", ".join(sorted(pairs))


def section_cross(ctx: ReportContext) -> None:
    cross = [r for r in ctx.rows if r["scenario"].startswith("cross")]
    d = ctx.doc
    d.heading(2, cross_title(ctx, cross) if cross else "Cross-model transfer")
    if not cross:
        return
    best_white: dict[tuple, dict] = {}
    for r in ctx.rows:
        if r["scenario"] == "white-box" and asr(r) is not None:
            key = (r["experiment"], r["target"], r["attack"], eps_key(r["eps"]))
            if key not in best_white or asr(r) > asr(best_white[key]):
                best_white[key] = r
    header = ["target", "target kind", "source", "source kind", "attack", "estimator", "eps", "ASR (%)",
              "robust acc. (%)", "best white-box ASR (%)"]
    rows = []
    for r in sorted(cross, key=lambda r: (r["experiment"], r["target"], r["source"], r["attack"], sort_eps(r["eps"]),
                                           order_key(estimator_label(r)))):
        t = ctx.model_by_name.get((r["experiment"], r["target"]))
        s = ctx.model_by_name.get((r["experiment"], r["source"]))
        bw = best_white.get((r["experiment"], r["target"], r["attack"], eps_key(r["eps"])))
        rows.append([ctx.name(r["experiment"], r["target"]), model_kind(t and t["config"]),
                     ctx.name(r["experiment"], r["source"]), model_kind(s and s["config"]), r["attack"],
                     estimator_label(r), format_eps(r["eps"]), cell_asr(r), cell_robust(r),
                     None if bw is None else f"{cell_asr(bw)} ({estimator_label(bw)})"])
    d.para("Adversarial examples crafted on another model of the experiment (the source) and judged by the "
           "target, beside the target's strongest white-box estimator.")
    d.table(header, rows, [False, False, False, False, False, False, True, True, True, False], name="cross")

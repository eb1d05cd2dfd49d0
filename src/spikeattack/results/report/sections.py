"""The report's sections, in order. Each writes into the document only when it has data (an empty
section is omitted, see :class:`.document.Document`).

Every rate is printed with its 95% Clopper-Pearson interval (:mod:`.stats`); an estimator is
marked strongest (bold) only when an exact McNemar test on the same inputs says it broke more
inputs than every other estimator of its row, else the row is a tie.
"""

from __future__ import annotations

from ..rows import eps_key, estimator_label, format_eps, scenario_kind
from ..output import norm_name
from .cells import eps_axis_label, is_noise, model_kind, model_notes, scenario_rank, sort_eps
from .context import ReportContext
from .curves import section_eps_plots, section_shuffle, section_sweep, sweep_families
from .document import md_escape
from .flips import section_flips
from .plots import order_key, plot_headline
from .quote_section import section_quote
from .stats import cell_asr, cell_robust, num, pct, with_ci
from .transfer import section_cross, section_white_black

__all__ = ["HART_COLUMNS", "HART_HEADER", "SECTIONS", "sweep_families"]

HART_COLUMNS = ("cba", "bptr", "stbp", "rga", "hart")
HART_HEADER = ("target", "attack", "eps", "scenario", "CBA", "BPTR", "STBP", "RGA", "HART", "worst case")
TIE_RULE = ("An estimator is called strongest only when an exact McNemar test on the same inputs (two-sided, 5%) "
            "says it broke more of them than every other estimator; otherwise the estimators within the noise of "
            "the best are a *tie*.")


# ---------------------------------------------------------------------------------------------- headline
def section_headline(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "Headline: per-input worst-case robust accuracy")
    if not ctx.headline:
        return
    multi_norm = len({h.norm for h in ctx.headline}) > 1
    d.para("The grid's per-input worst case (AutoAttack's rule; the number to quote where no standard evaluation "
           "was run). Per target and budget, an input counts as robust only if "
           "the target classifies it correctly clean *and* after every white-box attack x every estimator (x every "
           "restart) at that eps; robust accuracy is the share of all inputs robust in this sense, worst-case ASR the "
           "share of clean-correct inputs some attack broke. Brackets: 95% Clopper-Pearson interval. \"incl. "
           "transfer\" adds the black-box and cross attacks of the target. \"best single attack\" is the old "
           "per-attack view (the minimum over attacks of each attack's worst case over estimators) — a breakdown, "
           "never lower than the headline. " + TIE_RULE)
    header = ["target"] + (["norm"] if multi_norm else []) + [
        "eps", "n", "clean acc. (%)", "robust acc. (%)", "worst-case ASR (%)", "attacks (cells)",
        "strongest estimator", "incl. transfer (%)", "best single attack (%)"]
    rows = []
    for h in ctx.headline:
        ci = h.intervals()
        rows.append([ctx.name(h.experiment, h.target)] + ([norm_name(h.norm)] if multi_norm else []) + [
            format_eps(h.eps), h.n, with_ci(h.clean_accuracy, ci["clean_accuracy_ci"]),
            with_ci(h.robust_accuracy, ci["robust_accuracy_ci"]), with_ci(h.asr, ci["asr_ci"]),
            f"{', '.join(h.attacks)} ({len(h.cells)})", h.strongest_estimator,
            with_ci(h.robust_accuracy_incl_transfer, ci["robust_accuracy_incl_transfer_ci"])
            if h.transfer_cells else None,
            None if h.per_attack_minimum is None else
            f"{with_ci(h.per_attack_minimum, h.per_attack_minimum_ci)} ({h.weakest_attack})"])
    numeric = [False] + ([False] if multi_norm else []) + [True, True, True, True, True, False, False, True, True]
    d.table(header, rows, numeric, name="headline")
    per_target: dict[str, list[str]] = {}
    for h in ctx.headline:
        ci = h.intervals()["robust_accuracy_ci"]
        per_target.setdefault(ctx.name(h.experiment, h.target), []).append(
            f"{with_ci(h.robust_accuracy, ci)}% at eps {format_eps(h.eps)}")
    d.bullets([f"**{md_escape(t)}**: robust accuracy " + ", ".join(v) for t, v in per_target.items()])
    points: dict[tuple, list[dict]] = {}
    for h in ctx.headline:
        if h.eps is not None:
            points.setdefault((h.experiment, h.target, h.norm), []).append(
                {"eps": h.eps, "robust": h.robust_accuracy, "ci": h.intervals()["robust_accuracy_ci"],
                 "per_attack": h.per_attack_minimum, "per_attack_ci": h.per_attack_minimum_ci,
                 "clean": h.clean_accuracy, "clean_ci": h.intervals()["clean_accuracy_ci"]})
    panels = [(ctx.name(k[0], k[1]) + (f" ({norm_name(k[2])})" if multi_norm else ""), v) for k, v in points.items()
              if len(v) >= 2]
    if panels and ctx.plots.available:
        path = plot_headline(ctx.plots, panels, eps_axis_label(ctx.rows), "targets", overlay=not multi_norm)
        d.image(path, "Per-input worst-case robust accuracy vs eps (black), the best single attack's worst case over "
                      "estimators (dashed, hollow circles; it lies on or above the black line) and clean accuracy "
                      "(dotted), one panel per target" + ("; the last panel overlays every target's worst case"
                                                         if len(panels) > 1 and not multi_norm else "")
                      + ". Error bars: 95% Clopper-Pearson; series are offset slightly on the eps axis so that "
                      "coinciding points stay visible.")


# ---------------------------------------------------------------------------------------------- hygiene
def section_hygiene(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "Evaluation hygiene")
    if not ctx.rows:
        return
    if not ctx.flags:
        d.para("No hygiene flags: no vanishing gradients above 5%, no stochastic encoder attacked without EOT, no "
               "transfer, random-noise or gradient-free attack beating the white-box gradient attacks, no adaptive "
               "surrogate beating the fixed ones beyond the noise, and white-box ASR rises with eps to at least 90%.")
        return
    d.para(f"{len(ctx.flags)} kind(s) of flag, most severe first; each lists the affected cells. A flag is a reason "
           "to look, not a verdict (with few inputs a one-input difference can raise the rate-based ones).")
    items, classes, children = [], [], []
    for f in ctx.flags:
        cells = list(f.cells)
        shown = "; ".join(cells[:12]) + (f"; (+{len(cells) - 12} more)" if len(cells) > 12 else "")
        items.append(f"**[{f.severity}] {md_escape(f.name)}**: {md_escape(f.message)}. *Advice:* "
                     f"{md_escape(f.advice)}." + (f" Cells: {md_escape(shown)}." if shown else ""))
        classes.append(f.severity)
        children.append([md_escape(detail) for detail in f.details])
    d.bullets(items, classes, children)


# ---------------------------------------------------------------------------------------------- models
def section_models(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "Models")
    if not ctx.models:
        return
    header = ["name", "kind", "arch", "neuron", "decay", "T", "encoding", "clean acc. (%)", "notes"]
    rows = []
    for m in sorted(ctx.models, key=lambda m: (m["experiment"], m["name"])):
        c = m.get("config") or {}
        snn = model_kind(c) == "SNN"
        rows.append([ctx.name(m["experiment"], m["name"]), model_kind(c), c.get("arch"), c.get("neuron"),
                     c.get("decay") if snn else None, c.get("timesteps") if snn else None, c.get("encoding"),
                     pct(m.get("clean_accuracy")), model_notes(m) or None])
    d.table(header, rows, [False, False, False, False, True, True, False, True, False], name="models")
    d.para("Clean accuracy on the attacked test inputs (the experiment's `limit`).")


# ---------------------------------------------------------------------------------------------- breakdowns
def section_worst_case(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "Breakdown per attack: worst case over estimators")
    if not ctx.groups and not ctx.errors:
        return
    header = ["target", "scenario", "attack", "eps", "n", "ASR per estimator (%)", "worst-case ASR (%)",
              "worst-case robust acc. (%)", "strongest", "inputs only it fooled"]
    rows = []
    for w in ctx.groups:
        rows.append([ctx.name(w.experiment, w.target), w.scenario, w.attack, format_eps(w.eps), w.n,
                     "; ".join(f"{lab} {with_ci(v, w.per_estimator_asr_ci(lab)) if v is not None else '—'}"
                               for lab, v in w.per_estimator_asr.items()),
                     with_ci(w.asr, w.asr_ci), with_ci(w.robust_accuracy, w.robust_accuracy_ci), w.strongest_estimator,
                     ", ".join(f"{lab} {w.unique[lab]}" for lab in w.estimators)])
    if rows:
        d.para("Per group (target, scenario, attack, eps): an input is robust only if clean-correct and correct "
               "after every estimator's adversarial example of this one attack. \"inputs only it fooled\": per "
               "estimator, the inputs no other estimator fooled. " + TIE_RULE)
        d.table(header, rows, [False, False, False, True, True, False, True, True, False, False], name="per_attack")
    if ctx.errors:
        d.para("Groups skipped (their inputs cannot be aligned):")
        d.bullets([md_escape(e) for e in ctx.errors])


def section_estimators(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "Estimator comparison (HART Tables 2/3 layout)")
    rows_in = [r for r in ctx.rows if scenario_kind(r["scenario"]) in ("white-box", "black-box")
               and r["grad"] != "exact" and not is_noise(r)]
    if not rows_in:
        return
    labels = sorted({estimator_label(r) for r in rows_in}, key=order_key)
    extra = [lab for lab in labels if lab not in HART_COLUMNS]
    columns = list(HART_COLUMNS) + extra
    header = list(HART_HEADER[:4]) + [c.upper() for c in HART_COLUMNS] + extra + [HART_HEADER[-1]]
    cells: dict[tuple, dict[str, dict]] = {}
    for r in rows_in:
        key = (r["experiment"], r["target"], r["attack"], eps_key(r["eps"]), r["scenario"])
        cells.setdefault(key, {})[estimator_label(r)] = r
    rows, bold = [], set()
    for key in sorted(cells, key=lambda k: (k[0], k[1], k[2], sort_eps(k[3]), scenario_rank(k[4]))):
        experiment, target, attack, eps, scenario = key
        by_label = cells[key]
        wc = ctx.group_of(by_label)
        row = [ctx.name(experiment, target), attack, format_eps(eps), scenario]
        row += [cell_asr(by_label[c]) if c in by_label else None for c in columns]
        row.append(with_ci(wc.asr, wc.asr_ci) if wc else None)
        if wc is not None and len(wc.strongest) == 1 and not wc.tie and len(by_label) >= 2:
            winner = wc.strongest[0]
            if winner in columns:
                bold.add((len(rows), 4 + columns.index(winner)))
        rows.append(row)
    d.para("Attack success rate (%) of each gradient estimator crafting the attack (white-box: on the target; "
           "black-box: on a separately trained source of the same configuration), with 95% intervals. **Bold**: "
           "the strongest estimator of the row, only where it beats every other one beyond the paired noise "
           "(exact McNemar on the same inputs); a row without bold is a tie. \"worst case\": the share of "
           "clean-correct inputs fooled by at least one estimator. \"—\": not run.")
    d.table(header, rows, [False, False, True, False] + [True] * (len(header) - 4), bold, name="estimators")


def section_results(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "Full results")
    if not ctx.rows:
        return
    events = any(r["metrics"].get("flips") is not None for r in ctx.rows)  # event cells: flips columns
    header = ["target", "source", "scenario", "attack", "estimator", "eps", "n", "clean acc. (%)", "ASR (%)",
              "robust acc. (%)", "L∞", "L2"] + (["flips", "flip rate (%)"] if events else []) + ["vanishing"]
    rows = []
    for r in sorted(ctx.rows, key=lambda r: (r["experiment"], r["target"], r["attack"], scenario_rank(r["scenario"]),
                                              sort_eps(r["eps"]), order_key(estimator_label(r)))):
        m = r["metrics"]
        rows.append([ctx.name(r["experiment"], r["target"]), ctx.name(r["experiment"], r["source"]),
                     r["scenario"], r["attack"], estimator_label(r), format_eps(r["eps"]), m.get("n"),
                     pct(m.get("clean_accuracy"), 1), cell_asr(r), cell_robust(r), num(m.get("linf")),
                     num(m.get("l2"))] + ([num(m.get("flips")), pct(m.get("flip_rate"), 3)] if events else [])
                    + [m.get("vanishing")])
    d.para("Every cell, ASR beside robust accuracy, each with its 95% interval. L∞ and L2: mean perturbation size "
           "per input; vanishing: inputs whose input gradient was all zero."
           + (" Event attacks (L0): eps counts elements; flips: elements changed per input, averaged over all "
              "inputs; flip rate: the same over the elements of one input." if events else ""))
    d.table(header, rows, [False] * 6 + [True] * (len(header) - 6), name="results")


# ---------------------------------------------------------------------------------------------- transfer
SECTIONS = (
    section_quote, section_headline, section_hygiene, section_models, section_worst_case, section_estimators, section_results,
    section_flips, section_white_black, section_cross, section_eps_plots,
    lambda ctx: section_sweep(ctx, "decay", "ASR vs membrane decay", "membrane decay λ (1.0 = IF)"),
    lambda ctx: section_sweep(ctx, "timesteps", "ASR vs time steps", "time steps T"),
    section_shuffle,
)

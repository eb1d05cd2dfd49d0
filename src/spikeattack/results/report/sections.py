"""The report's sections, in order. Each writes into the document only when it has data (an empty
section is omitted, see :class:`.document.Document`).

Every rate is printed with its 95% Clopper-Pearson interval (:mod:`.stats`); an estimator is
marked strongest (bold) only when an exact McNemar test on the same inputs says it broke more
inputs than every other estimator of its row, else the row is a tie.
"""

from __future__ import annotations

import json
from typing import Any

from ..rows import eps_key, estimator_label, format_eps, scenario_kind
from .plots import PLOTS_HINT, order_key, plot_eps_grid, plot_headline, plot_sweep, plot_white_black
from .stats import cell_asr, cell_robust, num, pct, with_ci

from .context import ReportContext
from .quote_section import section_quote

HART_COLUMNS = ("cba", "bptr", "stbp", "rga", "hart")
HART_HEADER = ("target", "attack", "eps", "scenario", "CBA", "BPTR", "STBP", "RGA", "HART", "worst case")
SCENARIOS = ("white-box", "black-box", "cross")
TIE_RULE = ("An estimator is called strongest only when an exact McNemar test on the same inputs (two-sided, 5%) "
            "says it broke more of them than every other estimator; otherwise the estimators within the noise of "
            "the best are a *tie*.")


def _asr(row: dict) -> float | None:
    return row["metrics"].get("asr")


def _sort_eps(eps: float | None) -> float:
    return -1.0 if eps is None else float(eps)


def scenario_rank(scenario: str) -> tuple:
    kind = scenario_kind(scenario)
    return (SCENARIOS.index(kind) if kind in SCENARIOS else 3, scenario)


def is_noise(row: dict) -> bool:
    return row["attack"].split("@")[0] == "noise"


def model_kind(config: dict | None) -> str:
    if not config:
        return "?"
    return "ANN" if config.get("neuron") == "relu" else "SNN"


def _model_notes(model: dict) -> str:
    info = model.get("info") or {}
    notes = []
    if "#seed" in model["name"]:
        notes.append("black-box source")
    adv = info.get("adv")
    if adv:
        notes.append("adversarially trained (" + ", ".join(f"{k}={v}" for k, v in adv.items()) + ")")
    if info.get("converted_from"):
        notes.append(f"converted from {info['converted_from']}")
    return "; ".join(notes)


def eps_axis_label(rows: list[dict]) -> str:
    norms = {((r.get("config") or {}).get("attack_config") or {}).get("norm", "linf") for r in rows}
    norm = "L2" if norms == {"l2"} else "L∞"
    return f"ε ({norm} budget, input units in [0, 1])"


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
        rows.append([ctx.name(h.experiment, h.target)] + ([h.norm] if multi_norm else []) + [
            format_eps(h.eps), h.n, with_ci(h.clean_accuracy, ci["clean_accuracy_ci"]),
            with_ci(h.robust_accuracy, ci["robust_accuracy_ci"]), with_ci(h.asr, ci["asr_ci"]),
            f"{', '.join(h.attacks)} ({len(h.cells)})", h.strongest_estimator,
            with_ci(h.robust_accuracy_incl_transfer, ci["robust_accuracy_incl_transfer_ci"])
            if h.transfer_cells else None,
            None if h.per_attack_minimum is None else
            f"{with_ci(h.per_attack_minimum, h.per_attack_minimum_ci)} ({h.weakest_attack})"])
    numeric = [False] + ([False] if multi_norm else []) + [True, True, True, True, True, False, False, True, True]
    d.table(header, rows, numeric)
    per_target: dict[str, list[str]] = {}
    for h in ctx.headline:
        ci = h.intervals()["robust_accuracy_ci"]
        per_target.setdefault(ctx.name(h.experiment, h.target), []).append(
            f"{with_ci(h.robust_accuracy, ci)}% at eps {format_eps(h.eps)}")
    d.bullets([f"**{t}**: robust accuracy " + ", ".join(v) for t, v in per_target.items()])
    points: dict[tuple, list[dict]] = {}
    for h in ctx.headline:
        if h.eps is not None:
            points.setdefault((h.experiment, h.target, h.norm), []).append(
                {"eps": h.eps, "robust": h.robust_accuracy, "ci": h.intervals()["robust_accuracy_ci"],
                 "per_attack": h.per_attack_minimum, "clean": h.clean_accuracy})
    panels = [(ctx.name(k[0], k[1]) + (f" ({k[2]})" if multi_norm else ""), v) for k, v in points.items()
              if len(v) >= 2]
    if panels and ctx.plots.available:
        path = plot_headline(ctx.plots, panels, eps_axis_label(ctx.rows), "targets")
        d.image(path, "Per-input worst-case robust accuracy vs eps (error bars: 95% Clopper-Pearson), the best single "
                      "attack's worst case over estimators (dashed) and clean accuracy (dotted).")


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
        items.append(f"**[{f.severity}] {f.name}**: {f.message}. *Advice:* {f.advice}."
                     + (f" Cells: {shown}." if shown else ""))
        classes.append(f.severity)
        children.append(list(f.details))
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
                     pct(m.get("clean_accuracy")), _model_notes(m) or None])
    d.table(header, rows, [False, False, False, False, True, True, False, True, False])
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
        d.table(header, rows, [False, False, False, True, True, False, True, True, False, False])
    if ctx.errors:
        d.para("Groups skipped (their inputs cannot be aligned):")
        d.bullets(ctx.errors)


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
    for key in sorted(cells, key=lambda k: (k[0], k[1], k[2], _sort_eps(k[3]), scenario_rank(k[4]))):
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
    d.table(header, rows, [False, False, True, False] + [True] * (len(header) - 4), bold)


def section_results(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "Full results")
    if not ctx.rows:
        return
    header = ["target", "source", "scenario", "attack", "estimator", "eps", "n", "clean acc. (%)", "ASR (%)",
              "robust acc. (%)", "L∞", "L2", "vanishing"]
    rows = []
    for r in sorted(ctx.rows, key=lambda r: (r["experiment"], r["target"], r["attack"], scenario_rank(r["scenario"]),
                                              _sort_eps(r["eps"]), order_key(estimator_label(r)))):
        m = r["metrics"]
        rows.append([ctx.name(r["experiment"], r["target"]), ctx.name(r["experiment"], r["source"]),
                     r["scenario"], r["attack"], estimator_label(r), format_eps(r["eps"]), m.get("n"),
                     pct(m.get("clean_accuracy"), 1), cell_asr(r), cell_robust(r), num(m.get("linf")),
                     num(m.get("l2")), m.get("vanishing")])
    d.para("Every cell, ASR beside robust accuracy, each with its 95% interval. L∞ and L2: mean perturbation size "
           "per input; vanishing: inputs whose input gradient was all zero.")
    d.table(header, rows, [False] * 6 + [True] * 7)


# ---------------------------------------------------------------------------------------------- transfer
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
    pairs.sort(key=lambda p: (p[0]["experiment"], p[0]["target"], p[0]["attack"], _sort_eps(p[0]["eps"]),
                              order_key(estimator_label(p[0]))))
    header = ["target", "attack", "estimator", "eps", "white-box ASR (%)", "black-box ASR (%)",
              "white-box robust acc. (%)", "black-box robust acc. (%)", "black-box source"]
    rows = [[ctx.name(w["experiment"], w["target"]), w["attack"], estimator_label(w), format_eps(w["eps"]),
             cell_asr(w), cell_asr(b), cell_robust(w), cell_robust(b), ctx.name(b["experiment"], b["source"])]
            for w, b in pairs]
    d.para("The same attack and estimator crafted on the target (white-box) and on a separately trained source "
           "of the same configuration (black-box transfer), judged by the target. Black-box ASR above white-box "
           "ASR is a gradient-masking sign (see the hygiene section).")
    d.table(header, rows, [False, False, False, True, True, True, True, True, False])
    if not ctx.plots.available:
        d.para(PLOTS_HINT)
        return
    by_target: dict[tuple, list] = {}
    for w, b in pairs:
        by_target.setdefault((w["experiment"], w["target"]), []).append((w, b))
    for (experiment, target), items in by_target.items():
        panels = []
        for attack in sorted({w["attack"] for w, _ in items}):
            for eps in sorted({eps_key(w["eps"]) for w, _ in items if w["attack"] == attack}, key=_sort_eps):
                sel = {estimator_label(w): (w, b) for w, b in items if w["attack"] == attack and eps_key(w["eps"]) == eps}
                labels = sorted(sel, key=order_key)
                panels.append({"title": f"{attack}, ε = {format_eps(eps)}", "labels": labels,
                               "white": [_asr(sel[lab][0]) for lab in labels],
                               "black": [_asr(sel[lab][1]) for lab in labels]})
        name = ctx.name(experiment, target)
        path = plot_white_black(ctx.plots, f"{name}: white-box vs black-box ASR", panels, name)
        d.image(path, f"White- vs black-box ASR on {name} (same estimator and eps; one panel per attack and eps).")


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
        if r["scenario"] == "white-box" and _asr(r) is not None:
            key = (r["experiment"], r["target"], r["attack"], eps_key(r["eps"]))
            if key not in best_white or _asr(r) > _asr(best_white[key]):
                best_white[key] = r
    header = ["target", "target kind", "source", "source kind", "attack", "estimator", "eps", "ASR (%)",
              "robust acc. (%)", "best white-box ASR (%)"]
    rows = []
    for r in sorted(cross, key=lambda r: (r["experiment"], r["target"], r["source"], r["attack"], _sort_eps(r["eps"]),
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
    d.table(header, rows, [False, False, False, False, False, False, True, True, True, False])


# ---------------------------------------------------------------------------------------------- curves
def section_eps_plots(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "ASR vs eps")
    series: dict[tuple, list[dict]] = {}
    noise: dict[tuple, list[dict]] = {}
    for r in ctx.rows:
        if r["eps"] is None or _asr(r) is None:
            continue
        if is_noise(r):
            noise.setdefault((r["experiment"], r["target"]), []).append(r)
        else:
            series.setdefault((r["experiment"], r["target"], r["attack"], r["scenario"]), []).append(r)
    for (experiment, target), rows in noise.items():  # no white-box panel to overlay it on: its own panel
        if not any(k[:2] == (experiment, target) and k[3] == "white-box" for k in series):
            series[(experiment, target, rows[0]["attack"], rows[0]["scenario"])] = rows
    series = {k: v for k, v in series.items() if len({eps_key(r["eps"]) for r in v}) >= 2}
    if not series:
        return
    if not ctx.plots.available:
        d.para(PLOTS_HINT)
        return
    d.para("One figure per target, one panel per attack and scenario; one line per estimator; dashed black: worst "
           "case over estimators; dotted grey (white-box panels, when run): the random-noise baseline of the same "
           "size.")
    targets: dict[tuple, list[tuple]] = {}
    for key in sorted(series, key=lambda k: (k[0], k[1], k[2], scenario_rank(k[3]))):
        targets.setdefault(key[:2], []).append(key)
    for (experiment, target), keys in targets.items():
        panels = []
        for key in keys:
            _, _, attack, scenario = key
            rows = series[key]
            noise_only = all(is_noise(r) for r in rows)
            lines: dict[str, dict[float, float]] = {}
            for r in rows:
                label = "random signs (no gradient)" if noise_only else estimator_label(r)
                lines.setdefault(label, {})[float(r["eps"])] = _asr(r)
            baseline = noise.get((experiment, target)) if scenario == "white-box" and not noise_only else None
            worst = [(w.eps, w.asr) for w in ctx.groups if w.experiment == experiment and w.target == target
                     and w.attack == attack and w.scenario == scenario_kind(scenario) and w.eps is not None
                     and w.asr is not None] if len(lines) >= 2 else []
            sources = {r["source"] for r in rows}
            via = f" from {ctx.name(experiment, sources.pop())}" if scenario != "white-box" and len(sources) == 1 else ""
            panels.append({"title": f"{attack}, {scenario}{via}", "lines": lines, "worst": worst,
                           "noise": [(float(r["eps"]), _asr(r)) for r in baseline or []]})
        name = ctx.name(experiment, target)
        n = series[keys[0]][0]["metrics"].get("n")
        path = plot_eps_grid(ctx.plots, f"{name}: ASR vs eps" + (f" (n={n})" if n else ""), panels,
                             eps_axis_label([r for k in keys for r in series[k]]), name)
        d.image(path, f"ASR vs eps on {name}: one panel per attack and scenario.")


def sweep_families(models: list[dict], field_name: str) -> list[tuple[str, dict[Any, dict]]]:
    """Groups of models that differ only in ``field_name`` (config ``decay`` or ``timesteps``).

    Models are grouped by their config without that field, their adversarial-training and
    conversion origin; a group whose models repeat a value is split by base name (the part
    before ``@``), and dropped if that does not separate them. Returns ``(label, {value: model})``
    for groups with at least two values.
    """
    groups: dict[str, list[dict]] = {}
    for m in models:
        config = dict(m.get("config") or {})
        if field_name not in config:
            continue
        config.pop(field_name)
        info = m.get("info") or {}
        key = json.dumps({"experiment": m["experiment"], "config": config, "adv": info.get("adv"),
                          "converted_from": info.get("converted_from")}, sort_keys=True, default=str)
        groups.setdefault(key, []).append(m)
    out = []
    for members in groups.values():
        values = [m["config"][field_name] for m in members]
        parts = [members] if len(set(values)) == len(values) else _split_by_base(members)
        for part in parts:
            vals = [m["config"][field_name] for m in part]
            if len(part) < 2 or len(set(vals)) != len(vals):
                continue
            bases = sorted({m["name"].split("@")[0] for m in part})
            label = bases[0] if len(bases) == 1 else " / ".join(sorted(m["name"] for m in part))
            out.append((label, {m["config"][field_name]: m for m in sorted(part, key=lambda m: m["config"][field_name])}))
    return sorted(out, key=lambda item: item[0])


def _split_by_base(members: list[dict]) -> list[list[dict]]:
    parts: dict[str, list[dict]] = {}
    for m in members:
        parts.setdefault(m["name"].split("@")[0], []).append(m)
    return list(parts.values())


def section_sweep(ctx: ReportContext, field_name: str, title: str, axis: str) -> None:
    d = ctx.doc
    d.heading(2, title)
    found = []
    for label, members in sweep_families(ctx.models, field_name):
        names = {m["name"]: value for value, m in members.items()}
        experiment = next(iter(members.values()))["experiment"]
        rows = [r for r in ctx.rows if r["experiment"] == experiment and r["target"] in names
                and scenario_kind(r["scenario"]) in ("white-box", "black-box") and _asr(r) is not None]
        if len({names[r["target"]] for r in rows}) >= 2:
            found.append((label, experiment, sorted(members), names, rows))
    short = "λ" if field_name == "decay" else "T"
    for label, experiment, values, names, rows in found:
        table: dict[tuple, dict] = {}
        for r in rows:
            key = (r["attack"], r["scenario"], estimator_label(r), eps_key(r["eps"]))
            table.setdefault(key, {})[names[r["target"]]] = r
        header = ["attack", "scenario", "estimator", "eps"] + [f"{short}={v:g}" if isinstance(v, (int, float))
                                                              else f"{short}={v}" for v in values]
        out = []
        for key in sorted(table, key=lambda k: (k[0], scenario_rank(k[1]), order_key(k[2]), _sort_eps(k[3]))):
            out.append([key[0], key[1], key[2], format_eps(key[3])]
                       + [cell_asr(table[key][v]) if v in table[key] else None for v in values])
        d.para(f"**{ctx.name(experiment, label)}** ({', '.join(sorted(names))}): ASR (%) per {field_name}, "
               "with 95% intervals.")
        d.table(header, out, [False, False, False, True] + [True] * len(values))
        if not ctx.plots.available:
            d.para(PLOTS_HINT)
            continue
        white = [r for r in rows if r["scenario"] == "white-box"]
        panels = []
        for attack in sorted({r["attack"] for r in white}):
            lines: dict[tuple, dict] = {}
            for r in white:
                if r["attack"] == attack:
                    lines.setdefault((estimator_label(r), eps_key(r["eps"])), {})[names[r["target"]]] = _asr(r)
            panels.append({"title": f"white-box {attack}", "lines": lines})
        if panels:
            family = ctx.name(experiment, label)
            path = plot_sweep(ctx.plots, f"{family}: ASR vs {field_name}", panels, values, axis,
                              f"{field_name}_{family}")
            d.image(path, f"White-box ASR vs {field_name}: {family} (one panel per attack).")


def section_shuffle(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "Spike-shuffle test")
    if not ctx.shuffles:
        return
    rows = []
    for a in sorted(ctx.shuffles, key=lambda a: (a["experiment"], a["subject"])):
        res = a["result"]
        change = res.get("change")
        rows.append([ctx.name(a["experiment"], a["subject"]), pct(res.get("accuracy")),
                     pct(res.get("shuffled_accuracy")), None if change is None else f"{100 * change:+.2f}"])
    d.para("Bu et al. (CVPR 2023) Sec. 4.1: every spiking layer's spikes are shuffled over time (rates unchanged). "
           "A small accuracy change means the network is rate-coded — what the rate-path estimators (RGA, HART, "
           "BPTR, CBA) assume; a large drop means temporal information matters and STBP/HART may be stronger.")
    d.table(["model", "accuracy (%)", "shuffled accuracy (%)", "change (points)"], rows, [False, True, True, True])


SECTIONS = (
    section_quote, section_headline, section_hygiene, section_models, section_worst_case, section_estimators, section_results,
    section_white_black, section_cross, section_eps_plots,
    lambda ctx: section_sweep(ctx, "decay", "ASR vs membrane decay", "membrane decay λ (1.0 = IF)"),
    lambda ctx: section_sweep(ctx, "timesteps", "ASR vs time steps", "time steps T"),
    section_shuffle,
)

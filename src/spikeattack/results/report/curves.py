"""The report's curve sections: ASR vs eps, ASR vs a model field (decay, T), and the spike-shuffle test."""

from __future__ import annotations

import json
from typing import Any

from ..rows import eps_key, estimator_label, format_eps, scenario_kind
from .cells import asr, asr_point, eps_axis_label, is_noise, scenario_rank, sort_eps
from .context import ReportContext
from .document import md_escape
from .plots import PLOTS_HINT, order_key, plot_eps_grid, plot_sweep
from .stats import cell_asr, pct


def section_eps_plots(ctx: ReportContext) -> None:
    d = ctx.doc
    d.heading(2, "ASR vs eps")
    series: dict[tuple, list[dict]] = {}
    noise: dict[tuple, list[dict]] = {}
    for r in ctx.rows:
        if r["eps"] is None or asr(r) is None:
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
    d.para("One figure per target, one panel per attack and scenario; one line per estimator (each estimator has "
           "the same colour, marker and dashes in every figure); solid black: worst case over estimators; dotted grey "
           "(white-box panels, when run): the random-noise baseline of the same size. Error bars: 95% "
           "Clopper-Pearson intervals; points at one eps are offset slightly so that their bars stay visible.")
    targets: dict[tuple, list[tuple]] = {}
    for key in sorted(series, key=lambda k: (k[0], k[1], k[2], scenario_rank(k[3]))):
        targets.setdefault(key[:2], []).append(key)
    for (experiment, target), keys in targets.items():
        panels = []
        for key in keys:
            _, _, attack, scenario = key
            rows = series[key]
            noise_only = all(is_noise(r) for r in rows)
            lines: dict[str, dict[float, tuple]] = {}
            for r in rows:
                label = "random signs (no gradient)" if noise_only else estimator_label(r)
                lines.setdefault(label, {})[float(r["eps"])] = asr_point(r)
            baseline = noise.get((experiment, target)) if scenario == "white-box" and not noise_only else None
            worst = [(w.eps, w.asr, w.asr_ci) for w in ctx.groups if w.experiment == experiment and w.target == target
                     and w.attack == attack and w.scenario == scenario_kind(scenario) and w.eps is not None
                     and w.asr is not None] if len(lines) >= 2 else []
            sources = {r["source"] for r in rows}
            kind = scenario_kind(scenario)
            via = f" from {ctx.name(experiment, sources.pop())}" if kind != "white-box" and len(sources) == 1 else ""
            panels.append({"title": f"{attack}, {kind}{via}", "lines": lines, "worst": worst,
                           "noise": [(float(r["eps"]), *asr_point(r)) for r in baseline or []]})
        name = ctx.name(experiment, target)
        n = series[keys[0]][0]["metrics"].get("n")
        path = plot_eps_grid(ctx.plots, f"{name}: ASR vs eps" + (f" (n={n})" if n else ""), panels,
                             eps_axis_label([r for k in keys for r in series[k]]), name)
        d.image(path, f"ASR vs eps on {name}: one panel per attack and scenario (error bars: 95% Clopper-Pearson).")


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
                and scenario_kind(r["scenario"]) in ("white-box", "black-box") and asr(r) is not None]
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
        for key in sorted(table, key=lambda k: (k[0], scenario_rank(k[1]), order_key(k[2]), sort_eps(k[3]))):
            out.append([key[0], key[1], key[2], format_eps(key[3])]
                       + [cell_asr(table[key][v]) if v in table[key] else None for v in values])
        family = ctx.name(experiment, label)
        d.para(f"**{md_escape(family)}** ({md_escape(', '.join(sorted(names)))}): ASR (%) per {field_name}, "
               "with 95% intervals.")
        d.table(header, out, [False, False, False, True] + [True] * len(values), name=f"asr_vs_{field_name}_{family}")
        if not ctx.plots.available:
            d.para(PLOTS_HINT)
            continue
        white = [r for r in rows if r["scenario"] == "white-box"]
        panels = []
        for attack in sorted({r["attack"] for r in white}):
            lines: dict[tuple, dict] = {}
            for r in white:
                if r["attack"] == attack:
                    lines.setdefault((estimator_label(r), eps_key(r["eps"])), {})[names[r["target"]]] = asr_point(r)
            panels.append({"title": f"white-box {attack}", "lines": lines})
        if panels:
            path = plot_sweep(ctx.plots, f"{family}: ASR vs {field_name}", panels, values, axis,
                              f"{field_name}_{family}")
            d.image(path, f"White-box ASR vs {field_name}: {family} (one panel per attack; error bars: 95% "
                          "Clopper-Pearson).")


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
    d.table(["model", "accuracy (%)", "shuffled accuracy (%)", "change (points)"], rows, [False, True, True, True],
            name="spike_shuffle")

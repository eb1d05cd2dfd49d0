"""Markdown tables of the peer comparison (``docs/peers.md``) from the saved per-input records."""

from __future__ import annotations

import json
from pathlib import Path

from .models import paths
from .recipes import PEERS
from .runner import Record, eps_label


def load_records(results: Path, model: str, eps: float, names, n: int) -> dict[str, Record]:
    out = {}
    for name in names:
        path = results / model / eps_label(eps) / f"{name}.json"
        if path.exists():
            rec = Record.load(path)
            if rec.n == n:
                out[name] = rec
    return out


def _pct(k: int, n: int) -> str:
    from .sa import clopper_pearson

    lo, hi = clopper_pearson(k, n)
    return f"{100 * k / n:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def missed(peer: Record, standard: Record) -> list[int]:
    """Inputs ``peer`` broke that the standard evaluation reports robust."""
    return [i for i in range(peer.n) if peer.broken[i] and standard.clean_correct[i] and not standard.broken[i]]


def model_table(recs: dict[str, Record], n: int) -> list[str]:
    std = recs.get("standard")
    lines = ["| recipe | robust accuracy [95% CI] | CPU s | broken by it, robust under `standard` |",
             "|---|---:|---:|---:|"]
    for name in PEERS:
        rec = recs.get(name)
        if rec is None:
            lines.append(f"| {name} | (not run) | | |")
            continue
        gap = "—" if std is None or name == "standard" else str(len(missed(rec, std)))
        label = f"**{name}**" if name == "standard" else name
        lines.append(f"| {label} | {_pct(rec.robust, n)} | {rec.cpu_s:,.0f} | {gap} |")
    if std is not None:
        union = sorted({i for name, rec in recs.items() if name != "standard" for i in missed(rec, std)})
        lines.append(f"| *some peer, per input* | | | **{len(union)}** ({100 * len(union) / n:.1f}% of {n}) |")
        if union:
            who = [f"{i} ({', '.join(k for k, r in recs.items() if k != 'standard' and r.broken[i])})" for i in union]
            lines += ["", f"Inputs broken by some peer and robust under `standard` (test index, by whom): {'; '.join(who)}."]
    aa = recs.get("autoattack")
    if aa is not None:
        parts = ", ".join(f"{k} {v['broke']}/{v['attacked']} ({v['cpu_s']:,.0f} s)"
                          for k, v in aa.extra["components"].items())
        lines += ["", f"AutoAttack, first broken by (broke/attacked, CPU): {parts}."]
    if std is not None:
        parts = ", ".join(f"{s['attack']} {s['estimator']} {s['new']}/{s['attacked']} ({s['seconds']:,.0f} s)"
                          for s in std.extra["stages"])
        lines += ["", f"`standard` stages (new breaks/attacked, wall s): {parts}."]
    return lines


def escalation(std: Record) -> tuple[str, float]:
    """The standard evaluation's convergence verdict and the wall seconds its escalation rounds took,
    read off its stages (``escalation r: ...`` entries; converged when the last round broke none)."""
    rounds: dict[int, int] = {}
    seconds = 0.0
    for stage in std.extra["stages"]:
        if stage["attack"].startswith("escalation "):
            r = int(stage["attack"].split()[1].rstrip(":"))
            rounds[r] = rounds.get(r, 0) + stage["new"]
            seconds += stage["seconds"]
    if not rounds:
        return "yes", seconds
    return ("yes" if rounds[max(rounds)] == 0 else f"**no** (round {max(rounds)} broke {rounds[max(rounds)]})"), seconds


def bar(std: Record, peers: dict[str, Record], peer_only: int, n: int) -> list[str]:
    """The issue's four checks, each "yes"/"no" ("?" where a peer's record is missing)."""
    aa, sp = peers.get("autoattack"), peers.get("sapgd-assg-100")
    complete = set(peers) >= set(PEERS) - {"standard"}

    def mark(ok: bool | None) -> str:
        return "?" if ok is None else ("yes" if ok else "**no**")

    return [mark(std.robust <= min(r.robust for r in peers.values()) if complete else None) + ",",
            mark(peer_only <= 0.01 * n if complete else None) + ",",
            mark(std.cpu_s <= aa.cpu_s if aa else None) + ",",
            mark(std.cpu_s <= 2 * sp.cpu_s if sp else None)]


def bar_counts(results: Path, models, eps_list, n: int) -> str:
    """How many model/eps pairs meet each of the issue's four checks."""
    checks = [0, 0, 0, 0]
    pairs = 0
    for model in models:
        for eps in eps_list:
            recs = load_records(results, model, eps, PEERS, n)
            std = recs.get("standard")
            if std is None or not set(recs) >= set(PEERS):
                continue
            peers = {k: v for k, v in recs.items() if k != "standard"}
            union = {i for rec in peers.values() for i in missed(rec, std)}
            pairs += 1
            for k, mark in enumerate(bar(std, peers, len(union), n)):
                checks[k] += mark.startswith("yes")
    names = ["robust accuracy at or below every peer recipe's", "at most 1% of inputs broken by some peer but "
             "robust under `standard`", "CPU at most AutoAttack's", "CPU at most 2x SA-PGD + ASSG-100's"]
    return (f"Of the {pairs} model/eps pairs with every recipe run: "
            + "; ".join(f"{name}: **{c} of {pairs}**" for name, c in zip(names, checks)) + ".")


def summary_rows(results: Path, models, eps_list, n: int) -> list[str]:
    lines = ["| model | eps | clean | `standard` robust | strongest peer (robust) | peer-only breaks | "
             "CPU `standard` / AutoAttack / SA-PGD-100 | `standard` converged (escalation wall s) | "
             "bar: robust, peer-only, CPU vs AA, CPU vs 2x SA-PGD |",
             "|---|---|---:|---:|---|---:|---:|---|---|"]
    for model in models:
        for eps in eps_list:
            recs = load_records(results, model, eps, PEERS, n)
            std = recs.get("standard")
            if std is None:
                continue
            peers = {k: v for k, v in recs.items() if k != "standard"}
            best = min(peers, key=lambda k: peers[k].robust) if peers else None
            union = {i for rec in peers.values() for i in missed(rec, std)}
            aa, sp = recs.get("autoattack"), recs.get("sapgd-assg-100")
            cpu = f"{std.cpu_s:,.0f} / {aa.cpu_s:,.0f} / {sp.cpu_s:,.0f}" if aa and sp else f"{std.cpu_s:,.0f} / — / —"
            best_txt = f"{best} ({100 * peers[best].robust / n:.1f}%)" if best else "—"
            verdict, esc = escalation(std)
            lines.append(f"| {model} | {eps_label(eps).replace('_', '/')} | {100 * sum(std.clean_correct) / n:.1f}% | "
                         f"{100 * std.robust / n:.1f}% | {best_txt} | {len(union)} | {cpu} | "
                         f"{verdict} ({esc:,.0f}) | {' '.join(bar(std, peers, len(union), n))} |")
    return lines


def suite_rows(models, weights: Path) -> list[str]:
    lines = ["| model | framework | dataset | T | wrap (time, readout, encoding) | clean accuracy (test set) | "
             "training CPU s |", "|---|---|---|---:|---|---:|---:|"]
    for model in models:
        meta_path = paths(model, weights)[1]
        if not meta_path.exists():
            continue
        meta = json.loads(meta_path.read_text())
        lines.append(f"| {model} | {meta['framework']} | {meta['dataset']} | {meta['T']} | {meta['time']}, "
                     f"{meta['readout']}, {meta['encoding']} | {100 * meta['clean_accuracy']:.1f}% | "
                     f"{meta['train_cpu_s']:,.0f} |")
    return lines


def square_bound(results: Path, model: str, eps: float, n: int) -> list[str]:
    """Why the 2x SA-PGD CPU bar and the robust-accuracy bar cannot both hold on ``model``: after
    SA-PGD + ASSG-100, the only stage that breaks enough inputs to reach AutoAttack's robust count
    is Square (``square-5000-p08`` alone, per-input queries recorded); reaching that count needs
    Square to run at least ``q`` queries, where ``q`` is the query at which the k-th of the inputs
    SA-PGD and every other measured gradient stage left broke (those stages' breaks granted for
    free), and every input still robust at ``q`` costs ``q`` queries. The bound prices
    queries at Square's own measured CPU per query on this model."""
    recs = load_records(results, model, eps, ["sapgd-assg-100", "autoattack"], n)
    square_path = results / model / eps_label(eps) / "square-5000-p08.json"
    if len(recs) < 2 or not square_path.exists():
        return []
    sp, aa, sq = recs["sapgd-assg-100"], recs["autoattack"], Record.load(square_path)
    alive = [i for i in range(n) if sp.clean_correct[i] and not sp.broken[i]]
    folder = results / model / eps_label(eps)
    others = [Record.load(p) for p in sorted(folder.glob("*.json"))
              if not p.stem.startswith(("square", "autoattack", "standard", "hart"))]
    gradient = {i for rec in others if rec.n == n for i in alive if rec.broken[i]}
    need = len(alive) - aa.robust - len(gradient)  # every gradient break granted for free
    if need <= 0:
        return []
    queries = sq.extra["queries"]
    breaks = sorted(queries[i] for i in alive if sq.broken[i] and i not in gradient)
    if len(breaks) < need:
        return [f"- {model}: Square-5000 breaks {len(breaks)} of the {len(alive)} inputs SA-PGD leaves; "
                f"AutoAttack's count needs {need}."]
    q = breaks[need - 1]
    per_query = sum(sq.cost[i] for i in alive) / sum(queries[i] for i in alive)
    rest = len(alive) - len(gradient)
    least = per_query * (sum(breaks[:need]) + (rest - need) * q)
    left = 2 * sp.cpu_s - sp.cpu_s
    return [f"- {model}, eps {eps_label(eps).replace('_', '/')}: SA-PGD + ASSG-100 ({sp.cpu_s:,.0f} s) leaves "
            f"{len(alive)} inputs robust, AutoAttack {aa.robust}; every other gradient stage measured ({len(others)} "
            f"records, granted for free) breaks {len(gradient)} of them, so Square must break {need} more "
            f"(Square-5000 alone breaks {len(breaks)} of the rest, input number {need} at query {q}); so it "
            f"runs at least {q} queries, the {rest - need} inputs it has not broken by then cost {q} each: at least {least:,.0f} CPU s at its measured "
            f"{1000 * per_query:.2f} ms per query and input, against the {left:,.0f} s the 2x SA-PGD bar "
            f"leaves."]


def markdown(results: Path, weights: Path, models, eps_list, n: int, command: str) -> str:
    out = ["# The standard evaluation against the field's own attacks (peer suite)", "",
           "Generated by `perf/vs_peers.py --table` from the per-input records under `perf/peers/results/`; "
           f"first {n} test inputs of each model, Linf, CPU seconds of one thread (`time.process_time`).", "",
           f"    {command}", "", "## The suite", "",
           "SNNs written and trained with their frameworks' own loops (`perf/peers/`); the metadata is "
           "`perf/peers/suite.py`.", "", *suite_rows(models, weights), "",
           "## Summary", "", "*peer-only breaks*: inputs broken by some peer recipe that the standard evaluation "
           "reports robust.", "", *summary_rows(results, models, eps_list, n), "",
           bar_counts(results, models, eps_list, n), "",
           "## Recipes", "", *[f"- `{k}`: {v['about']}" for k, v in PEERS.items()], "",
           "## Method", "",
           "- Every recipe attacks the same clean-correct inputs; an input counts as broken when the wrapped "
           "model (`spikeattack.interop.wrap`, whose logits equal the network's own loop: checked at build time) "
           "misclassifies the recipe's image and the image lies in the eps-ball and [0, 1]. The Poisson-coded model "
           "is re-seeded before every verification, so all recipes are judged on the same noise.",
           "- AutoAttack runs through torchattacks on the raw network behind a module that resets its state and "
           "runs its own time loop (STBP with the network's own surrogate); its components at AutoAttack's "
           "original budgets, each on the inputs still robust (torchattacks' `AutoAttack` class would build "
           "10-step APGD/APGD-T/FAB).",
           "- HART's gamma is tuned on held-out training data (the standard evaluation tunes its own; its CPU "
           "time includes that).",
           "- MDSE's budget: the MDSE paper is not among the project's papers and our docstring names none; it "
           "runs inside APGD-CE at AutoAttack's APGD budget (100 steps).",
           "- The standard evaluation's interval is Clopper-Pearson at 95% over the N inputs.",
           "- The Poisson-coded model is stochastic: each verdict is one sampling of its prediction, so an input "
           "one recipe breaks and another does not may be sampling noise; the standard evaluation, run here in its "
           "`standard` version for every model, gets one sampling per stage (the `rand` version averages 4 per "
           "gradient and is what its docs advise for such a model).",
           "- Square is random search: torchattacks' Square and ours, at the same budget, break different inputs "
           "near the boundary (one input of `snn-tutorial5-membrane-fmnist-t8` at 4/255 falls to our Square with 2 "
           "of 4 seeds, and to torchattacks' with its seed 0); a difference of one or two inputs between "
           "`standard` and AutoAttack is of that kind.",
           "- `converged`: the standard evaluation's own certificate (escalation rounds of its two best gradient "
           "stages with 2, 4, 8x the iterations and one more restart, on a sample of 64 still-robust inputs); "
           "where it says **no**, the number is an upper bound that more budget still lowers, and the command line "
           "prints it as NOT CONVERGED.", ""]
    bounds = [line for model in models for eps in eps_list for line in square_bound(results, model, eps, n)]
    if bounds:
        out += ["## The CPU bar against the robust-accuracy bar", "",
                "Where a model resists every gradient stage, only Square's queries break its inputs, and "
                "Square at fewer queries breaks fewer: the cascade cannot be both at or below AutoAttack's "
                "robust accuracy and within 2x SA-PGD + ASSG-100's CPU with the stages measured here "
                "(`python perf/peers/stages.py --recipes sapgd-assg-100 square-5000-p08`):", "", *bounds, ""]
    for model in models:
        for eps in eps_list:
            recs = load_records(results, model, eps, PEERS, n)
            if not recs:
                continue
            out += [f"### {model}, eps {eps_label(eps).replace('_', '/')}", "", *model_table(recs, n), ""]
    return "\n".join(out) + "\n"

"""Cascades simulated offline from the per-input stage records (``stages.py``, ``vs_peers.py``).

A cascade is an ordered list of stages; each stage attacks only the inputs still robust, and its
cost is the sum of its per-input CPU seconds over those inputs (measured with the stage run alone
on every clean-correct input, in batches of 128; a later stage's smaller batches cost somewhat
more per input than that). Robust accuracy: clean-correct inputs no stage breaks. A stage that
uses HART (``hart``, ``mdse``) adds the gamma tuning's CPU once.

Derived stages: ``apgd-t1-*`` / ``apgd-t2-*`` are the first 1 / 2 targets of ``apgd-t3-*``.
Composite stages (``*-r2`` restarts, ``X@Y`` warm starts) include their base; an order holds a
composite or its base, not both.

The greedy order picks, at each step, the stage with the most newly broken inputs per unit of cost
summed over the suite (``--cost relative``: each model's CPU in units of its own SA-PGD + ASSG-100
run, so every model weighs the same; ``absolute``: CPU seconds). Each order is checked against the
issue's bar, per model and eps: robust accuracy at or below every peer recipe's, at most 1% of
inputs broken by some peer recipe but robust under the cascade, CPU at most AutoAttack's and at
most 2x SA-PGD + ASSG-100's.

    python perf/peers/cascade_sim.py --n 300                      # greedy orders + current cascade
    python perf/peers/cascade_sim.py --n 300 --order sapgd-assg-100 apgd-ce-25-stbp square-1000
    python perf/peers/cascade_sim.py --n 300 --markdown docs/peers-stages.md
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "peers"

from .recipes import PEERS, STAGES  # noqa: E402
from .runner import RESULTS, Record, eps_label  # noqa: E402
from .suite import SUITE  # noqa: E402

CURRENT = ["apgd-ce-25-stbp", "apgd-ce-25-bptr", "apgd-ce-25-rga", "apgd-ce-25-hart", "apgd-ce-25-cba",
           "apgd-t3-25-stbp", "apgd-t3-25-bptr", "apgd-t3-25-rga", "apgd-t3-25-hart", "apgd-t3-25-cba",
           "sapgd-assg-50", "mdse-25", "square-500"]
PEER_ONLY_SHARE = 0.01


@dataclass
class Stage:
    broken: np.ndarray
    cost: np.ndarray
    includes: str | None = None
    uses_hart: bool = False


@dataclass
class Evidence:
    """One model at one eps: clean-correct inputs, every stage's per-input record, the peers'."""

    model: str
    eps: float
    n: int
    clean: np.ndarray
    stages: dict[str, Stage] = field(default_factory=dict)
    peers: dict[str, Record] = field(default_factory=dict)
    hart_cpu: float = 0.0

    @property
    def unit(self) -> float:
        """CPU seconds of SA-PGD + ASSG-100 alone (the relative cost unit)."""
        rec = self.peers.get("sapgd-assg-100")
        return rec.cpu_s if rec else 1.0


def _uses_hart(spec: dict, catalog: dict) -> bool:
    if spec.get("grad") in ("hart", "mdse"):
        return True
    base = spec.get("base") or spec.get("from")
    return bool(base) and _uses_hart(catalog[base], catalog)


def load(results: Path, model: str, eps: float, n: int) -> Evidence | None:
    folder = results / model / eps_label(eps)
    recs = {}
    for name in {**STAGES, **PEERS}:
        path = folder / f"{name}.json"
        if path.exists():
            rec = Record.load(path)
            if rec.n == n:
                recs[name] = rec
    if not recs:
        return None
    any_rec = next(iter(recs.values()))
    ev = Evidence(model, eps, n, np.array(any_rec.clean_correct, dtype=bool))
    hart = folder / "hart_gamma.json"
    ev.hart_cpu = json.loads(hart.read_text())["cpu_s"] if hart.exists() else 0.0
    for name, rec in recs.items():
        if name in PEERS:
            ev.peers[name] = rec
        if name not in STAGES:
            continue
        spec = STAGES[name]
        broken, cost = np.array(rec.broken, dtype=bool), np.array(rec.cost, dtype=float)
        hart_used = _uses_hart(spec, STAGES)
        ev.stages[name] = Stage(broken, cost, spec.get("base") or spec.get("from"), hart_used)
        if spec["kind"] == "targeted":
            at = np.array(rec.extra["broken_at"])
            per = np.array(rec.extra["cost_targets"])
            for k in range(1, spec["targets"]):
                ev.stages[name.replace(f"-t{spec['targets']}-", f"-t{k}-")] = Stage(
                    (at >= 0) & (at < k), per[:k].sum(0), None, hart_used)
    return ev


def simulate(ev: Evidence, order: list[str]) -> tuple[np.ndarray, float, list[tuple[str, int, int, float]]]:
    """(robust flags, CPU seconds, per stage (name, attacked, newly broken, CPU)) of ``order``."""
    robust, cpu, trace, hart_paid = ev.clean.copy(), 0.0, [], False
    for name in order:
        st = ev.stages.get(name)
        if st is None:
            raise KeyError(f"{ev.model} eps {eps_label(ev.eps)}: no record of stage {name!r}")
        spent = float(st.cost[robust].sum())
        if st.uses_hart and not hart_paid:
            spent += ev.hart_cpu
            hart_paid = True
        new = robust & st.broken
        trace.append((name, int(robust.sum()), int(new.sum()), spent))
        robust = robust & ~st.broken
        cpu += spent
    return robust, cpu, trace


def peer_check(ev: Evidence, robust: np.ndarray, cpu: float) -> dict:
    """The issue's bar for one model/eps: robust <= every peer, <= 1% peer-only, CPU <= AA, <= 2x SA-PGD."""
    peers = {k: v for k, v in ev.peers.items() if k != "standard"}
    peer_only = set()
    for rec in peers.values():
        peer_only |= set(np.flatnonzero(np.array(rec.broken, dtype=bool) & robust))
    best = min((r.robust for r in peers.values()), default=None)
    aa, sp = peers.get("autoattack"), peers.get("sapgd-assg-100")
    return {"robust": int(robust.sum()), "best_peer": best, "peer_only": len(peer_only), "cpu": cpu,
            "ok_robust": best is None or int(robust.sum()) <= best,
            "ok_peer_only": len(peer_only) <= PEER_ONLY_SHARE * ev.n,
            "ok_cpu_aa": aa is None or cpu <= aa.cpu_s, "ok_cpu_sapgd": sp is None or cpu <= 2 * sp.cpu_s}


def compatible(order: list[str], name: str, evs: list[Evidence]) -> bool:
    st = next((ev.stages[name] for ev in evs if name in ev.stages), None)
    if st is None or name in order:
        return False
    if st.includes and st.includes in order:
        return False
    return not any(next((ev.stages[o].includes for ev in evs if o in ev.stages), None) == name for o in order)


def greedy(evs: list[Evidence], relative: bool, candidates: list[str] | None = None, max_len: int = 12
           ) -> list[tuple[str, int, float]]:
    """The greedy order: (stage, newly broken over the suite, cost) per step, best ratio first."""
    names = candidates or sorted({s for ev in evs for s in ev.stages if all(s in e.stages for e in evs)})
    order: list[str] = []
    robust = {id(ev): ev.clean.copy() for ev in evs}
    hart_paid = {id(ev): False for ev in evs}
    steps = []
    while len(order) < max_len:
        best, best_ratio, best_stats = None, 0.0, None
        for name in names:
            if not compatible(order, name, evs):
                continue
            new, cost = 0, 0.0
            for ev in evs:
                st, r = ev.stages[name], robust[id(ev)]
                c = float(st.cost[r].sum()) + (ev.hart_cpu if st.uses_hart and not hart_paid[id(ev)] else 0.0)
                new += int((r & st.broken).sum())
                cost += c / ev.unit if relative else c
            ratio = new / max(cost, 1e-9)
            if new and ratio > best_ratio:
                best, best_ratio, best_stats = name, ratio, (new, cost)
        if best is None:
            break
        order.append(best)
        for ev in evs:
            st = ev.stages[best]
            hart_paid[id(ev)] |= st.uses_hart
            robust[id(ev)] &= ~st.broken
        steps.append((best, best_stats[0], best_stats[1]))
    return steps


def shortest_passing_prefix(evs: list[Evidence], order: list[str]) -> list[str]:
    """The shortest prefix of ``order`` that meets the robust-accuracy and peer-only bar everywhere."""
    for k in range(1, len(order) + 1):
        checks = [peer_check(ev, *simulate(ev, order[:k])[:2]) for ev in evs]
        if all(c["ok_robust"] and c["ok_peer_only"] for c in checks):
            return order[:k]
    return order


# ---------------------------------------------------------------------------- reporting
def _sec(c: float) -> str:
    return f"{c:.1f}" if c < 10 else f"{c:,.0f}"


def _primary(name: str) -> bool:
    """A stage run on its own (not a derived target subset, not a restart/warm composite)."""
    return name in STAGES and STAGES[name]["kind"] not in ("restart", "warm")


def stage_matrix(evs: list[Evidence]) -> list[str]:
    """Per stage and model/eps: inputs broken alone / CPU s; totals, broken per CPU second, and the
    inputs only it breaks (no other primary stage nor any peer recipe does)."""
    cols = [(ev.model, eps_label(ev.eps).replace("_", "/")) for ev in evs]
    names = [s for s in STAGES if any(s in ev.stages for ev in evs)]
    names += sorted({s for ev in evs for s in ev.stages} - set(names))
    head = ("| stage | " + " | ".join(f"{m} {e}" for m, e in cols) +
            " | all: broken / CPU s | broken per CPU s | only it |")
    lines = [head, "|---|" + "---:|" * (len(cols) + 3)]
    for name in names:
        cells, tb, tc, only = [], 0, 0.0, 0
        for ev in evs:
            st = ev.stages.get(name)
            if st is None:
                cells.append("")
                continue
            b, c = int(st.broken.sum()), float(st.cost.sum())
            tb, tc = tb + b, tc + c
            others = np.zeros(ev.n, dtype=bool)
            for other, ost in ev.stages.items():
                if other != name and _primary(other):
                    others |= ost.broken
            for pname, rec in ev.peers.items():
                if pname != name:
                    others |= np.array(rec.broken, dtype=bool)
            only += int((st.broken & ~others).sum()) if _primary(name) else 0
            cells.append(f"{b} / {_sec(c)}")
        lines.append(f"| {name} | " + " | ".join(cells) +
                     f" | {tb} / {_sec(tc)} | {tb / max(tc, 1e-9):.2f} | {only if _primary(name) else ''} |")
    return lines


def order_table(evs: list[Evidence], order: list[str]) -> tuple[list[str], int]:
    lines = ["| model | eps | robust (sim) | strongest peer | peer-only | CPU s (sim) | AutoAttack CPU | "
             "2x SA-PGD-100 CPU | `standard` measured: robust, CPU | meets bar |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    passing = 0
    for ev in evs:
        robust, cpu, _ = simulate(ev, order)
        c = peer_check(ev, robust, cpu)
        aa, sp, std = ev.peers.get("autoattack"), ev.peers.get("sapgd-assg-100"), ev.peers.get("standard")
        flags = [k[3:] for k in ("ok_robust", "ok_peer_only", "ok_cpu_aa", "ok_cpu_sapgd") if not c[k]]
        passing += not flags
        lines.append(f"| {ev.model} | {eps_label(ev.eps).replace('_', '/')} | {c['robust']} | "
                     f"{c['best_peer'] if c['best_peer'] is not None else '—'} | {c['peer_only']} | {cpu:,.0f} | "
                     f"{f'{aa.cpu_s:,.0f}' if aa else '—'} | {f'{2 * sp.cpu_s:,.0f}' if sp else '—'} | "
                     f"{f'{std.robust}, {std.cpu_s:,.0f}' if std else '—'} | "
                     f"{'yes' if not flags else 'no: ' + ', '.join(flags)} |")
    return lines, passing


def complete(evs: list[Evidence], order: list[str]) -> list[Evidence]:
    return [ev for ev in evs if all(s in ev.stages for s in order)]


def report(evs: list[Evidence], orders: dict[str, list[str]]) -> str:
    out = ["# Cascade evidence: every stage alone, and cascades simulated from it", "",
           "Generated by `perf/peers/cascade_sim.py` from the per-input records of `perf/peers/stages.py` and "
           "`perf/vs_peers.py` (first N test inputs, Linf; CPU seconds of one thread). Cell: inputs broken by the "
           "stage alone / its CPU seconds on every clean-correct input.", "", "## Stages alone", "",
           *stage_matrix(evs), ""]
    for title, order in orders.items():
        usable = complete(evs, order)
        lines, passing = order_table(usable, order)
        out += [f"## {title}", "", "`" + " -> ".join(order) + "`", "",
                f"Meets the bar on {passing} of {len(usable)} model/eps pairs.", "", *lines, ""]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--eps", nargs="*", default=["8/255", "4/255"])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--order", nargs="*", default=None, help="also simulate this order")
    parser.add_argument("--max-len", type=int, default=12)
    parser.add_argument("--markdown", type=Path, default=None, help="write the report there")
    args = parser.parse_args(argv)
    from .grid import parse_eps

    evs = [ev for m in (args.models or SUITE) for e in args.eps
           if (ev := load(args.results, m, parse_eps(e), args.n)) is not None]
    if not evs:
        parser.error(f"no records for N = {args.n} under {args.results}")
    full = [ev for ev in evs if all(s in ev.stages for s in CURRENT)]
    orders = {"The current cascade (`standard`), simulated": CURRENT}
    for relative in (True, False):
        steps = greedy(full, relative, max_len=args.max_len)
        order = [s for s, _, _ in steps]
        kind = "relative cost (units of each model's SA-PGD-100)" if relative else "absolute CPU"
        print(f"greedy ({kind}):")
        for s, new, cost in steps:
            print(f"  {s}: {new} new, cost {cost:.2f}, {new / max(cost, 1e-9):.2f} per unit")
        orders[f"Greedy order, {kind}"] = order
        prefix = shortest_passing_prefix(full, order)
        orders[f"Shortest prefix of the greedy order ({'relative' if relative else 'absolute'}) that meets the "
               f"robust-accuracy and peer-only bar"] = prefix
    if args.order:
        orders["Given order"] = args.order
    text = report(evs, orders)
    if args.markdown:
        args.markdown.write_text(text)
        print(f"wrote {args.markdown}")
    else:
        print(text)


if __name__ == "__main__":
    main()

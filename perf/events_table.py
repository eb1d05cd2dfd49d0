"""SDA vs spike-BIM on event models: success, flips, time per input, and the event cascade at an
L0 budget, side by side in one run per model (docs/events.md's table comes from this script).

For each checkpoint (an event model trained by ``spikeattack train``), on its first ``--n``
correctly classified test inputs:

- ``unbounded``: SDA (PDSG, the paper's k_init = 10, 500 rounds) and Liang et al.'s spike-BIM
  (STBP, the model's training loss, 25 steps, gamma 0.05) without a budget, one after the
  other on the same inputs in the same process: success, flips per input, seconds per input;
- ``budget``: spike-BIM at the L0 budget ``--eps`` (its eps set by ``spike_bim_eps``) and the
  event cascade (``event_evaluation``, standard, with its convergence check) at the same
  budget: robust accuracies with 95% Clopper-Pearson intervals.

Each (model, part) is written to ``<out>/<model>-<part>.json`` and skipped when present, so
an interrupted run resumes. Prints a Markdown table. ``--parts retime`` adds spike retiming
(timing only) at jitter 1, and at jitter 2 with at most 5% of the events moved.

    OMP_NUM_THREADS=1 python perf/events_table.py runs/ev/nmnist-ce.pt runs/ev/nmnist-mse.pt \\
        --out runs/events-table --n 200 --eps 1%
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _inputs(path: str, n: int):
    import torch

    from spikeattack.data import load_dataset
    from spikeattack.training import load_checkpoint

    model, meta = load_checkpoint(path)
    x, y = load_dataset(meta["dataset"]).split("test")
    with torch.no_grad():
        ok = torch.cat([model(x[:, i:i + 256].float()).argmax(-1) == y[i:i + 256] for i in range(0, len(y), 256)])
    idx = ok.nonzero().squeeze(1)[:n]
    return model, meta, x[:, idx].float().contiguous(), y[idx], float(ok[:int(idx[-1]) + 1].float().mean())


def _timed(attack, x, y, batch: int):
    import torch

    start = time.perf_counter()
    parts = [attack(x[:, i:i + batch], y[i:i + batch]) for i in range(0, len(y), batch)]
    seconds = time.perf_counter() - start
    adv = torch.cat(parts, 1)
    with torch.no_grad():
        fooled = torch.cat([attack.model(adv[:, i:i + 256]).argmax(-1) != y[i:i + 256] for i in range(0, len(y), 256)])
    flips = (adv != x).movedim(1, 0).flatten(1).sum(1)
    return {"fooled": fooled.tolist(), "flips": flips.tolist(), "seconds": seconds, "per_input": seconds / len(y),
            "adv": adv}


def unbounded(path: str, n: int, batch: int) -> dict:
    from spikeattack.evaluation import compare_sda_spike_bim

    model, meta, x, y, clean = _inputs(path, n)
    loss = meta["train"]["loss"]
    c = compare_sda_spike_bim(model, x, y, loss=loss, sda_grad="pdsg", bim_grad="stbp", steps=25, gamma=0.05,
                              rounds=500, batch_size=batch)
    return {"n": len(y), "clean_accuracy_prefix": clean, "loss": loss,
            "sda": {"fooled": c.sda_fooled, "flips": c.sda_flips, "per_input": c.sda_seconds_per_input},
            "spike_bim": {"fooled": c.spike_bim_fooled, "flips": c.spike_bim_flips,
                          "per_input": c.spike_bim_seconds_per_input},
            "mcnemar": {"verdict": c.verdict, "pvalue": c.pvalue}}


def budget(path: str, n: int, eps: str, batch: int) -> dict:
    from spikeattack.attacks import make_attack
    from spikeattack.attacks.threat import Budget, spike_bim_eps
    from spikeattack.evaluation import clopper_pearson
    from spikeattack.evaluation.events import event_evaluation

    model, meta, x, y, _ = _inputs(path, n)
    k = Budget.parse(eps).resolve(x[:, 0].numel())
    bim = make_attack("spike-bim", model, grad="stbp", loss=meta["train"]["loss"], steps=25, gamma=0.05,
                      eps=spike_bim_eps(k, x[:, 0].numel()))
    b = _timed(bim, x, y, batch)
    b.pop("adv")
    robust = len(y) - sum(b["fooled"])
    start = time.perf_counter()
    cascade = event_evaluation(model, x, y, eps=eps, batch_size=batch, progress=lambda line: print("   ", line,
                                                                                                   flush=True))
    return {"n": len(y), "k": k, "eps": eps,
            "spike_bim": {"robust_accuracy": robust / len(y), "ci": clopper_pearson(robust, len(y)),
                          "max_flips": max(b["flips"]), "seconds": b["seconds"]},
            "cascade": {"robust_accuracy": cascade.robust_accuracy, "ci": list(cascade.robust_accuracy_ci),
                        "stages": [[s.attack, s.estimator, s.new] for s in cascade.stages],
                        "convergence": None if cascade.convergence is None else cascade.convergence.to_dict(),
                        "max_flips": max((r.flips for r in cascade.records), default=0),
                        "seconds": time.perf_counter() - start}}


def retime(path: str, n: int, batch: int) -> dict:
    """Spike retiming (timing only) at jitter 1 and at jitter 2 with 5% of the events moved at
    most: success, realised budgets (checked by ``retime_cost``), seconds per input."""
    import torch

    from spikeattack.attacks import make_attack
    from spikeattack.attacks.threat import RetimeBudget, retime_cost

    model, meta, x, y, _ = _inputs(path, n)
    out = {"n": len(y)}
    for key, budget in (("jitter1", {"jitter": 1}), ("jitter2-tamper5", {"jitter": 2, "tamper": "5%"})):
        attack = make_attack("retime", model, steps=50, **budget)
        r = _timed(attack, x, y, batch)
        adv = r.pop("adv")
        cost = retime_cost(x.movedim(1, 0), adv.movedim(1, 0))
        assert bool(RetimeBudget.make(**budget).within(cost).all()), "a retimed input broke its budget"
        fooled = torch.tensor(r["fooled"])
        out[key] = {"success": sum(r["fooled"]) / len(y), "per_input": r["per_input"],
                    "median_tampered": float(cost.tampered[fooled].double().median()) if fooled.any() else None,
                    "median_events": float(cost.events.double().median())}
    return out


def _median(values: list[int]) -> float:
    import statistics

    return float(statistics.median(values)) if values else float("nan")


def table(rows: dict[str, dict]) -> str:
    lines = ["| model | n | SDA success | spike-BIM success | median flips SDA / spike-BIM (both fooled) | ratio "
             "| s/input SDA / spike-BIM | robust acc. at eps: spike-BIM | event cascade |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        u, b = r.get("unbounded"), r.get("budget")
        cells = [name, str(u["n"]) if u else "-"]
        if u:
            sf, bf = u["sda"]["fooled"], u["spike_bim"]["fooled"]
            both = [i for i in range(len(sf)) if sf[i] and bf[i]]
            ms = _median([u["sda"]["flips"][i] for i in both])
            mb = _median([u["spike_bim"]["flips"][i] for i in both])
            cells += [f"{sum(sf) / len(sf):.1%}", f"{sum(bf) / len(bf):.1%}", f"{ms:g} / {mb:g} ({len(both)})",
                      f"{ms / mb:.2f}", f"{u['sda']['per_input']:.2f} / {u['spike_bim']['per_input']:.3f}"]
        else:
            cells += ["-"] * 5
        if b:
            sb, ca = b["spike_bim"], b["cascade"]
            conv = ca.get("convergence") or {}
            mark = "" if conv.get("converged", True) else " (not converged)"
            cells += [f"{sb['robust_accuracy']:.1%} [{sb['ci'][0]:.1%}, {sb['ci'][1]:.1%}] (k={b['k']})",
                      f"{ca['robust_accuracy']:.1%} [{ca['ci'][0]:.1%}, {ca['ci'][1]:.1%}]{mark}"]
        else:
            cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--eps", default="1%")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--parts", nargs="*", default=["unbounded", "budget"], choices=("unbounded", "budget", "retime"),
                        help="parts to compute (none: print the table of what is stored)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    rows: dict[str, dict] = {}
    for path in args.checkpoints:
        name = os.path.splitext(os.path.basename(path))[0]
        rows[name] = {}
        for part in ("unbounded", "budget", "retime"):
            file = os.path.join(args.out, f"{name}-{part}.json")
            if not os.path.exists(file) and part in args.parts:
                print(f"{name}: {part}", flush=True)
                result = {"unbounded": lambda: unbounded(path, args.n, args.batch),
                          "budget": lambda: budget(path, args.n, args.eps, args.batch),
                          "retime": lambda: retime(path, args.n, args.batch)}[part]()
                with open(file + ".tmp", "w") as f:
                    json.dump(result, f)
                os.replace(file + ".tmp", file)
            if os.path.exists(file):
                with open(file) as f:
                    rows[name][part] = json.load(f)
    print(table(rows))


if __name__ == "__main__":
    main()

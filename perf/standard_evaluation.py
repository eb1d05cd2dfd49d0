"""Measure the standard evaluation against the previous headline, and the cascade's saving.

For each checkpoint: (1) ``standard_evaluation`` (cascade) at ``--eps``; (2) the previous
headline: the minimum over attacks (FGSM, PGD-10) of each attack's per-input worst case over
the five estimators (hart with the gamma the evaluation tuned); (3) with ``--no-cascade``
also every stage on every clean-correct input, for the wall-time ratio. Prints one JSON
object per checkpoint.

    OMP_NUM_THREADS=1 python perf/standard_evaluation.py runs/snn.pt --eps 0.1 --limit 200 --no-cascade
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from spikeattack.attacks import make_attack
from spikeattack.data import load_dataset
from spikeattack.evaluation import standard_evaluation, tune_estimator
from spikeattack.evaluation.standard import HART_GAMMAS
from spikeattack.training import load_checkpoint


def previous_headline(model, x, y, eps: float, gamma: float, seed: int = 0) -> dict:
    """min over {fgsm, pgd} of the share of inputs robust to every estimator."""
    with torch.no_grad():
        correct = model(x).argmax(-1) == y
    out = {}
    for attack, params in (("fgsm", {}), ("pgd", {"steps": 10})):
        robust = correct.clone()
        per = {}
        for grad in ("stbp", "bptr", "rga", "hart", "cba"):
            gp = {"gamma": gamma} if grad == "hart" else {}
            x_adv = make_attack(attack, model, eps=eps, grad=grad, grad_params=gp, seed=seed, **params)(x, y)
            with torch.no_grad():
                ok = model(x_adv).argmax(-1) == y
            per[grad] = float((correct & ok).float().mean())
            robust &= ok
        out[attack] = {"per_estimator": per, "worst_case": float(robust.float().mean())}
    out["headline"] = min(v["worst_case"] for v in out.values())
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--no-cascade", action="store_true", help="also run every stage on every input")
    p.add_argument("--only", choices=("headline", "cascade", "no-cascade"), default=None,
                   help="only the previous headline, only the cascade, or only every stage on every input "
                        "(the last two with --hart-gamma: start both at once to time them under the same load)")
    p.add_argument("--hart-gamma", type=float, default=None, help="skip tuning: use this HART gamma")
    args = p.parse_args()
    for path in args.checkpoints:
        model, meta = load_checkpoint(path)
        data = load_dataset(meta["dataset"], **({"resize": meta["resize"]} if meta.get("resize") else {}))
        x, y = data.split("test")
        x, y = x[: args.limit], y[: args.limit]
        log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
        if args.only == "headline":
            gamma = args.hart_gamma or tune_estimator(model, data, "hart", "gamma", HART_GAMMAS, attack="pgd",
                                                      attack_params={"eps": args.eps, "steps": 10}, n=200).best
            t0 = time.perf_counter()
            old = previous_headline(model, x, y, args.eps, gamma)
            print(json.dumps({"checkpoint": path, "eps": args.eps, "n": len(y), "hart_gamma": gamma,
                              "previous_headline": old,
                              "previous_seconds": time.perf_counter() - t0}), flush=True)
            continue
        if args.only in ("cascade", "no-cascade"):
            full = standard_evaluation(model, x, y, eps=args.eps, hart_gamma=args.hart_gamma,
                                       cascade=args.only == "cascade", progress=log)
            print(json.dumps({"checkpoint": path, "eps": args.eps, "n": len(y), "cascade": full.cascade,
                              "stage_seconds": sum(s.seconds for s in full.stages),
                              "process_cpu_seconds": time.process_time(),
                              "robust_accuracy": full.robust_accuracy,
                              "stage_alone": [{"attack": s.attack, "estimator": s.estimator, "broken": s.broken,
                                               "seconds": round(s.seconds, 1)} for s in full.stages]}), flush=True)
            continue
        result = standard_evaluation(model, x, y, eps=args.eps, train_data=data, progress=log)
        log(json.dumps({"robust_accuracy": result.robust_accuracy, "hart_gamma": result.hart_gamma,
                        "stages": [(s.attack, s.estimator, s.attacked, s.new, round(s.seconds, 1))
                                   for s in result.stages]}))
        t0 = time.perf_counter()
        old = previous_headline(model, x, y, args.eps, result.hart_gamma or 1.0)
        log(json.dumps({"previous_headline": old}))
        row = {"checkpoint": path, "eps": args.eps, "n": len(y), "clean_accuracy": result.clean_accuracy,
               "previous_headline": old, "robust_accuracy": result.robust_accuracy,
               "robust_accuracy_ci": list(result.robust_accuracy_ci), "hart_gamma": result.hart_gamma,
               "cascade_seconds": sum(s.seconds for s in result.stages), "previous_seconds": time.perf_counter() - t0,
               "stages": [{"attack": s.attack, "estimator": s.estimator, "attacked": s.attacked, "new": s.new,
                           "seconds": round(s.seconds, 2)} for s in result.stages]}
        if args.no_cascade:
            full = standard_evaluation(model, x, y, eps=args.eps, hart_gamma=result.hart_gamma, cascade=False,
                                       progress=log)
            row["every_stage_seconds"] = sum(s.seconds for s in full.stages)
            row["ratio"] = row["cascade_seconds"] / row["every_stage_seconds"]
            row["stage_alone"] = [{"attack": s.attack, "estimator": s.estimator, "broken": s.broken,
                                   "robust_accuracy": result.clean_accuracy - s.broken / len(y)} for s in full.stages]
            row["no_cascade_robust_accuracy"] = full.robust_accuracy
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

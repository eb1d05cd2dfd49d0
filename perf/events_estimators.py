"""Which gradient estimators pay off for the event attacks at an L0 budget (the event cascade's
stage list comes from this measurement; docs/events.md).

For one checkpoint, on the correctly classified inputs among its first ``--n`` test inputs:
SDA (30 rounds, the cascade's) and spike-BIM (25 steps, gamma 0.05, CE and MSE loss) under the
budget ``--eps`` with each estimator; prints per attack and estimator the inputs fooled within
the budget, the seconds, and the inputs the union of estimator sets fools.

    OMP_NUM_THREADS=1 python perf/events_estimators.py runs/ev/nmnist-ce.pt --n 120 --eps 1% --out est-ce.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

ESTIMATORS = ("pdsg", "stbp", "hart", "bptr", "rga")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--n", type=int, default=120)
    parser.add_argument("--eps", default="1%")
    parser.add_argument("--out", default=None, help="write the per-input results as JSON")
    args = parser.parse_args()
    import torch

    from spikeattack.attacks import make_attack
    from spikeattack.attacks.threat import Budget, spike_bim_eps
    from spikeattack.data import load_dataset
    from spikeattack.training import load_checkpoint

    torch.set_num_threads(1)
    model, meta = load_checkpoint(args.checkpoint)
    x, y = load_dataset(meta["dataset"]).split("test")
    x, y = x[:, :args.n].float(), y[:args.n]
    with torch.no_grad():
        ok = model(x).argmax(-1) == y
    x, y = x[:, ok].contiguous(), y[ok]
    elements = x[:, 0].numel()
    k = Budget.parse(args.eps).resolve(elements)
    results: dict = {"n": len(y), "k": k}

    def run(key: str, name: str, **params) -> None:
        start = time.perf_counter()
        adv = make_attack(name, model, **params)(x, y)
        with torch.no_grad():
            fooled = model(adv).argmax(-1) != y
        flips = (adv != x).movedim(1, 0).flatten(1).sum(1)
        results[key] = {"within": (fooled & (flips <= k)).tolist(), "seconds": time.perf_counter() - start}
        print(f"{key}: {sum(results[key]['within'])} of {len(y)} within {k} flips, "
              f"{results[key]['seconds']:.0f} s", flush=True)

    for grad in ESTIMATORS:
        run(f"sda-{grad}", "sda", grad=grad, eps=k, rounds=30)
    for grad, loss in itertools.product(ESTIMATORS, ("ce", "mse")):
        run(f"spike-bim-{grad}-{loss}", "spike-bim", grad=grad, loss=loss, eps=spike_bim_eps(k, elements),
            steps=25, gamma=0.05)
    sda = [f"sda-{g}" for g in ESTIMATORS]
    for size in range(2, len(sda) + 1):
        for combo in itertools.combinations(sda, size):
            if combo[0] == "sda-pdsg":
                union = sum(any(results[c]["within"][i] for c in combo) for i in range(len(y)))
                print(f"union {' + '.join(combo)}: {union}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()

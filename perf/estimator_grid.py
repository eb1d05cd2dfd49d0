"""All five estimators on the same inputs: one shared spiking forward vs one per estimator.

Three measurements, each run once (process CPU time and wall time; the machine may be shared):

1. ``attacks``: FGSM and PGD-10 (eps 8/255) with stbp, bptr, rga, hart, cba on one batch of a
   VGG-11 (3x32x32, LIF decay 0.5, calibrated batch-norm), each estimator's attack alone vs
   the five inside one :func:`~spikeattack.gradients.shared_forward` block; the adversarial
   examples are asserted identical.
2. ``rate path``: the input-gradient time of bptr/rga/hart over one no-grad spiking forward
   (minimum of ``--repeats``) at each of ``--rate-timesteps``.
3. ``bench grid``: a ``bench`` experiment of FGSM with all five estimators (embedded digits,
   ``small_cnn`` SNN, 3 eps, white-box, 300 inputs) vs the same grid with STBP alone; the
   model is trained once and shared by both runs.

    OMP_NUM_THREADS=1 PYTHONPATH=src python perf/estimator_grid.py
    python perf/estimator_grid.py --batch 8 --width 0.5 --timesteps 4 --parts attacks rate
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

NAMES = ("stbp", "bptr", "rga", "hart", "cba")

GRID = """
name = "fgsm-grid"
seed = 0
[data]
dataset = "digits"
limit = 300
[train]
epochs = 3
lr = 1e-3
[models.snn]
arch = "small_cnn"
decay = 0.5
timesteps = 8
[[grid]]
targets = ["snn"]
attacks = ["fgsm"]
estimators = {estimators}
eps = [0.05, 0.1, 0.2]
scenarios = ["white-box"]
"""


class Clock:
    def __enter__(self) -> "Clock":
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu, self.wall = time.process_time() - self.cpu, time.perf_counter() - self.wall


def attacks(args: argparse.Namespace) -> list[str]:
    from vs_spikingjelly import build

    from spikeattack.attacks import make_attack
    from spikeattack.gradients import shared_forward

    model, _, x, y = build(args.timesteps, args.batch, args.width, "cpu")
    lines = []
    for attack, params in (("fgsm", {}), ("pgd", {"steps": 10})):
        def all_five():
            return [make_attack(attack, model, eps=8 / 255, grad=g, seed=0, **params)(x, y) for g in NAMES]

        all_five()  # warm-up
        with Clock() as alone:
            expected = all_five()
        with Clock() as shared:
            with shared_forward(list(NAMES)) as cache:
                got = all_five()
        assert all(torch.equal(a, b) for a, b in zip(expected, got)), "shared results differ"
        assert cache.served == len(NAMES) - 1
        with Clock() as stbp:
            make_attack(attack, model, eps=8 / 255, grad="stbp", seed=0, **params)(x, y)
        lines.append(f"| {attack}{'-10' if params else ''} | {alone.cpu:.2f} / {alone.wall:.2f} "
                     f"| {shared.cpu:.2f} / {shared.wall:.2f} | {alone.cpu / shared.cpu:.2f} "
                     f"| {shared.cpu / stbp.cpu:.2f} |")
    return lines


def rate_path(args: argparse.Namespace, timesteps: int) -> list[str]:
    from vs_spikingjelly import build

    from spikeattack.gradients import make_estimator

    model, _, x, y = build(timesteps, args.batch, args.width, "cpu")
    best: dict[str, float] = {}
    for r in range(args.repeats + 1):
        with Clock() as fwd:
            with torch.no_grad():
                model(x)
        if r:
            best["forward"] = min(best.get("forward", 1e9), fwd.cpu)
        for name in ("bptr", "rga", "hart"):
            xv = x.clone().requires_grad_(True)
            with Clock() as g:
                loss = torch.nn.functional.cross_entropy(make_estimator(name)(model, xv), y)
                torch.autograd.grad(loss, xv)
            if r:
                best[name] = min(best.get(name, 1e9), g.cpu)
    return [f"| {n} | {timesteps} | {best[n]:.3f} | {best['forward']:.3f} | {best[n] / best['forward']:.2f} |"
            for n in ("bptr", "rga", "hart")]


def bench_grid() -> list[str]:
    import contextlib
    from unittest import mock

    from spikeattack.bench import runner
    from spikeattack.bench.experiment import parse_experiment
    from spikeattack.bench.runner import run_experiment

    quiet = {"progress": False, "log": lambda m: None}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        five = parse_experiment(GRID.format(estimators=list(NAMES)).replace("'", '"'))
        stbp = parse_experiment(GRID.format(estimators='["stbp"]'))
        run_experiment(stbp, root / "train", **quiet)  # trains the model once
        times = {}
        for label, exp in (("stbp", stbp), ("five", five), ("unshared", five)):
            shutil.copytree(root / "train" / "models", root / label / "models")
            with Clock() as c:
                if label == "unshared":  # every cell its own forwards, as before sharing
                    with mock.patch.object(runner, "sharing", lambda cells: contextlib.nullcontext()):
                        run_experiment(exp, root / label, **quiet)
                else:
                    run_experiment(exp, root / label, **quiet)
            times[label] = c
    s = times["stbp"]
    rows = {"stbp": "STBP alone", "unshared": "all five estimators, one forward each",
            "five": "all five estimators, shared forwards"}
    return [f"| FGSM, 3 eps, {text} | {times[k].cpu:.2f} / {times[k].wall:.2f} "
            f"| {times[k].cpu / s.cpu:.2f} (wall {times[k].wall / s.wall:.2f}) |" for k, text in rows.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rate-timesteps", type=int, nargs="+", default=[4, 8, 16],
                   help="time steps of the rate-path part (default 4 8 16)")
    p.add_argument("--parts", nargs="+", default=["attacks", "rate", "bench"], choices=["attacks", "rate", "bench"])
    args = p.parse_args()
    torch.manual_seed(0)
    print(f"VGG-11 (width {args.width}), T = {args.timesteps}, batch {args.batch}, 3x32x32, CPU; "
          "times as CPU s / wall s\n")
    if "attacks" in args.parts:
        print("| attack, five estimators | one forward each | shared forward | speed-up (CPU) "
              "| shared / STBP alone (CPU) |")
        print("|---|---:|---:|---:|---:|")
        print("\n".join(attacks(args)), flush=True)
    if "rate" in args.parts:
        print("\n| rate-path estimator | T | gradient (CPU s) | no-grad spiking forward (CPU s) | ratio |")
        print("|---|---:|---:|---:|---:|")
        for T in args.rate_timesteps:
            print("\n".join(rate_path(args, T)), flush=True)
    if "bench" in args.parts:
        print("\n| `bench` grid (digits, 300 inputs, white-box) | time (CPU s / wall s) | / STBP alone |")
        print("|---|---:|---:|")
        print("\n".join(bench_grid()))


if __name__ == "__main__":
    main()

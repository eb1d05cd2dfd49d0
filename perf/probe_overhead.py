"""What a rate-path estimator's probe adds to one no-grad spiking forward.

The VGG-11 of ``vs_spikingjelly.py`` (3x32x32, LIF decay 0.5, calibrated batch-norm), one
no-grad forward without probes against the same forward with a :class:`NeuronProbe` on
every spiking layer: recording every statistic (what ``NeuronProbe(surrogate)`` does) and
only what the estimator reads (bptr: the rate, rga: the mean current, hart: the mean
triangle surrogate; ``hart x3``: three gammas in one forward). Besides the whole forward,
the time spent in the spiking layers (the LIF loop and the probe) is reported, which is the
part the probe changes and is steadier on a shared machine. Variants interleaved, process
CPU time, minimum over ``--repeats`` after a warm-up.

    OMP_NUM_THREADS=1 PYTHONPATH=src python perf/probe_overhead.py --timesteps 4 8
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))


def probes() -> dict:
    from spikeattack.neurons import NeuronProbe, Triangle

    gammas = (Triangle(0.5), Triangle(1.0), Triangle(2.0))
    return {
        "none": lambda: None,
        "bptr/rga, every statistic": lambda: NeuronProbe(),
        "hart, every statistic": lambda: NeuronProbe(Triangle(1.0)),
        "bptr, rate only": lambda: NeuronProbe(current=False),
        "rga, mean current only": lambda: NeuronProbe(rate=False),
        "hart, surrogate only": lambda: NeuronProbe(Triangle(1.0), current=False, rate=False),
        "hart x3 gammas, surrogates only": lambda: NeuronProbe(surrogates=gammas, current=False, rate=False),
    }


def measure(T: int, batch: int, width: float, repeats: int) -> list[str]:
    from vs_spikingjelly import build

    from spikeattack.neurons import LIFNeuron

    model, _, x, _ = build(T, batch, width, "cpu")
    neurons = model.spiking_neurons()
    spent = [0.0]
    original = LIFNeuron.forward

    def timed(self, h):
        start = time.process_time()
        out = original(self, h)
        spent[0] += time.process_time() - start
        return out

    kinds = probes()
    best: dict[str, tuple[float, float]] = {}
    LIFNeuron.forward = timed
    try:
        for r in range(repeats + 1):
            for name, make in kinds.items():
                for n in neurons:
                    n.probe = make()
                spent[0] = 0.0
                start = time.process_time()
                with torch.no_grad():
                    model(x)
                total = time.process_time() - start
                for n in neurons:
                    n.probe = None
                if r:
                    old = best.get(name, (1e9, 1e9))
                    best[name] = (min(old[0], total), min(old[1], spent[0]))
    finally:
        LIFNeuron.forward = original
    plain, plain_lif = best["none"]
    return [f"| {T} | {name} | {tot:.4f} | {tot / plain:.3f} | {lif:.4f} | {(lif - plain_lif) / plain:+.1%} |"
            for name, (tot, lif) in best.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timesteps", type=int, nargs="+", default=[4, 8])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    torch.manual_seed(0)
    print(f"VGG-11 (width {args.width}), batch {args.batch}, 3x32x32, CPU, no-grad forward (CPU s)\n")
    print("| T | probe on every spiking layer | forward | / no probe | spiking layers | probe / forward |")
    print("|---:|---|---:|---:|---:|---:|")
    for T in args.timesteps:
        print("\n".join(measure(T, args.batch, args.width, args.repeats)), flush=True)


if __name__ == "__main__":
    main()

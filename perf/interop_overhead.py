"""Overhead of a wrapped SpikingJelly model against the native spikeattack model, per estimator.

Builds the native VGG-11 (3x32x32, LIF decay 0.5 = SpikingJelly ``tau=2, decay_input=False``,
hard reset to 0, ArcTan(2) surrogate), the same network written in SpikingJelly 2.0
(``SeqToANNContainer`` layers, multi-step ``LIFNode``) with the same weights, and wraps the
latter with ``spikeattack.interop.wrap``:

- ``adapted``: the SpikingJelly net takes ``[T, B, ...]`` (``time="sequence"``): the rate
  path runs its rate network once on ``[1, B, ...]``, as for the native model;
- ``inside``: the same net behind a ``forward`` that repeats the image T times itself
  (SpikingJelly's tutorial style, ``time="inside"``): the rate network runs through that
  loop, on ``[T, B, ...]``.

For every estimator it times one input gradient (forward + backward of the cross-entropy,
``torch.autograd.grad`` w.r.t. the input), contenders interleaved in one process, minimum
over ``--repeats`` after a warm-up, process CPU time (wall time on shared machines swings).

    OMP_NUM_THREADS=1 python perf/interop_overhead.py              # T = 4, 8; batch 8
    python perf/interop_overhead.py --timesteps 4 --width 0.25 --repeats 2

Prints a Markdown table; the README's numbers come from it.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

ESTIMATORS = ("stbp", "bptr", "rga", "hart", "cba")


def spikingjelly_copy(body: nn.Module) -> nn.Module:
    """The native VGG body rewritten with SpikingJelly modules, carrying the same weights."""
    from spikingjelly.activation_based import layer, neuron, surrogate

    from spikeattack.models import TimeDistributed
    from spikeattack.neurons import LIFNeuron

    modules = []
    for m in body:
        if isinstance(m, TimeDistributed):
            inner = list(m.module) if isinstance(m.module, nn.Sequential) else [m.module]
            modules.append(layer.SeqToANNContainer(*inner))
        elif isinstance(m, LIFNeuron):
            modules.append(neuron.LIFNode(tau=1.0 / (1.0 - m.decay), decay_input=False, v_threshold=m.threshold,
                                          v_reset=0.0, surrogate_function=surrogate.ATan(alpha=2.0), step_mode="m"))
        else:
            raise TypeError(type(m).__name__)
    net = nn.Sequential(*modules)
    net.load_state_dict(dict(zip(net.state_dict(), body.state_dict().values())))
    return net


class RepeatInside(nn.Module):
    """SpikingJelly tutorial style: the forward repeats the image T times and averages."""

    def __init__(self, net: nn.Module, timesteps: int) -> None:
        super().__init__()
        self.net, self.timesteps = net, timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.unsqueeze(0).repeat(self.timesteps, 1, 1, 1, 1)).mean(0)


def cpu_time(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timesteps", type=int, nargs="+", default=[4, 8])
    p.add_argument("--grads", nargs="+", default=list(ESTIMATORS))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    from spikeattack.gradients import make_estimator
    from spikeattack.interop import wrap
    from spikeattack.models import ModelConfig, build_model

    print(f"torch threads: {torch.get_num_threads()}, batch {args.batch}, width {args.width}, "
          f"min of {args.repeats} after a warm-up, CPU s per input gradient\n")
    print("| T | estimator | native | adapted (SJ, sequence) | ratio | inside (SJ, own loop) | ratio |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for steps in args.timesteps:
        torch.manual_seed(0)
        cfg = ModelConfig(arch="vgg11", in_channels=3, input_size=(32, 32), num_classes=10, decay=0.5,
                          threshold=1.0, surrogate="arctan", surrogate_width=2.0, timesteps=steps,
                          arch_options={"width": args.width})
        native = build_model(cfg).eval()
        sj = spikingjelly_copy(native.body).eval()
        shape = dict(timesteps=steps, input_shape=(3, 32, 32), num_classes=10)
        models = {"native": native, "adapted": wrap(sj, **shape),
                  "inside": wrap(RepeatInside(sj, steps), time="inside", readout="logits", **shape)}
        x = torch.rand(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        y = torch.randint(0, 10, (args.batch,), generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            assert torch.allclose(models["native"](x), models["adapted"](x), atol=1e-5)
        for grad in args.grads:
            est = make_estimator(grad)

            def gradient(model):
                xv = x.clone().requires_grad_(True)
                torch.autograd.grad(nn.functional.cross_entropy(est(model, xv), y), xv)

            times = {name: [] for name in models}
            for name, model in models.items():
                gradient(model)  # warm-up
            for _ in range(args.repeats):  # interleaved
                for name, model in models.items():
                    times[name].append(cpu_time(lambda: gradient(model)))
            best = {name: min(t) for name, t in times.items()}
            print(f"| {steps} | {grad} | {best['native']:.3f} | {best['adapted']:.3f} | "
                  f"{best['adapted'] / best['native']:.2f} | {best['inside']:.3f} | "
                  f"{best['inside'] / best['native']:.2f} |", flush=True)


if __name__ == "__main__":
    main()

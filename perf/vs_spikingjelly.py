"""STBP input gradient: spikeattack vs SpikingJelly on the same VGG-11, side by side.

The SpikingJelly network is built from the spikeattack one: every ``TimeDistributed``
becomes ``layer.SeqToANNContainer`` around the *same* module objects' copies and every
``LIFNeuron`` a multi-step ``LIFNode(tau=2, decay_input=False, v_reset=0, detach_reset=False,
surrogate=Rect(1))`` (= LIF decay 0.5, hard reset, threshold 1, rectangular window of
width 1), so the weights are identical; the logits are asserted equal before timing.
The batch-norm statistics are calibrated on the input batch so every layer fires.

Contenders run interleaved in one process (``ours`` = the fused LIF, ``ours-fold`` = the
same with batch-norm folded into the convolutions, as attacks run it (logits equal up to
rounding, not asserted bit-equal), ``ours-ref`` = the reference per-step loop, ``sj`` = SpikingJelly's own multi-step path: torch on CPU,
its CUDA/Triton kernels on CUDA); the minimum over ``--repeats`` after one warm-up is
reported, as process CPU time and as wall time (CPU time is steadier on a shared
machine). Peak memory is measured per contender in a fresh subprocess (the peak resident set,
``VmHWM``, reset just before the gradient, above the resident set then; ``torch.cuda.max_memory_allocated`` on CUDA).
On the CPU, profiled gradients give each contender's share of time in convolution and linear
kernels (the same ATen kernels on the same shapes in both), and the *ceiling*
``SJ time / (our time x our dense share)``: the most any implementation of the rest (LIF,
batch-norm, pooling, bookkeeping) could gain over SpikingJelly without changing those layers.

    OMP_NUM_THREADS=1 PYTHONPATH=src python perf/vs_spikingjelly.py
    python perf/vs_spikingjelly.py --timesteps 8 --batch 8 --repeats 5 --device cuda

Needs ``spikingjelly==2.0.0`` (``pip install --no-deps spikingjelly==2.0.0 loguru==0.7.3``).
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time

CONTENDERS = ("ours", "ours-fold", "ours-ref", "sj")


def build(T: int, batch: int, width: float, device: str, seed: int = 0):
    """The calibrated spikeattack VGG-11, its SpikingJelly copy and an input batch."""
    import torch

    from spikeattack.models import ModelConfig, build_model

    torch.manual_seed(seed)
    cfg = ModelConfig(arch="vgg11", in_channels=3, input_size=(32, 32), num_classes=10, decay=0.5,
                      threshold=1.0, reset="hard", timesteps=T, surrogate="rectangular", surrogate_width=1.0,
                      arch_options={"width": width})
    model = build_model(cfg).to(device)
    x = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    calibrate(model, x)
    return model.eval(), to_spikingjelly(model).eval(), x, torch.arange(batch, device=device) % 10


def calibrate(model, x) -> None:
    """Batch-norm statistics from ``x`` itself, with a shift that makes every layer fire."""
    import torch
    from torch import nn

    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one pass gives the batch statistics
        with torch.no_grad():
            bn.bias.fill_(0.3)
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def to_spikingjelly(model):
    """A SpikingJelly copy of ``model.body`` (same weights) with ``model``'s encoder/decoder."""
    import torch
    from spikingjelly.activation_based import functional, layer, neuron, surrogate
    from torch import nn

    from spikeattack.models.layers import TimeDistributed
    from spikeattack.neurons import LIFNeuron

    def convert(module: nn.Module) -> nn.Module:
        if isinstance(module, TimeDistributed):
            return layer.SeqToANNContainer(copy.deepcopy(module.module))
        if isinstance(module, LIFNeuron):
            assert module.reset == "hard" and module.decay == 0.5 and module.v_reset == 0.0
            return neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=module.threshold, v_reset=0.0,
                                  surrogate_function=surrogate.Rect(1.0), detach_reset=False, step_mode="m")
        raise TypeError(f"no SpikingJelly counterpart for {type(module).__name__}")

    body = nn.Sequential(*(convert(m) for m in model.body))

    class SJModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            functional.reset_net(self.body)
            return self.body(model.encode(x)).mean(0)

    return SJModel()


def contender(name: str, model, sj_model):
    """The network of contender ``name`` and the context it runs in."""
    import contextlib

    from spikeattack.models import fold_batchnorm

    for n in model.spiking_neurons():
        n.fused = name != "ours-ref"
    if name == "sj":
        return sj_model, contextlib.nullcontext()
    return model, fold_batchnorm(model) if name == "ours-fold" else contextlib.nullcontext()


def one_gradient(net, x, y, sync) -> tuple[tuple[float, float], tuple[float, float]]:
    """(forward, backward) as (cpu s, wall s) of one STBP input gradient."""
    import torch

    xv = x.clone().requires_grad_(True)
    sync()
    c0, w0 = time.process_time(), time.perf_counter()
    loss = torch.nn.functional.cross_entropy(net(xv), y)
    sync()
    c1, w1 = time.process_time(), time.perf_counter()
    torch.autograd.grad(loss, xv)
    sync()
    c2, w2 = time.process_time(), time.perf_counter()
    return (c1 - c0, w1 - w0), (c2 - c1, w2 - w1)


def timings(args: argparse.Namespace, T: int, batch: int) -> dict:
    import torch

    model, sj_model, x, y = build(T, batch, args.width, args.device)
    with torch.no_grad():
        ours, theirs = model(x), sj_model(x)
    torch.testing.assert_close(theirs, ours, rtol=0, atol=0)  # identical logits
    rates = spike_rates(model, x)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    best: dict[str, dict[str, float]] = {}
    for r in range(args.repeats + 1):
        for name in args.contenders:
            net, context = contender(name, model, sj_model)
            with context:
                (fc, fw), (bc, bw) = one_gradient(net, x, y, sync)
            if r == 0:
                continue  # warm-up
            cur = {"fwd_cpu": fc, "fwd_wall": fw, "bwd_cpu": bc, "bwd_wall": bw,
                   "cpu": fc + bc, "wall": fw + bw}
            prev = best.setdefault(name, cur)
            for k, v in cur.items():
                prev[k] = min(prev[k], v)
    row = {"T": T, "batch": batch, "rates": rates, "times": best}
    if not args.device.startswith("cuda") and {"ours", "sj"} <= set(args.contenders):
        row["dense_share"] = {name: dense_share(*contender(name, model, sj_model), x, y) for name in ("ours", "sj")}
    return row


DENSE_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::addmm", "aten::mm",
             "aten::thnn_conv2d", "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward")


def dense_share(net, context, x, y, repeats: int = 3) -> float:
    """The share of one STBP gradient's CPU time spent in convolution and linear kernels
    (profiled ``repeats`` times, median; a share is steadier than a profiled absolute time).

    Both contenders call the same kernels on the same shapes, so SJ's time over our time in
    those kernels bounds how much faster than SpikingJelly anything else can make us."""
    from torch.profiler import ProfilerActivity, profile

    shares = []
    with context:
        one_gradient(net, x, y, lambda: None)  # warm-up
        for _ in range(repeats):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                one_gradient(net, x, y, lambda: None)
            ops = prof.key_averages()
            shares.append(sum(e.self_cpu_time_total for e in ops if e.key in DENSE_OPS)
                          / sum(e.self_cpu_time_total for e in ops))
    return sorted(shares)[len(shares) // 2]


def spike_rates(model, x) -> list[float]:
    import torch

    from spikeattack.neurons import NeuronProbe

    neurons = model.spiking_neurons()
    for n in neurons:
        n.probe = NeuronProbe()
    with torch.no_grad():
        model(x)
    rates = [float(n.probe.rate.mean()) for n in neurons]
    for n in neurons:
        n.probe = None
    return rates


def peak_memory(args: argparse.Namespace) -> dict:
    """Worker: peak memory of one STBP gradient of one contender (fresh process)."""
    import torch

    model, sj_model, x, y = build(args.T, args.batch_one, args.width, args.device)
    net, context = contender(args.name, model, sj_model)
    cuda = args.device.startswith("cuda")
    with context:
        with torch.no_grad():
            net(x[:1])
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets the peak resident set size (VmHWM) to the current one
        base = rss_kib("VmRSS")
        one_gradient(net, x, y, torch.cuda.synchronize if cuda else (lambda: None))
    if cuda:
        return {"peak_mib": (torch.cuda.max_memory_allocated() - base) / 2**20}
    return {"peak_mib": (rss_kib("VmHWM") - base) / 1024}


def rss_kib(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in KiB (Linux)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timesteps", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS,
                   help="contenders timed (peak memory is measured for all)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--json", action="store_true", help="print the rows as JSON lines too")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--T", type=int, help=argparse.SUPPRESS)
    p.add_argument("--batch-one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--name", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(peak_memory(args)))
        return
    rows = []
    for T in args.timesteps:
        for batch in args.batch:
            row = timings(args, T, batch)
            row["peak_mib"] = {}
            if not args.no_memory:
                for name in CONTENDERS:  # memory of every contender (one gradient each: cheap)
                    cmd = [sys.executable, __file__, "--worker", "--T", str(T), "--batch-one", str(batch),
                           "--name", name, "--width", str(args.width), "--device", args.device]
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                    row["peak_mib"][name] = json.loads(out.strip().splitlines()[-1])["peak_mib"]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"VGG-11 (width {args.width}), 3x32x32, device {args.device}, STBP input gradient, "
          f"min of {args.repeats} (after a warm-up), interleaved\n")
    print("| T | B | ours fwd / bwd (CPU s) | SJ / ours (CPU) | SJ / ours (wall) | ours-ref / ours (CPU) "
          "| ours-fold / ours (CPU) | peak MiB ours / ours-fold / ours-ref / SJ "
          "| conv+linear share: ours / SJ | SJ / ours ceiling |")
    print("|---:|---:|---|---:|---:|---:|---:|---|---|---:|")
    for r in rows:
        t, m = r["times"], r["peak_mib"]
        ours = t.get("ours")

        def ratio(name: str, key: str) -> str:
            return f"{t[name][key] / ours[key]:.2f}" if ours and name in t else "-"

        fwd = f"{ours['fwd_cpu']:.3f} / {ours['bwd_cpu']:.3f}" if ours else "-"
        mem = " / ".join(f"{m[n]:.0f}" if n in m else "-" for n in CONTENDERS)
        share = r.get("dense_share")
        # ceiling: SpikingJelly's whole gradient over our time in the dense kernels alone,
        # which no LIF, batch-norm or bookkeeping speed-up removes
        dense_cols = (f"{share['ours']:.2f} / {share['sj']:.2f} | {t['sj']['cpu'] / (ours['cpu'] * share['ours']):.2f}"
                      if share and ours else "- | -")
        print(f"| {r['T']} | {r['batch']} | {fwd} | {ratio('sj', 'cpu')} | {ratio('sj', 'wall')} "
              f"| {ratio('ours-ref', 'cpu')} | {ratio('ours-fold', 'cpu')} | {mem} | {dense_cols} |")
    if args.json:
        for r in rows:
            print(json.dumps(r))


if __name__ == "__main__":
    main()

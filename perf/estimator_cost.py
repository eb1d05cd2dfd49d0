"""Time and peak memory of one input gradient, per gradient estimator and T.

Each (estimator, T) runs in a fresh subprocess: it builds a VGG-11 spiking net (the
RGA/HART layout, CIFAR-sized 3x32x32 input, LIF decay 0.5), runs one warm-up gradient,
then times ``--repeats`` gradients (forward and backward separately) and reports the
process's peak resident memory above the model-loaded baseline (``ru_maxrss``).

    python perf/estimator_cost.py                      # T = 4, 8, 16; batch 8
    python perf/estimator_cost.py --timesteps 4 8 --batch 4 --width 0.5 --device cuda

Prints a Markdown table (the README's table comes from this script).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

ESTIMATORS = ("stbp", "bptr", "rga", "hart", "cba")


def measure(args: argparse.Namespace) -> dict:
    import torch

    from spikeattack.gradients import make_estimator
    from spikeattack.models import ModelConfig, build_model

    torch.manual_seed(0)
    device = torch.device(args.device)
    cfg = ModelConfig(arch="vgg11", in_channels=3, input_size=(32, 32), num_classes=10, decay=0.5,
                      threshold=1.0, timesteps=args.T, arch_options={"width": args.width})
    model = build_model(cfg).to(device).eval()
    x = torch.rand(args.batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    estimator = make_estimator(args.grad)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def one() -> tuple[float, float]:
        xv = x.clone().requires_grad_(True)
        sync()
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(estimator(model, xv), y)
        sync()
        t1 = time.perf_counter()
        torch.autograd.grad(loss, xv)  # the input gradient only, as the attacks take it
        sync()
        return t1 - t0, time.perf_counter() - t1

    with torch.no_grad():
        model(x[:1])
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    one()  # warm-up
    fwd, bwd = zip(*(one() for _ in range(args.repeats)))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"grad": args.grad, "T": args.T, "forward_s": min(fwd), "backward_s": min(bwd),
              "peak_mib": (peak_rss - base_rss) / 1024}
    if device.type == "cuda":
        result["peak_mib"] = (torch.cuda.max_memory_allocated() - base_cuda) / 2**20
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timesteps", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--grads", nargs="+", default=list(ESTIMATORS))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the rows as JSON lines too")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--T", type=int, help=argparse.SUPPRESS)
    p.add_argument("--grad", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(measure(args)))
        return
    rows = []
    for T in args.timesteps:
        for grad in args.grads:
            cmd = [sys.executable, __file__, "--worker", "--T", str(T), "--grad", grad, "--batch", str(args.batch),
                   "--width", str(args.width), "--repeats", str(args.repeats), "--device", args.device]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(f"done {grad} T={T}", file=sys.stderr)
    print(f"VGG-11 (width {args.width}), batch {args.batch}, 3x32x32, device {args.device}: one input gradient\n")
    print("| estimator | T | forward (s) | backward (s) | peak extra memory (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['grad']} | {r['T']} | {r['forward_s']:.3f} | {r['backward_s']:.3f} | {r['peak_mib']:.0f} |")
    if args.json:
        for r in rows:
            print(json.dumps(r))


if __name__ == "__main__":
    main()

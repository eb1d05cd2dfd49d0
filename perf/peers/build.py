"""Train every model of the peer suite with its framework's own loop and cache the weights.

    OMP_NUM_THREADS=1 python perf/peers/build.py            # all (cached ones are skipped)
    python perf/peers/build.py --only sj-plif-fmnist-t4 --force

Weights go to ``perf/peers/weights/<name>.pt`` (``$SPIKEATTACK_PEERS`` overrides the folder), with
``<name>.json``: the suite entry, clean accuracy on the whole test set (the net's own forward),
training CPU seconds, and a check that ``spikeattack.interop.wrap`` computes the same logits as
the network's own loop on the first 1,000 test inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "peers"

from . import data  # noqa: E402
from .models import WEIGHTS, build, native_logits, paths, wrapped  # noqa: E402
from .suite import SUITE  # noqa: E402
from .zoo_snntorch import train as train_snntorch  # noqa: E402
from .zoo_spikingjelly import train as train_spikingjelly  # noqa: E402

TRAINERS = {"spikingjelly": train_spikingjelly, "snntorch": train_snntorch}


@torch.no_grad()
def accuracy(fn, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    correct = sum(int((fn(x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum()) for i in range(0, len(y), batch))
    return correct / len(y)


@torch.no_grad()
def wrap_check(net, spec: dict, name: str, x: torch.Tensor) -> dict:
    """Logits of ``wrap(net)`` vs the net's own loop (Poisson input: predictions only, the noise differs)."""
    torch.manual_seed(0)
    ours, theirs = wrapped(net, spec, name)(x), native_logits(net, spec, x)
    return {"n": len(x), "max_abs_logit_diff": float((ours - theirs).abs().max()),
            "prediction_agreement": float((ours.argmax(-1) == theirs.argmax(-1)).float().mean())}


def build_one(name: str, root: Path, force: bool = False) -> dict:
    spec = SUITE[name]
    weights, meta_path = paths(name, root)
    if weights.exists() and meta_path.exists() and not force:
        return json.loads(meta_path.read_text())
    train_x, train_y, test_x, test_y = data.load(spec["dataset"])
    torch.manual_seed(spec["seed"])
    net = build(spec)
    c0, w0 = time.process_time(), time.perf_counter()
    TRAINERS[spec["framework"]](net, spec, train_x, train_y, spec["seed"])
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    net.eval()
    torch.manual_seed(0)
    meta = {"name": name, **{k: spec[k] for k in ("about", "framework", "dataset", "T", "time", "readout", "encoding",
                                                   "input_shape", "seed")},
            "clean_accuracy": accuracy(lambda x: native_logits(net, spec, x), test_x, test_y),
            "test_size": len(test_y), "train_cpu_s": round(cpu, 1), "train_wall_s": round(wall, 1),
            "train": spec["train"], "wrap_check": wrap_check(net, spec, name, test_x[:1000]),
            "torch": torch.__version__}
    root.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), weights)
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="model names (default: the whole suite)")
    parser.add_argument("--root", type=Path, default=WEIGHTS)
    parser.add_argument("--force", action="store_true", help="retrain even when cached")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = args.only or list(SUITE)
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        parser.error(f"--only: unknown model(s) {unknown}; expected names from {list(SUITE)}")
    for name in names:
        if SUITE[name]["dataset"] == "fashion-mnist" and not data.fashion_available():
            print(f"{name}: skipped (Fashion-MNIST not found under {data.FASHION_ROOT})", flush=True)
            continue
        meta = build_one(name, args.root, args.force)
        print(f"{name}: clean {meta['clean_accuracy']:.4f}, train {meta['train_cpu_s']} CPU s, "
              f"wrap {meta['wrap_check']}", flush=True)


if __name__ == "__main__":
    main()

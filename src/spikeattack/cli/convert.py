"""``spikeattack convert``: ANN-to-SNN conversion of an ANN checkpoint (Sharmin et al.'s SNN-I)."""

from __future__ import annotations

import argparse
import os

import torch

from ..neurons import RESETS
from ..evaluation import accuracy
from ..training import read_checkpoint, save_checkpoint
from ..training.conversion import METHODS, convert_ann_to_snn
from ..io import check_output_file
from .common import add_data_args, add_output_args, check_memory, emit, info, naming
from .evaluate import EVAL_BATCH
from .loading import load_model_and_data
from .schemas import accuracy_fields


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert a trained ANN checkpoint into an IF spiking network (threshold balancing)",
        description="Convert an ANN checkpoint (trained with 'spikeattack train --ann') into an IF spiking network: "
                    "batch-norm folded, weights normalised layer by layer on calibration images from the training "
                    "split (Diehl et al. 2015 / Rueckauer et al. 2017), ReLU replaced by IF neurons with threshold 1. "
                    "Writes the SNN checkpoint and prints the clean test accuracy of both models.",
        epilog="Example: spikeattack convert runs/models/digits-small_cnn-ann-seed0.pt --timesteps 64 "
               "--method max --out runs/models/digits-small_cnn-converted-T64.pt",
    )
    p.add_argument("checkpoint", help="ANN checkpoint written by 'spikeattack train --ann'")
    add_data_args(p, default=None)
    p.add_argument("--timesteps", "-T", type=int, default=64, help="time steps of the SNN (default: 64)")
    p.add_argument("--method", default="max", choices=METHODS,
                   help="per-layer scale: max activation, or a robust percentile of the positive ones (default: max)")
    p.add_argument("--percentile", type=float, default=99.9, help="percentile for --method percentile (default: 99.9)")
    p.add_argument("--reset", default="soft", choices=RESETS,
                   help="IF reset: soft (by subtraction, rate ~ ReLU within 1/T) or hard (to zero) (default: soft)")
    p.add_argument("--calibration", type=int, default=512, metavar="N",
                   help="training images the scales are measured on, a seeded random subset (default: 512)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration subset (default: 0)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate on the first N test images only")
    p.add_argument("--out", default=None,
                   help="SNN checkpoint path (default: next to the ANN, <name>-if-T<timesteps>.pt)")
    add_output_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    stem, _ = os.path.splitext(args.checkpoint)
    out = args.out if args.out is not None else f"{stem}-if-T{args.timesteps}.pt"
    # before any work: never a folder, a read-only place, or the ANN itself (convert a.pt --out a.pt)
    check_output_file(out, "--out", inputs=[args.checkpoint])
    ann, data, device, options = load_model_and_data(args)
    if ann.is_spiking:
        raise ValueError(f"checkpoint: {args.checkpoint!r} holds a spiking model (neuron={ann.config.neuron!r}); "
                         "convert an ANN trained with 'spikeattack train --ann'")
    check_memory(ann.config.replace(neuron="if", timesteps=args.timesteps), device, batch=EVAL_BATCH,
                 gradient=False, flags={"--timesteps": True})
    if data.is_sequence:
        raise ValueError(f"--dataset: {data.name} holds spike frames; conversion needs an image dataset")
    stored = read_checkpoint(args.checkpoint).get("metadata") or {}
    resize = args.resize if args.resize is not None else (
        stored.get("resize") if data.name == stored.get("dataset") else None)
    x_train, _ = data.split("train")
    generator = torch.Generator().manual_seed(args.seed)
    index = torch.randperm(len(x_train), generator=generator)[: args.calibration]
    calibration = x_train[index]
    try:
        snn, conversion = convert_ann_to_snn(ann, calibration, timesteps=args.timesteps, method=args.method,
                                             percentile=args.percentile, reset=args.reset)
    except ValueError as exc:
        name, sep, rest = str(exc).partition(":")
        flags = {"method": "--method", "percentile": "--percentile", "reset": "--reset", "timesteps": "--timesteps"}
        raise ValueError(f"{flags[name]}:{rest}" if sep and name in flags else str(exc)) from exc
    x, y = data.test_x, data.test_y
    if args.limit is not None:
        x, y = x[: args.limit], y[: args.limit]
    with naming({"model": f"checkpoint {args.checkpoint!r}"}):
        ann_acc = accuracy(ann, x, y, progress=not args.quiet)
    with naming({"model": f"the SNN converted from {args.checkpoint!r} (try --method percentile)"}):
        snn_acc = accuracy(snn, x, y, progress=not args.quiet)
    metadata = {"dataset": data.name, "resize": resize, "source_ann": os.fspath(args.checkpoint),
                "conversion": conversion | {"calibration_seed": args.seed},
                "ann_test_accuracy": ann_acc, "test_accuracy": snn_acc}
    save_checkpoint(snn, out, metadata)
    info(args, f"lambdas per layer: {', '.join(f'{v:.4g}' for v in conversion['lambdas'])}")
    result = {"checkpoint": out, "ann_checkpoint": os.fspath(args.checkpoint), "dataset": data.name,
              "data_options": options, "n": len(y), **accuracy_fields(snn_acc, len(y)),
              **accuracy_fields(ann_acc, len(y), prefix="ann_"), "timesteps": args.timesteps, "method": args.method,
              "percentile": conversion["percentile"], "reset": args.reset, "calibration": len(calibration),
              "lambdas": conversion["lambdas"]}
    emit(args, "convert", result, f"ANN clean accuracy {ann_acc:.4f}; converted SNN (T={args.timesteps}, {args.method}, "
                       f"{args.reset} reset) clean accuracy {snn_acc:.4f} on {len(y)} {data.name} test images; "
                       f"checkpoint written to {out}")
    return 0

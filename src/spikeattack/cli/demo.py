"""``spikeattack demo``: the README's first command on the embedded digits data.

Trains (or reuses, from ``--out``) a LIF spiking CNN, a second one with another seed (the
black-box source) and the ANN of the same architecture, prints their clean accuracy, then
attacks the SNN with FGSM and PGD under every gradient estimator, white-box and
black-box, and prints attack success rate and robust accuracy side by side. All numbers
also go to ``<out>/demo.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from ..attacks import make_attack
from ..bench import evaluate
from ..data import load_dataset
from ..gradients import ESTIMATORS
from ..models import ModelConfig, SpikingModel, build_model
from ..training import TrainConfig, accuracy, load_checkpoint, save_checkpoint, train_model
from .common import add_output_args, emit, info, pick_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train embedded models and print a compact robustness table",
                       description="Train a spiking CNN (and a black-box source and an ANN) on the embedded digits "
                                   "data, attack it with FGSM and PGD under every gradient estimator, and print the "
                                   "table. Example: spikeattack demo --out runs/demo")
    p.add_argument("--out", default="runs/demo", help="run folder for models and results (default: runs/demo)")
    p.add_argument("--eps", type=float, default=0.1, help="Linf budget in pixel units (default: 0.1)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs per model (default: 10)")
    p.add_argument("--limit", type=int, default=200, help="test inputs to attack (default: 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the target (the source uses seed+1)")
    add_output_args(p)
    p.set_defaults(func=run)


def _model(args: argparse.Namespace, data, *, neuron: str, seed: int, name: str) -> SpikingModel:
    path = os.path.join(args.out, "models", f"{name}.pt")
    if os.path.exists(path):
        model, _ = load_checkpoint(path, map_location=pick_device(args.device))
        return model
    config = ModelConfig(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10, neuron=neuron,
                         decay=0.5, threshold=1.0, timesteps=8)
    torch.manual_seed(seed)
    model = build_model(config).to(pick_device(args.device))
    info(args, f"training {name} ({args.epochs} epochs)")
    history = train_model(model, data, TrainConfig(epochs=args.epochs, seed=seed), progress=not args.quiet)
    save_checkpoint(path, model, {"dataset": "digits", "history": history.to_list()})
    return model


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    data = load_dataset("digits")
    target = _model(args, data, neuron="lif", seed=args.seed, name="snn")
    source = _model(args, data, neuron="lif", seed=args.seed + 1, name="snn-source")
    ann = _model(args, data, neuron="relu", seed=args.seed, name="ann")
    x, y = data.test_x[: args.limit], data.test_y[: args.limit]
    clean = {name: accuracy(m, data.test_x, data.test_y) for name, m in
             (("snn", target), ("snn-source", source), ("ann", ann))}
    rows = []
    for attack in ("fgsm", "pgd"):
        params = {"eps": args.eps} | ({"steps": 10} if attack == "pgd" else {})
        for grad in ESTIMATORS:
            for scenario, crafting in (("white-box", None), ("black-box", source)):
                summary, _ = evaluate(target, (x, y), lambda m: make_attack(attack, m, grad=grad, **params),
                                      crafting, seed=args.seed)
                rows.append({"attack": attack, "grad": grad, "scenario": scenario, "eps": args.eps,
                             "asr": summary.asr, "robust_accuracy": summary.robust_accuracy,
                             "vanishing": summary.vanishing})
                info(args, f"{attack:5s} {grad:5s} {scenario:9s} ASR {summary.asr:.3f}")
        summary, _ = evaluate(target, (x, y), lambda m: make_attack(attack, m, **params), ann, seed=args.seed)
        rows.append({"attack": attack, "grad": "exact", "scenario": "ann-crafted", "eps": args.eps,
                     "asr": summary.asr, "robust_accuracy": summary.robust_accuracy, "vanishing": summary.vanishing})
    result = {"clean_accuracy": clean, "n": len(y), "rows": rows, "seconds": round(time.perf_counter() - start, 1)}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "demo.json"), "w") as f:
        json.dump(result, f, indent=2)
    lines = [f"clean accuracy on {len(data.test_y)} digits test images: " +
             ", ".join(f"{k} {v:.4f}" for k, v in clean.items()),
             f"attacks on the SNN target, eps = {args.eps} (Linf, pixel units), {len(y)} test inputs:",
             f"{'attack':6s} {'grad':6s} {'scenario':12s} {'ASR':>6s} {'robust acc':>10s}"]
    for r in rows:
        lines.append(f"{r['attack']:6s} {r['grad']:6s} {r['scenario']:12s} {r['asr']:6.3f} {r['robust_accuracy']:10.3f}")
    lines.append(f"results written to {os.path.join(args.out, 'demo.json')} ({result['seconds']} s)")
    emit(args, result, "\n".join(lines))
    return 0

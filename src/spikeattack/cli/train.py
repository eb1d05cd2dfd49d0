"""``spikeattack train``: BPTT-train a spiking net (or, with ``--ann``, its ANN twin)."""

from __future__ import annotations

import argparse
import os

import torch

from ..data import load_dataset
from ..models import ARCHS, ModelConfig, build_model
from ..neurons import RESETS, SURROGATES
from ..training import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig, save_checkpoint, train_model
from ..training.adversarial import adversarial_perturbation
from ..io import check_output_file
from .common import add_data_args, add_output_args, budget, check_memory, data_kwargs, emit, info, pick_device
from .schemas import accuracy_fields


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default="small_cnn", help=f"architecture: {', '.join(sorted(ARCHS))} (default: small_cnn)")
    parser.add_argument("--neuron", default="lif", choices=("lif", "if"), help="spiking neuron (default: lif)")
    parser.add_argument("--decay", type=float, default=0.5, help="membrane decay lambda in (0, 1]; 1 = IF (default: 0.5)")
    parser.add_argument("--threshold", type=float, default=1.0, help="firing threshold > 0 (default: 1.0)")
    parser.add_argument("--reset", default="hard", choices=RESETS, help="reset mode (default: hard)")
    parser.add_argument("--surrogate", default="rectangular", choices=tuple(SURROGATES),
                        help="surrogate derivative used by BPTT (default: rectangular)")
    parser.add_argument("--surrogate-width", type=float, default=1.0, help="surrogate width/shape (default: 1.0)")
    parser.add_argument("--timesteps", "-T", type=int, default=None,
                        help="simulation time steps T >= 1 (default: 8; event data: its number of frames)")
    parser.add_argument("--encoding", default="direct", choices=("direct", "poisson"),
                        help="input coding: direct (analogue repeat) or poisson (Bernoulli rate) (default: direct)")
    parser.add_argument("--normalize", action="store_true",
                        help="normalise direct-coded inputs by the training set's channel mean/std inside the model")
    parser.add_argument("--width", type=float, default=None, help="channel-width multiplier for archs that take it")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a spiking network (or its ANN twin) with BPTT",
                       description="Train a spiking network with backpropagation through time and save a checkpoint "
                                   "(weights + full config). Example: spikeattack train --dataset digits --epochs 10; "
                                   "adversarial training: spikeattack train --dataset digits --adv pgd --adv-eps 0.1 "
                                   "--adv-steps 3 --adv-grad bptr")
    add_data_args(p)
    add_model_args(p)
    p.add_argument("--ann", action="store_true", help="train the ANN twin (ReLU in place of the neuron, one step)")
    p.add_argument("--loss", default="ce", choices=LOSSES, help="ce on the time-averaged output, or mse vs one-hot (default: ce)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    p.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default: 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3)")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="optimizer (default: adam)")
    p.add_argument("--schedule", default="cosine", choices=SCHEDULES, help="learning-rate schedule (default: cosine)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, batches, dropout and encoder noise (default: 0)")
    p.add_argument("--amp", default=None, choices=("bf16", "fp16"),
                   help="mixed-precision forward and loss (fp16 with a gradient scaler); weights stay float32")
    p.add_argument("--limit-train", type=int, default=None, metavar="N", help="train on a seeded subset of N images")
    p.add_argument("--out", default=None, help="checkpoint path (default: runs/models/<dataset>-<arch>-<kind>[-adv<attack>]-seed<seed>.pt)")
    adv = p.add_argument_group("adversarial training",
                               "train on adversarial examples crafted on the model being trained (Madry et al.); "
                               "e.g. --adv pgd --adv-eps 0.1 --adv-steps 3 --adv-grad bptr")
    adv.add_argument("--adv", default=None, metavar="ATTACK",
                     help="attack that crafts the training examples: fgsm, rfgsm, bim, pgd, apgd, noise")
    adv.add_argument("--adv-eps", type=budget, default=None, help="Linf budget in pixel units, in (0, 1] (required with --adv)")
    adv.add_argument("--adv-steps", type=int, default=None, help="iterations of multi-step attacks (default: 3)")
    adv.add_argument("--adv-alpha", type=float, default=None, help="step size (default: the attack's own)")
    adv.add_argument("--adv-grad", default=None, metavar="ESTIMATOR",
                     help="gradient estimator used to craft: stbp, bptr, rga, hart, cba (default: stbp)")
    adv.add_argument("--adv-ratio", type=float, default=None,
                     help="share of each batch replaced by adversarial examples, in (0, 1]; 1 = Madry, 0.5 = mixed "
                          "(default: 1)")
    add_output_args(p)
    p.set_defaults(func=run)


_ADV_FLAGS = {"eps": "--adv-eps", "steps": "--adv-steps", "alpha": "--adv-alpha", "grad": "--adv-grad",
              "ratio": "--adv-ratio"}


def perturbation_from_args(args: argparse.Namespace):
    """The adversarial-training hook of the ``--adv*`` flags, or ``None`` without ``--adv``."""
    given = [flag for name, flag in _ADV_FLAGS.items() if getattr(args, f"adv_{name}", None) is not None]
    if args.adv is None:
        if given:
            raise ValueError(f"--adv: {', '.join(given)} given without --adv ATTACK (e.g. --adv pgd)")
        return None
    if args.adv_eps is None:
        raise ValueError("--adv-eps: required with --adv (the Linf budget in pixel units, e.g. 0.1)")
    settings = {"eps": args.adv_eps, "steps": 3 if args.adv_steps is None else args.adv_steps,
                "alpha": args.adv_alpha, "grad": args.adv_grad or "stbp",
                "ratio": 1.0 if args.adv_ratio is None else args.adv_ratio}
    try:
        return adversarial_perturbation(args.adv, seed=args.seed, **settings)
    except ValueError as exc:  # name the flag, not the Python argument
        name, _, rest = str(exc).partition(":")
        flag = "--adv" if name == "attack" else _ADV_FLAGS.get(name)
        raise ValueError(f"{flag}:{rest}" if flag else str(exc)) from exc


def model_config_from_args(args: argparse.Namespace, data, *, ann: bool) -> ModelConfig:
    options = {} if args.width is None else {"width": args.width}
    fields = {}
    if data.is_sequence:  # event frames: the input already is the spike train
        if args.encoding != "direct" or args.normalize:
            raise ValueError(f"--encoding: {data.name} holds spike frames; it takes no encoding or normalisation")
        if args.timesteps is not None and args.timesteps != data.timesteps:
            raise ValueError(f"--timesteps: {data.name} has {data.timesteps} frames per sample; bin it differently "
                             f"instead of passing --timesteps {args.timesteps}")
    else:
        fields = {"encoding": args.encoding, "timesteps": 8 if args.timesteps is None else args.timesteps}
    return ModelConfig.for_dataset(
        data, normalize=args.normalize, arch=args.arch, neuron="relu" if ann else args.neuron, decay=args.decay,
        threshold=args.threshold, reset=args.reset, surrogate=args.surrogate, surrogate_width=args.surrogate_width,
        encoder_seed=args.seed, arch_options=options, **fields)


def run(args: argparse.Namespace) -> int:
    perturb = perturbation_from_args(args)  # validate the --adv flags before loading anything
    device = pick_device(args.device)
    kind = "ann" if args.ann else args.neuron
    tag = "" if perturb is None else f"-adv{perturb.attack}"
    out = args.out if args.out is not None else \
        os.path.join("runs", "models", f"{args.dataset}-{args.arch}-{kind}{tag}-seed{args.seed}.pt")
    check_output_file(out, "--out")  # before the training, not after
    train_cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                            weight_decay=args.weight_decay, schedule=args.schedule, loss=args.loss, seed=args.seed,
                            amp=args.amp)
    options = data_kwargs(args)
    data = load_dataset(args.dataset, args.data_root, **options)
    if args.limit_train is not None:
        data = data.subset(n_train=args.limit_train, seed=args.seed)
    config = model_config_from_args(args, data, ann=args.ann)
    check_memory(config, device, batch=args.batch_size, gradient=True,
                 flags={"--width": args.width is not None, "--timesteps": args.timesteps is not None,
                        "--batch-size": args.batch_size != 64})
    torch.manual_seed(args.seed)
    model = build_model(config).to(device)
    info(args, f"training {kind} {args.arch} on {args.dataset} ({len(data.train_y)} train / {len(data.test_y)} test, "
               f"T={model.timesteps}, device={device})")

    def log(rec) -> None:
        info(args, f"epoch {rec.epoch:3d}  loss {rec.loss:.4f}  train {rec.train_accuracy:.4f}  "
                   f"test {rec.test_accuracy:.4f}  ({rec.seconds:.1f} s)")

    if perturb is not None:
        info(args, f"adversarial training: {perturb.describe()}")
    history = train_model(model, data, train_cfg, perturb=perturb, progress=not args.quiet, log=log)
    metadata = {"dataset": args.dataset, "resize": args.resize, "data_options": options,
                "train": vars(train_cfg) | {"limit_train": args.limit_train},
                "history": history.to_list(), "test_accuracy": history.final_test_accuracy,
                "adversarial": None if perturb is None else perturb.describe()}
    save_checkpoint(model, out, metadata)
    n = len(data.test_y)
    result = {"checkpoint": out, "dataset": args.dataset, "data_options": options, "arch": args.arch, "kind": kind,
              "timesteps": model.timesteps, "epochs": args.epochs, "n": n,
              **accuracy_fields(history.final_test_accuracy, n),
              "epoch_seconds": [round(e.seconds, 2) for e in history.epochs],
              "adversarial": None if perturb is None else perturb.describe()}
    emit(args, "train", result, f"clean accuracy {history.final_test_accuracy:.4f} on {n} {args.dataset} test "
                                f"images; checkpoint written to {out}")
    return 0

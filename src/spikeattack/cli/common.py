"""Shared pieces of the command line: data options, devices, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch


def add_data_args(parser: argparse.ArgumentParser, *, default: str | None = "digits") -> None:
    from ..data import DATASETS

    parser.add_argument("--dataset", default=default, metavar="NAME",
                        help=f"dataset name: {', '.join(DATASETS)} (default: {default or 'from the checkpoint'})")
    parser.add_argument("--data-root", default=None, metavar="DIR",
                        help="folder holding the dataset files (default: $SPIKEATTACK_DATA; Fashion-MNIST also "
                             "/usr/share/datasets/fashion-mnist)")
    parser.add_argument("--resize", type=int, default=None, metavar="PX",
                        help="downsample images to PX x PX by area averaging (default: keep; from the checkpoint)")
    parser.add_argument("--frames", default=None, choices=("binary", "count"),
                        help="event data: binary spike frames or event-count frames (default: binary)")
    parser.add_argument("--time-bins", type=int, default=None, metavar="T",
                        help="event data: number of frames per sample (default: the dataset's; from the checkpoint)")


def data_kwargs(args: argparse.Namespace, meta: dict | None = None, same_dataset: bool = True) -> dict:
    """``resize``/``frames``/``time_bins`` for ``load_dataset``: the flags, else the checkpoint's."""
    stored = (meta or {}).get("data_options", {}) if same_dataset else {}
    out = {}
    for key in ("resize", "frames", "time_bins"):
        value = getattr(args, key, None)
        if value is None:
            value = stored.get(key, (meta or {}).get(key) if same_dataset and key == "resize" else None)
        if value is not None:
            out[key] = value
    return out


def add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (progress on stderr)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def pick_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device: {exc}") from exc


def emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    """JSON object on stdout with ``--json``; the human summary otherwise."""
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(text)


def info(args: argparse.Namespace, message: str) -> None:
    """Progress/info lines go to stderr so stdout stays machine-readable."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def add_factory_args(parser: argparse.ArgumentParser) -> None:
    """``--factory`` and the options of a user model (``spikeattack.interop``)."""
    from ..interop import READOUTS, TIMES

    g = parser.add_argument_group("user model (SpikingJelly, snnTorch, any PyTorch SNN)")
    g.add_argument("--factory", default=None, metavar="FILE.py:FUNCTION",
                   help="build the model with this function of your own code (or 'package.module:function') and "
                        "load the weights file given as the checkpoint into it (weights_only). This RUNS that code: "
                        "use only code you trust. Needs --dataset (input shape and classes) and the time steps")
    if not any("--timesteps" in a.option_strings for a in parser._actions):
        g.add_argument("--timesteps", "-T", type=int, default=None, help="with --factory: the model's time steps")
    g.add_argument("--time", default=None, choices=TIMES,
                   help="with --factory: who runs the time loop (default: detected from the neurons)")
    g.add_argument("--readout", default=None, choices=READOUTS, help="with --factory: logits from the output "
                   "(default: mean over time)")
    g.add_argument("--encoding", default=None, help="with --factory: input encoding (default: direct; spikes for "
                   "event data)")


def load_user_model(args: argparse.Namespace, factory: str, weights: str, data, device: torch.device):
    """The ``--factory`` model with ``weights``, shaped for ``data``."""
    from ..interop import load_foreign_model

    encoding = args.encoding or ("spikes" if data.is_sequence else None)
    return load_foreign_model(factory, weights, timesteps=args.timesteps, input_shape=tuple(data.input_shape),
                              num_classes=data.num_classes, time=args.time, readout=args.readout,
                              encoding=encoding, device=device)

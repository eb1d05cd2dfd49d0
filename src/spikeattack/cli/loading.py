"""Loading the model a command works on: a spikeattack checkpoint, or a user's network (``--factory``)."""

from __future__ import annotations

import argparse

import torch

from ..data import load_dataset
from ..training import load_checkpoint
from .common import data_kwargs, pick_device


def load_user_model(args: argparse.Namespace, factory: str, weights: str, data, device: torch.device):
    """The ``--factory`` model with ``weights``, shaped for ``data``."""
    from ..interop import load_foreign_model

    encoding = args.encoding or ("spikes" if data.is_sequence else None)
    return load_foreign_model(factory, weights, timesteps=args.timesteps, input_shape=tuple(data.input_shape),
                              num_classes=data.num_classes, time=args.time, readout=args.readout,
                              encoding=encoding, device=device)


def load_model_and_data(args: argparse.Namespace):
    """The checkpoint's model on the chosen device, its dataset (defaults from the checkpoint;
    another dataset only with ``--other-dataset``), the device and the dataset options used."""
    device = pick_device(args.device)
    factory = getattr(args, "factory", None)  # commands without the --factory options (convert) have none
    unused = [f"--{k}" for k in ("time", "readout", "encoding") if getattr(args, k, None) is not None]
    if unused and not factory:
        raise ValueError(f"{unused[0]}: only used with --factory (a checkpoint carries its own)")
    if factory:
        if args.dataset is None:
            raise ValueError("--dataset: a --factory model does not name its dataset; pass --dataset")
        options = data_kwargs(args)
        data = load_dataset(args.dataset, args.data_root, **options)
        return load_user_model(args, factory, args.checkpoint, data, device), data, device, options
    model, meta = load_checkpoint(args.checkpoint, map_location=device)
    name = args.dataset or meta.get("dataset")
    if name is None:
        raise ValueError("--dataset: the checkpoint does not name its dataset; pass --dataset")
    trained_on = meta.get("dataset")
    if trained_on is not None and name != trained_on and not getattr(args, "other_dataset", False):
        raise ValueError(f"--dataset: the checkpoint was trained on {trained_on}, not {name}; pass --other-dataset "
                         "to use it on another dataset of the same input shape anyway")
    options = data_kwargs(args, meta, same_dataset=name == trained_on)
    data = load_dataset(name, args.data_root, **options)
    if tuple(data.input_shape) != model.input_shape or data.num_classes != model.num_classes:
        raise ValueError(f"--dataset: {name} has inputs {tuple(data.input_shape)} and {data.num_classes} classes; "
                         f"the model expects {model.input_shape} and {model.num_classes}")
    return model, data, device, options

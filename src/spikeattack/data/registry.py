"""``load_dataset(name, root)``: every dataset by name, loaded from local files only."""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from .base import ImageDataset, to_float
from .cifar import load_cifar
from .digits import load_digits_dataset
from .idx import load_idx_dataset

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.adaptive_avg_pool2d(to_float(x), size)


def load_dataset(name: str, root: str | os.PathLike | None = None, *, resize: int | None = None) -> ImageDataset:
    """Load dataset ``name``. ``root``: the folder with its files (default: ``$SPIKEATTACK_DATA``;
    Fashion-MNIST also ``/usr/share/datasets/fashion-mnist``); ``digits`` is embedded and needs none.
    ``resize``: downsample to ``resize x resize`` by area averaging (float32 result)."""
    if name == "digits":
        data = load_digits_dataset()
    elif name in ("mnist", "fashion-mnist"):
        data = load_idx_dataset(name, root)
    elif name in ("cifar10", "cifar100"):
        data = load_cifar(name, root)
    else:
        raise ValueError(f"dataset: unknown name {name!r}; expected one of {', '.join(DATASETS)}")
    if resize is not None:
        if isinstance(resize, bool) or not isinstance(resize, int) or resize < 1:
            raise ValueError(f"resize: expected an integer >= 1, got {resize!r}")
        data = ImageDataset(data.name, _resize(data.train_x, resize), data.train_y,
                            _resize(data.test_x, resize), data.test_y, data.num_classes)
    return data

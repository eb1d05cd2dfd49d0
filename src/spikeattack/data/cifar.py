"""CIFAR-10 / CIFAR-100 from the official python-pickle batches.

Each batch is a pickled dict with ``b"data"`` (uint8 ``[N, 3072]``: 1024 red, 1024 green,
1024 blue values, row-major 32x32) and ``b"labels"`` (CIFAR-10) or ``b"fine_labels"``
(CIFAR-100). Pickle runs code on load: only point the loader at trusted folders holding
the official files.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset
from .files import find_files


def _read_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as exc:  # corrupt or not a pickle
        raise ValueError(f"{path}: not a readable CIFAR batch ({exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise ValueError(f"{path}: not a CIFAR batch (expected keys b'data' and {label_key!r})")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{path}: expected data of shape [N, 3072] and N labels, got {data.shape}, {len(labels)}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar(name: str, root: str | os.PathLike | None) -> ImageDataset:
    """``cifar10`` (10 classes) or ``cifar100`` (100 fine classes): uint8 ``[N, 3, 32, 32]``."""
    if name == "cifar10":
        wanted = {f"data_batch_{i}": (f"data_batch_{i}",) for i in range(1, 6)} | {"test": ("test_batch",)}
        files = find_files(name, root, wanted, ("cifar-10-batches-py",))
        train = [_read_batch(files[f"data_batch_{i}"], b"labels") for i in range(1, 6)]
        test = _read_batch(files["test"], b"labels")
        classes = 10
    else:
        files = find_files(name, root, {"train": ("train",), "test": ("test",)}, ("cifar-100-python",))
        train = [_read_batch(files["train"], b"fine_labels")]
        test = _read_batch(files["test"], b"fine_labels")
        classes = 100
    train_x = torch.from_numpy(np.concatenate([b[0] for b in train]))
    train_y = torch.from_numpy(np.concatenate([b[1] for b in train]))
    return ImageDataset(name, train_x, train_y, torch.from_numpy(test[0].copy()), torch.from_numpy(test[1]), classes)

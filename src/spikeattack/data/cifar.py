"""CIFAR-10 / CIFAR-100 from the official python-pickle batches ("CIFAR python version").

Each batch is a pickled dict with ``b"data"`` (uint8 ``[N, 3072]``: 1024 red, then 1024 green,
then 1024 blue values, each a row-major 32x32 plane) and ``b"labels"`` (CIFAR-10) or
``b"fine_labels"`` (CIFAR-100). Unpickling can run arbitrary code: only load folders you
trust, holding the official files.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset

CIFAR10_FILES = {**{f"train{i}": f"data_batch_{i}" for i in range(1, 6)}, "test": "test_batch"}
CIFAR100_FILES = {"train": "train", "test": "test"}


def read_cifar_batch(path: str | Path, label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch -> (uint8 ``[N, 3, 32, 32]``, int64 ``[N]``); ``ValueError`` naming the file if malformed."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as exc:  # corrupt, truncated or not a pickle at all
        raise ValueError(f"{path}: not a readable CIFAR batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"{path}: not a CIFAR batch (expected a dict with keys b'data' and {label_key!r}, got {keys})")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[label_key])
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (len(data),):
        raise ValueError(f"{path}: not a CIFAR batch (expected data [N, 3072] and N labels, "
                         f"got data {data.shape} and labels {labels.shape})")
    if data.dtype != np.uint8:
        if not np.issubdtype(data.dtype, np.integer) or (data.size and (data.min() < 0 or data.max() > 255)):
            raise ValueError(f"{path}: CIFAR pixels must be integers 0..255, got dtype {data.dtype}")
        data = data.astype(np.uint8)
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{path}: CIFAR labels must be integers 0..{num_classes - 1}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar(name: str, files: dict[str, Path]) -> ImageDataset:
    """Build ``cifar10`` (10 classes; keys of ``CIFAR10_FILES``) or ``cifar100`` (100 fine classes;
    keys of ``CIFAR100_FILES``) from the located batches: uint8 ``[N, 3, 32, 32]``."""
    if name == "cifar10":
        key, classes, train_keys = b"labels", 10, [f"train{i}" for i in range(1, 6)]
    elif name == "cifar100":
        key, classes, train_keys = b"fine_labels", 100, ["train"]
    else:
        raise ValueError(f"name: expected 'cifar10' or 'cifar100', got {name!r}")
    train = [read_cifar_batch(files[k], key, classes) for k in train_keys]
    test_x, test_y = read_cifar_batch(files["test"], key, classes)
    train_x = np.concatenate([b[0] for b in train]) if len(train) > 1 else train[0][0]
    train_y = np.concatenate([b[1] for b in train]) if len(train) > 1 else train[0][1]
    return ImageDataset(name, torch.from_numpy(np.ascontiguousarray(train_x)), torch.from_numpy(train_y),
                        torch.from_numpy(np.ascontiguousarray(test_x)), torch.from_numpy(test_y), classes)

"""The suite's datasets, read the way a user without torchvision would: Fashion-MNIST from its
IDX files (``/usr/share/datasets/fashion-mnist``, or ``$SPIKEATTACK_FASHION_MNIST``), scikit-learn's
digits with the split spikeattack's ``load_dataset("digits")`` uses. Images float32 in [0, 1],
``[N, 1, H, W]``; labels int64. Nothing is downloaded."""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

FASHION_ROOT = Path(os.environ.get("SPIKEATTACK_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
DATASETS = ("fashion-mnist", "digits")


def _read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_file(stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (FASHION_ROOT / name).exists():
            return FASHION_ROOT / name
    raise FileNotFoundError(f"Fashion-MNIST: {stem}(.gz) not found under {FASHION_ROOT}")


def fashion_available() -> bool:
    try:
        _idx_file("t10k-images-idx3-ubyte")
        return True
    except FileNotFoundError:
        return False


@lru_cache(maxsize=None)
def _load(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    if name == "fashion-mnist":
        parts = []
        for split in ("train", "t10k"):
            x = _read_idx(_idx_file(f"{split}-images-idx3-ubyte"))
            y = _read_idx(_idx_file(f"{split}-labels-idx1-ubyte"))
            parts += [torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))]
        return tuple(parts)  # type: ignore[return-value]
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        tr, te = train_test_split(np.arange(len(bunch.target)), test_size=0.25, random_state=0, stratify=bunch.target)
        x = torch.tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)
        y = torch.tensor(bunch.target, dtype=torch.int64)
        return x[tr], y[tr], x[te], y[te]
    raise ValueError(f"dataset: expected one of {DATASETS}, got {name!r}")


def load(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(train_x, train_y, test_x, test_y)`` of dataset ``name`` (fresh tensors)."""
    return tuple(t.clone() for t in _load(name))  # type: ignore[return-value]


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator | None = None):
    """Mini-batches of ``(x, y)``; shuffled with ``generator`` when given (a DataLoader's job)."""
    order = torch.randperm(len(y), generator=generator) if generator is not None else torch.arange(len(y))
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]

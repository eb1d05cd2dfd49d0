"""scikit-learn's digits: 1,797 8x8 grey images of 10 digits (embedded; always available)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .base import ImageDataset


@lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    idx_train, idx_test = train_test_split(np.arange(len(bunch.target)), test_size=0.25, random_state=0,
                                           stratify=bunch.target)
    return bunch.images, bunch.target, idx_train, idx_test


def load_digits_dataset() -> ImageDataset:
    """float32 ``[N, 1, 8, 8]`` (pixels 0..16 divided by 16, so in [0, 1]), 10 classes; the fixed
    stratified split ``train_test_split(test_size=0.25, random_state=0, stratify=y)``: 1,347 train /
    450 test. Every call returns fresh tensors."""
    images, target, idx_train, idx_test = _arrays()
    x = torch.tensor(images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(target, dtype=torch.int64)
    tr, te = torch.from_numpy(idx_train), torch.from_numpy(idx_test)
    return ImageDataset("digits", x[tr], y[tr], x[te], y[te], 10)

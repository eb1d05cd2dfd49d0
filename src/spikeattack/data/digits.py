"""scikit-learn's digits: 1,797 8x8 grey images of 10 digits (embedded; always available)."""

from __future__ import annotations

import torch

from .base import ImageDataset


def load_digits_dataset() -> ImageDataset:
    """Pixels 0..16 scaled to [0, 1], ``[N, 1, 8, 8]``; fixed stratified split
    (``train_test_split(test_size=0.25, random_state=0)``): 1,347 train / 450 test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(bunch.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(range(len(y)), test_size=0.25, random_state=0, stratify=bunch.target)
    idx_train, idx_test = torch.tensor(idx_train), torch.tensor(idx_test)
    return ImageDataset("digits", x[idx_train], y[idx_train], x[idx_test], y[idx_test], 10)

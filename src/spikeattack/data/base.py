"""In-memory image datasets and seeded mini-batching."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 -> float32 in [0, 1]; bool spike frames -> {0., 1.}; integer event
    counts -> float counts (never rescaled); float tensors pass unchanged."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


@dataclass
class ImageDataset:
    """Train and test inputs with int64 labels.

    Images: ``[N, C, H, W]``, uint8 0..255 or float32 in [0, 1]. Event data: frame sequences
    ``[N, T, C, H, W]``, bool (binary spike frames) or int16 (event counts); batches of them
    come out time-first, ``[T, B, C, H, W]``.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one input (one frame, for event data)."""
        return tuple(self.train_x.shape[-3:])  # type: ignore[return-value]

    @property
    def timesteps(self) -> int | None:
        """Frames per sample for event data; ``None`` for images."""
        return self.train_x.shape[1] if self.train_x.dim() == 5 else None

    @property
    def is_sequence(self) -> bool:
        return self.train_x.dim() == 5

    def split(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(float32 inputs, labels)`` of the ``"train"`` or ``"test"`` split, in the model's
        layout (``[N, C, H, W]`` images, ``[T, N, C, H, W]`` frame sequences)."""
        if which not in ("train", "test"):
            raise ValueError(f"which: expected 'train' or 'test', got {which!r}")
        x, y = (self.train_x, self.train_y) if which == "train" else (self.test_x, self.test_y)
        x = to_float(x)
        return (x.transpose(0, 1) if x.dim() == 5 else x), y

    def subset(self, n_train: int | None = None, n_test: int | None = None, *, seed: int = 0) -> "ImageDataset":
        """A seeded random subset of each split (``None`` keeps a split whole)."""
        gen = torch.Generator().manual_seed(seed)

        def pick(x: torch.Tensor, y: torch.Tensor, n: int | None, name: str) -> tuple[torch.Tensor, torch.Tensor]:
            if n is None:
                return x, y
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {n!r}")
            idx = torch.randperm(len(y), generator=gen)[: min(n, len(y))]
            return x[idx], y[idx]

        tx, ty = pick(self.train_x, self.train_y, n_train, "n_train")
        vx, vy = pick(self.test_x, self.test_y, n_test, "n_test")
        return ImageDataset(self.name, tx, ty, vx, vy, self.num_classes)

    def validation_split(self, fraction: float = 0.1, *, seed: int = 0) -> "ImageDataset":
        """Held-out slice of the *training* set as the test part (for tuning, never the test set)."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction: expected a value in (0, 1), got {fraction!r}")
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(self.train_y), generator=gen)
        n_val = max(1, int(round(fraction * len(perm))))
        val, rest = perm[:n_val], perm[n_val:]
        return ImageDataset(f"{self.name}-val", self.train_x[rest], self.train_y[rest],
                            self.train_x[val], self.train_y[val], self.num_classes)


def iterate_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool,
                    generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches ``(float32 inputs, labels)``; seeded shuffling via ``generator``.

    Images come out ``[B, C, H, W]`` in [0, 1]; frame sequences ``[N, T, ...]`` come out
    time-first, ``[T, B, C, H, W]``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    if len(x) != len(y):
        raise ValueError(f"x: {len(x)} inputs but {len(y)} labels")
    order = torch.randperm(len(y), generator=generator) if shuffle else torch.arange(len(y))
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        xb = to_float(x[idx])
        yield (xb.transpose(0, 1) if xb.dim() == 5 else xb), y[idx]

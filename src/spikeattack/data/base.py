"""In-memory datasets and seeded mini-batching."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Iterator

import torch

from .._checks import check_seed


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 -> float32 in [0, 1]; bool spike frames -> {0., 1.}; integer event
    counts -> float counts (never rescaled); float tensors pass as float32 (no copy if already)."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def as_count(value: object, name: str, *, minimum: int = 1) -> int:
    """``value`` as a Python int ``>= minimum`` (numpy integers accepted, bools and floats not)."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    try:
        n = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {n}")
    return n


@dataclass
class ImageDataset:
    """Train and test inputs with int64 labels in ``[0, num_classes)``.

    Images: ``[N, C, H, W]``, uint8 0..255 (kept compact in memory) or float32 in [0, 1].
    Event data: frame sequences ``[N, T, C, H, W]``, bool (binary spike frames) or int16
    (event counts); batches of them come out time-first, ``[T, B, C, H, W]``.
    Shapes, lengths and label range are checked on construction (``ValueError``).
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        self.num_classes = as_count(self.num_classes, "num_classes")
        for part in ("train", "test"):
            x, y = getattr(self, f"{part}_x"), getattr(self, f"{part}_y")
            if not isinstance(x, torch.Tensor) or x.dim() not in (4, 5):
                got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"{part}_x: expected a tensor [N, C, H, W] (or [N, T, C, H, W] frames), got {got}")
            if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.is_floating_point() or y.is_complex() \
                    or y.dtype == torch.bool:
                got = f"{tuple(y.shape)} {y.dtype}" if isinstance(y, torch.Tensor) else type(y).__name__
                raise ValueError(f"{part}_y: expected a 1-D integer tensor of labels, got {got}")
            if len(x) != len(y):
                raise ValueError(f"{part}_y: {len(y)} labels for {len(x)} inputs in {part}_x")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(f"{part}_y: labels must lie in [0, {self.num_classes}), "
                                 f"got range [{int(y.min())}, {int(y.max())}]")
            if y.dtype != torch.int64:
                setattr(self, f"{part}_y", y.long())
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"test_x: per-sample shape {tuple(self.test_x.shape[1:])} differs from "
                             f"train_x's {tuple(self.train_x.shape[1:])}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one input (one frame, for event data)."""
        c, h, w = (int(s) for s in self.train_x.shape[-3:])
        return c, h, w

    @property
    def timesteps(self) -> int | None:
        """Frames per sample for event data; ``None`` for images."""
        return int(self.train_x.shape[1]) if self.train_x.dim() == 5 else None

    @property
    def is_sequence(self) -> bool:
        """True for event data (frame sequences ``[N, T, C, H, W]``)."""
        return self.train_x.dim() == 5

    def split(self, which: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(float32 inputs, int64 labels)`` of the ``"train"`` or ``"test"`` split (its first
        ``limit`` samples), in the model's layout (``[N, C, H, W]`` images in [0, 1],
        ``[T, N, C, H, W]`` frame sequences). Float inputs may share memory with the dataset."""
        if which not in ("train", "test"):
            raise ValueError(f"which: expected 'train' or 'test', got {which!r}")
        x, y = (self.train_x, self.train_y) if which == "train" else (self.test_x, self.test_y)
        if limit is not None:
            limit = as_count(limit, "limit")
            x, y = x[:limit], y[:limit]
        x = to_float(x)
        return (x.transpose(0, 1) if x.dim() == 5 else x), y

    def subset(self, n_train: int | None = None, n_test: int | None = None, *, seed: int = 0) -> ImageDataset:
        """A seeded random subset of each split: ``n_train`` / ``n_test`` samples (capped at the
        split's size; ``None`` keeps a split whole). Not stratified."""
        gen = torch.Generator().manual_seed(check_seed("seed", seed))

        def pick(x: torch.Tensor, y: torch.Tensor, n: int | None, name: str) -> tuple[torch.Tensor, torch.Tensor]:
            if n is None:
                return x, y
            n = as_count(n, name)
            idx = torch.randperm(len(y), generator=gen)[: min(n, len(y))]
            return x[idx], y[idx]

        tx, ty = pick(self.train_x, self.train_y, n_train, "n_train")
        vx, vy = pick(self.test_x, self.test_y, n_test, "n_test")
        return ImageDataset(self.name, tx, ty, vx, vy, self.num_classes)

    def validation_split(self, fraction: float = 0.1, *, seed: int = 0) -> ImageDataset:
        """Hold out a seeded random ``fraction`` of the *training* set: the new dataset's train part
        is the rest of train, its *test* part the held-out slice (for hyper-parameter selection;
        the real test set is never touched). Named ``<name>-val``."""
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not math.isfinite(fraction) or not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction: expected a number in (0, 1), got {fraction!r}")
        n = len(self.train_y)
        if n < 2:
            raise ValueError(f"fraction: the training set holds {n} sample(s); at least 2 are needed to hold some out")
        gen = torch.Generator().manual_seed(check_seed("seed", seed))
        perm = torch.randperm(n, generator=gen)
        n_val = min(n - 1, max(1, int(round(fraction * n))))
        val, rest = perm[:n_val], perm[n_val:]
        return ImageDataset(f"{self.name}-val", self.train_x[rest], self.train_y[rest],
                            self.train_x[val], self.train_y[val], self.num_classes)


def iterate_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool,
                    generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches ``(float32 inputs, labels)`` covering every sample once (the last may be
    smaller); ``shuffle`` draws a new order from ``generator`` (seeded: reproducible).

    uint8 images are converted per batch (/255) into ``[B, C, H, W]`` in [0, 1]; frame
    sequences ``[N, T, ...]`` come out time-first, ``[T, B, C, H, W]``.
    """
    batch_size = as_count(batch_size, "batch_size")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(f"x, y: expected tensors, got {type(x).__name__} and {type(y).__name__}")
    if len(x) != len(y):
        raise ValueError(f"y: {len(y)} labels for {len(x)} inputs in x")
    return _batches(x, y, batch_size, shuffle, generator)  # arguments checked now, not at the first next()


def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool,
             generator: torch.Generator | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    order = torch.randperm(len(y), generator=generator) if shuffle else torch.arange(len(y))
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        xb = to_float(x[idx])
        yield (xb.transpose(0, 1) if xb.dim() == 5 else xb), y[idx]

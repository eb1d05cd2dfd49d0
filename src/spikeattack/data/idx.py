"""MNIST and Fashion-MNIST from their official IDX files (gzipped or not).

IDX: a big-endian header ``0x00000803, n, rows, cols`` (images) or ``0x00000801, n``
(labels) followed by uint8 data. Fashion-MNIST is found without configuration where
Debian's ``dataset-fashion-mnist`` package puts it.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset
from .files import find_files

FASHION_DEFAULT = "/usr/share/datasets/fashion-mnist"
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801


def _names(stem: str) -> tuple[str, ...]:
    dotted = stem.replace("-idx", ".idx", 1)
    return (f"{stem}.gz", stem, f"{dotted}.gz", dotted)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file, checking its magic number and size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ValueError(f"{path}: not a readable IDX file ({exc})") from exc
    dims = 3 if magic == IMAGE_MAGIC else 1
    header = 4 * (1 + dims)
    if len(raw) < header or struct.unpack(">I", raw[:4])[0] != magic:
        raise ValueError(f"{path}: not an IDX {'image' if dims == 3 else 'label'} file (magic {magic:#010x} expected)")
    shape = struct.unpack(f">{dims}I", raw[4:header])
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise ValueError(f"{path}: truncated or corrupt IDX file ({len(raw) - header} bytes of data, {size} expected)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_idx_dataset(name: str, root: str | os.PathLike | None) -> ImageDataset:
    """``mnist`` or ``fashion-mnist``: uint8 ``[N, 1, 28, 28]``, 10 classes."""
    subfolders = ("MNIST/raw", "raw") if name == "mnist" else ("FashionMNIST/raw", "fashion-mnist", "raw")
    defaults = (FASHION_DEFAULT,) if name == "fashion-mnist" else ()
    files = find_files(name, root, {
        "train_x": _names("train-images-idx3-ubyte"), "train_y": _names("train-labels-idx1-ubyte"),
        "test_x": _names("t10k-images-idx3-ubyte"), "test_y": _names("t10k-labels-idx1-ubyte"),
    }, subfolders, defaults)
    arrays = {k: read_idx(p, IMAGE_MAGIC if k.endswith("_x") else LABEL_MAGIC) for k, p in files.items()}
    for split in ("train", "test"):
        if len(arrays[f"{split}_x"]) != len(arrays[f"{split}_y"]):
            raise ValueError(f"{files[f'{split}_y']}: {len(arrays[f'{split}_y'])} labels for "
                             f"{len(arrays[f'{split}_x'])} images")
    tensors = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    return ImageDataset(name, tensors["train_x"].unsqueeze(1), tensors["train_y"].long(),
                        tensors["test_x"].unsqueeze(1), tensors["test_y"].long(), 10)

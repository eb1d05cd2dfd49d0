"""MNIST and Fashion-MNIST from their official IDX files (gzipped or not).

IDX: a big-endian header ``0x00000803, n, rows, cols`` (images) or ``0x00000801, n``
(labels) followed by ``n * rows * cols`` (or ``n``) unsigned bytes.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset

IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801
# key -> official file name; each is also accepted gzipped (".gz") and with ".idx" for "-idx"
IDX_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
             "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}
NUM_CLASSES = 10


def idx_names(stem: str) -> tuple[str, ...]:
    """Accepted spellings of one IDX file, uncompressed first."""
    dotted = stem.replace("-idx", ".idx", 1)
    return (stem, f"{stem}.gz", dotted, f"{dotted}.gz")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if it starts with the gzip signature."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a cut gzip an EOFError
        raise ValueError(f"{path}: not a readable IDX file (corrupt or truncated gzip data: {exc})") from exc


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read one IDX file with magic ``IMAGE_MAGIC`` (-> uint8 ``[n, rows, cols]``) or ``LABEL_MAGIC``
    (-> uint8 ``[n]``), checking magic number and size (``ValueError`` naming the file)."""
    path = Path(path)
    kind, dims = ("image", 3) if magic == IMAGE_MAGIC else ("label", 1)
    raw = _read_bytes(path)
    header = 4 * (1 + dims)
    if len(raw) < 4 or struct.unpack(">I", raw[:4])[0] != magic:
        got = f"{struct.unpack('>I', raw[:4])[0]:#010x}" if len(raw) >= 4 else f"only {len(raw)} bytes"
        raise ValueError(f"{path}: not an IDX {kind} file (magic number {magic:#010x} expected, got {got})")
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX {kind} file ({len(raw)} bytes, header alone is {header})")
    shape = struct.unpack(f">{dims}I", raw[4:header])
    size = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header < size:
        raise ValueError(f"{path}: truncated IDX {kind} file ({len(raw) - header} data bytes, "
                         f"{size} expected for shape {shape})")
    if len(raw) - header > size:
        raise ValueError(f"{path}: corrupt IDX {kind} file ({len(raw) - header - size} bytes beyond shape {shape})")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_idx(name: str, files: dict[str, Path]) -> ImageDataset:
    """Build ``name`` (mnist / fashion-mnist) from the four located files (keys of ``IDX_FILES``):
    uint8 images ``[N, 1, rows, cols]`` (28x28 for the official files), 10 classes."""
    arrays = {k: read_idx(files[k], IMAGE_MAGIC if k.endswith("_x") else LABEL_MAGIC) for k in IDX_FILES}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if len(x) != len(y):
            raise ValueError(f"{files[f'{split}_y']}: {len(y)} labels for the {len(x)} images of {files[f'{split}_x']}")
        if len(y) and int(y.max()) >= NUM_CLASSES:
            raise ValueError(f"{files[f'{split}_y']}: label {int(y.max())} out of range 0..{NUM_CLASSES - 1}")
    if arrays["train_x"].shape[1:] != arrays["test_x"].shape[1:]:
        raise ValueError(f"{files['test_x']}: images of size {arrays['test_x'].shape[1:]} but "
                         f"{files['train_x']} holds {arrays['train_x'].shape[1:]}")
    t = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}  # copy: frombuffer arrays are read-only
    return ImageDataset(name, t["train_x"].unsqueeze(1), t["train_y"].long(),
                        t["test_x"].unsqueeze(1), t["test_y"].long(), NUM_CLASSES)

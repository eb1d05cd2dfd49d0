"""Neuromorphic datasets from local folders in their official formats (nothing is downloaded).

Readers (each returns an ``EventStream``; polarity 1 = ON everywhere; a corrupt or truncated file
is a ``ValueError`` naming the file):

- ``read_nmnist_bin``: N-MNIST / N-Caltech101 ``.bin`` (Orchard et al. 2015). 5 bytes per event:
  byte 0 = x, byte 1 = y, byte 2 bit 7 = polarity (1 = ON), then a 23-bit big-endian timestamp in
  microseconds (byte 2 bits 6-0, bytes 3 and 4). As in Orchard's ``read_dataset`` (event-Python)
  and tonic's ``read_mnist_file``, an event with y = 240 is a timestamp-overflow marker: it is
  dropped and 2**13 us is added to every later timestamp (the official files hold none: their
  recordings last ~300 ms, far below the 2**23 us range).
- ``read_aedat2``: AEDAT 2.0 (jAER) files of CIFAR10-DVS: ``#`` header lines (the first
  ``#!AER-DAT2.0``), then big-endian (uint32 address, uint32 timestamp in us) pairs. Addresses
  are decoded as jAER's ``DVS128.Extractor`` does (the README of CIFAR10-DVS says to view the
  recordings with jAER's DVS128 filter): ``x = 127 - ((addr >> 1) & 0x7F)`` (jAER flips x),
  ``y = (addr >> 8) & 0x7F``, and raw bit 0 = 0 is an ON event, so ``p = 1 - (addr & 1)``
  (jAER's ``setFliptype(true)``; SpikingJelly also reads ``1 - (addr & 1)``). Addresses with the
  sync bit (0x8000) or the special-event bit (0x80000000) set are not pixel events and are
  dropped, as jAER does. Timestamps wrapping around 2**32 are unwrapped.
  Other readers differ by a transpose/flip of the frame or the polarity: in terms of the
  ``(x, y, p)`` above, tonic 1.x's ``read_dvs_128`` returns ``(y, 127 - x, 1 - p)`` and
  SpikingJelly's CIFAR10-DVS reader ``(127 - y, x, p)``. All carry the same information; a model
  must be trained and attacked on one convention (this one).
- ``read_aedat31``: AEDAT 3.1 (cAER) files of DVS Gesture: ``#`` text header lines closed by
  ``#!END-HEADER\\r\\n``, then packets: a 28-byte little-endian header (eventType int16,
  eventSource int16, eventSize int32, eventTSOffset int32, eventTSOverflow int32, eventCapacity
  int32, eventNumber int32, eventValid int32) followed by eventNumber events of eventSize bytes
  (cAER writes eventCapacity == eventNumber). Only polarity packets (eventType 1; 8-byte events:
  uint32 data with bit 0 = valid, bit 1 = polarity, bits 2-16 = y, bits 17-31 = x, then an int32
  timestamp) are kept; other packets are skipped, invalid events (bit 0 = 0) dropped. Full
  timestamp = ``eventTSOverflow << 31 | timestamp``.

tonic: it installs here (``pip install tonic``; it does not pull torch), so
``read_nmnist_bin`` uses ``tonic.io.read_mnist_file`` when tonic is importable (after our own size
check) and the vectorised numpy reader otherwise; both give identical events. tonic's AEDAT readers
are not used: ``read_dvs_ibm`` (AEDAT 3.x) reads every packet whatever its event type, reads
eventCapacity events, and ignores the validity bit and eventTSOverflow; ``read_dvs_128`` (AEDAT 2)
uses the different address layout above; and tonic's own CIFAR10-DVS / DVS Gesture datasets read
converted files (``.aedat4`` / ``.npy``), not the official ones. Those readers are written here with
numpy (vectorised over events; a Python loop only over AEDAT 3.1 packet headers).

Loaders (each returns an ``ImageDataset`` with frame sequences ``[N, T, 2, H, W]``, bool for
``mode="binary"``, int16 for ``mode="count"``; ``n_frames`` equal-duration bins over each sample,
or, with ``bin_us``, ``n_frames`` bins of ``bin_us`` microseconds from the sample's start -- Liang
et al. (TNNLS 2021, Table VI) use 5 ms x 15 for N-MNIST, 5 ms x 10 for CIFAR10-DVS, 1 ms x 60 for
DVS Gesture):

- ``load_nmnist(root)``: ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin`` (the extracted
  official ``Train.zip`` / ``Test.zip``): 60,000 / 10,000 samples, 34x34 sensor, 10 classes.
  Memory: N x T x 2 x 34 x 34 bytes (binary) -- 1.6 GB for all 70,000 samples at T = 10; pass
  ``size`` to shrink.
- ``load_cifar10_dvs(root)``: ``<class>/*.aedat`` for the ten CIFAR-10 class names (the official
  per-class archives, extracted), 1,000 recordings a class, 128x128 sensor. There is no official
  split: a seeded stratified 90/10 split (per class, the ``round(10%)`` files -- at least one when
  the class holds two or more -- drawn by a permutation seeded with ``split_seed`` go to test;
  900 / 100 per class for the full dataset). ``size=42`` gives Liang's 42x42 input.
- ``load_dvs_gesture(root)``: the official ``DvsGesture`` folder: ``userXX_<lighting>.aedat`` with
  ``userXX_<lighting>_labels.csv`` (``class,startTime_usec,endTime_usec``, classes 1..11) beside
  each, and ``trials_to_train.txt`` / ``trials_to_test.txt`` naming the train / test files. Each
  labelled interval ``[start, end)`` is one sample (label = class - 1, 11 classes); 128x128
  sensor; ``size=32`` gives Liang's 32x32 input.

``size=(h, w)`` (or an int for a square) downsamples by summing event counts over blocks of sensor
pixels (pixel x -> ``floor(x * w / W)``; 128 -> 42 uses blocks of 3 or 4 pixels), then binarises
again in binary mode (a block fires when any of its pixels fired).
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from .base import ImageDataset
from .events import EventStream, _check_mode, _positive_int, bin_events, downsample_events
from .files import find_layout_folder

NMNIST_SENSOR = (34, 34)
DVS128_SENSOR = (128, 128)
CIFAR10_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DVS_GESTURE_CLASSES = 11
NMNIST_OVERFLOW_Y, NMNIST_OVERFLOW_US = 240, 2 ** 13

__all__ = ["read_nmnist_bin", "read_aedat2", "read_aedat31", "read_gesture_labels", "load_nmnist",
           "load_cifar10_dvs", "load_dvs_gesture", "CIFAR10_DVS_CLASSES", "NMNIST_SENSOR", "DVS128_SENSOR"]


def _read(path: str | os.PathLike) -> tuple[Path, bytes]:
    path = Path(path)
    try:
        return path, path.read_bytes()
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not an event file") from None


# --------------------------------------------------------------------------- N-MNIST

def _tonic_mnist_reader() -> Callable | None:
    try:
        from tonic.io import read_mnist_file
    except Exception:  # absent, or broken in this environment: the numpy reader is used
        return None
    return read_mnist_file


def _nmnist_numpy(raw: bytes) -> EventStream:
    data = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = data[:, 0], data[:, 1]
    p = data[:, 2] >> 7
    t = ((data[:, 2] & 0x7F) << 16) | (data[:, 3] << 8) | data[:, 4]
    overflow = y == NMNIST_OVERFLOW_Y
    if overflow.any():
        t = t + np.cumsum(overflow) * NMNIST_OVERFLOW_US
        keep = ~overflow
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    return EventStream(x, y, t, p)


def read_nmnist_bin(path: str | os.PathLike, *, backend: str = "auto") -> EventStream:
    """Events of one N-MNIST ``.bin`` file (format in the module docstring).

    ``backend``: ``"auto"`` (tonic's ``read_mnist_file`` when tonic is importable, else numpy),
    ``"tonic"`` (an ``ImportError`` without it) or ``"numpy"``. A file whose size is not a
    multiple of 5 bytes is a ``ValueError`` naming it (truncated or not an N-MNIST file)."""
    if backend not in ("auto", "tonic", "numpy"):
        raise ValueError(f"backend: expected 'auto', 'tonic' or 'numpy', got {backend!r}")
    path, raw = _read(path)
    if len(raw) % 5:
        raise ValueError(f"{path}: truncated or not an N-MNIST .bin file ({len(raw)} bytes is not a "
                         f"multiple of the 5 bytes of one event)")
    reader = None if backend == "numpy" else _tonic_mnist_reader()
    if reader is None and backend == "tonic":
        raise ImportError("backend='tonic': the tonic package is not installed (pip install tonic)")
    if reader is None or not raw:
        return _nmnist_numpy(raw)
    import io

    dtype = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int16)])
    ev = reader(io.BytesIO(raw), dtype, is_stream=True)
    return EventStream(ev["x"], ev["y"], ev["t"], ev["p"])


# --------------------------------------------------------------------------- AEDAT headers

def _split_header(path: Path, raw: bytes, *, end_marker: bytes | None) -> tuple[list[bytes], int]:
    """``#`` header lines (without line ends) and the offset of the binary data. With
    ``end_marker`` the header must end with that line (AEDAT 3.x), else it ends at the first line
    not starting with ``#`` (AEDAT 2.0)."""
    lines: list[bytes] = []
    pos = 0
    while raw[pos:pos + 1] == b"#":
        nl = raw.find(b"\n", pos)
        if nl < 0:
            raise ValueError(f"{path}: truncated AEDAT header (a '#' line without a line end)")
        line = raw[pos:nl].rstrip(b"\r")
        lines.append(line)
        pos = nl + 1
        if end_marker is not None and line == end_marker:
            return lines, pos
    if end_marker is not None:
        raise ValueError(f"{path}: AEDAT 3.1 header not closed by a {end_marker.decode()!r} line "
                         f"(truncated or not an AEDAT 3.1 file)")
    return lines, pos


def _version(path: Path, lines: list[bytes], expected: str) -> str:
    first = lines[0] if lines else b""
    match = re.match(rb"#!AER-DAT(\d+)\.(\d+)", first)
    if not match:
        raise ValueError(f"{path}: not an AEDAT file (expected a first line '#!AER-DAT{expected}', "
                         f"got {first[:40]!r})")
    version = f"{int(match.group(1))}.{int(match.group(2))}"
    if version.split(".")[0] != expected.split(".")[0]:
        raise ValueError(f"{path}: AEDAT version {version}, expected {expected} "
                         f"({'read_aedat31' if version.startswith('3') else 'read_aedat2'} reads this one)")
    return version


# --------------------------------------------------------------------------- AEDAT 2.0 (CIFAR10-DVS)

DVS128_SYNC_BIT, SPECIAL_EVENT_BIT = 0x8000, 0x80000000


def read_aedat2(path: str | os.PathLike) -> EventStream:
    """Events of one AEDAT 2.0 (jAER) DVS128 file, e.g. a CIFAR10-DVS recording; address decoding
    and the polarity convention (jAER's) in the module docstring."""
    path, raw = _read(path)
    lines, start = _split_header(path, raw, end_marker=None)
    _version(path, lines, "2.0")
    body = len(raw) - start
    if body % 8:
        raise ValueError(f"{path}: truncated AEDAT 2.0 data ({body} bytes after the header is not a multiple "
                         f"of the 8 bytes of one address/timestamp pair)")
    pairs = np.frombuffer(raw, dtype=">u4", offset=start).reshape(-1, 2)
    addr = pairs[:, 0].astype(np.int64)
    t = pairs[:, 1].astype(np.int64)
    if len(t) > 1:  # unwrap 32-bit timestamp wrap-arounds
        wraps = np.concatenate([[0], np.cumsum(np.diff(t) < -(2 ** 31))])
        t = t + wraps * 2 ** 32
    keep = (addr & (DVS128_SYNC_BIT | SPECIAL_EVENT_BIT)) == 0
    addr, t = addr[keep], t[keep]
    x = 127 - ((addr >> 1) & 0x7F)
    y = (addr >> 8) & 0x7F
    p = 1 - (addr & 1)
    return EventStream(x, y, t, p)


# --------------------------------------------------------------------------- AEDAT 3.1 (DVS Gesture)

_PACKET_HEADER = struct.Struct("<hhiiiiii")
POLARITY_EVENT = 1


def read_aedat31(path: str | os.PathLike) -> EventStream:
    """Polarity events of one AEDAT 3.1 (cAER) file, e.g. a DVS Gesture recording (format in the
    module docstring): non-polarity packets skipped, invalid events dropped, overflow applied."""
    path, raw = _read(path)
    lines, pos = _split_header(path, raw, end_marker=b"#!END-HEADER")
    _version(path, lines, "3.1")
    chunks: list[tuple[np.ndarray, int]] = []
    n = len(raw)
    while pos < n:
        if n - pos < _PACKET_HEADER.size:
            raise ValueError(f"{path}: truncated AEDAT 3.1 packet header at byte {pos} "
                             f"({n - pos} of {_PACKET_HEADER.size} bytes)")
        etype, _source, esize, ts_offset, overflow, _capacity, number, _valid = _PACKET_HEADER.unpack_from(raw, pos)
        pos += _PACKET_HEADER.size
        if esize <= 0 or number < 0 or overflow < 0:
            raise ValueError(f"{path}: corrupt AEDAT 3.1 packet header at byte {pos - _PACKET_HEADER.size} "
                             f"(eventSize {esize}, eventNumber {number}, eventTSOverflow {overflow})")
        size = esize * number
        if n - pos < size:
            raise ValueError(f"{path}: truncated AEDAT 3.1 packet at byte {pos - _PACKET_HEADER.size} "
                             f"({n - pos} of {size} event bytes)")
        if etype == POLARITY_EVENT:
            if esize != 8 or ts_offset != 4:
                raise ValueError(f"{path}: polarity packet with eventSize {esize} and eventTSOffset {ts_offset} "
                                 f"(8 and 4 expected) at byte {pos - _PACKET_HEADER.size}")
            chunks.append((np.frombuffer(raw, dtype="<u4", count=2 * number, offset=pos).reshape(-1, 2), overflow))
        pos += size
    if not chunks:
        return EventStream.empty()
    data = np.concatenate([c[:, 0] for c, _ in chunks]).astype(np.int64)
    ts = np.concatenate([(np.int64(o) << 31) | c[:, 1].astype(np.int64) for c, o in chunks])
    valid = (data & 1) == 1
    data, ts = data[valid], ts[valid]
    return EventStream((data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF, ts, (data >> 1) & 1)


def read_gesture_labels(path: str | os.PathLike) -> np.ndarray:
    """A DVS Gesture ``*_labels.csv``: int64 ``[n, 3]`` rows (class 1..11, start us, end us); the
    header line ``class,startTime_usec,endTime_usec`` is optional. ``ValueError`` naming the file
    for a malformed row, a class out of range or an empty interval."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text labels file ({exc})") from exc
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or (number == 1 and line.lower().startswith("class")):
            continue
        parts = [s.strip() for s in line.split(",")]
        try:
            if len(parts) != 3:
                raise ValueError
            cls, start, end = (int(s) for s in parts)
        except ValueError:
            raise ValueError(f"{path}: line {number}: expected 'class,startTime_usec,endTime_usec', "
                             f"got {line!r}") from None
        if not 1 <= cls <= DVS_GESTURE_CLASSES:
            raise ValueError(f"{path}: line {number}: class {cls} out of range 1..{DVS_GESTURE_CLASSES}")
        if end <= start:
            raise ValueError(f"{path}: line {number}: empty interval [{start}, {end})")
        rows.append((cls, start, end))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


# --------------------------------------------------------------------------- frames

def _size_arg(size: int | tuple[int, int] | None, sensor: tuple[int, int]) -> tuple[int, int]:
    if size is None:
        return sensor
    pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
    try:
        h, w = pair  # type: ignore[misc]
        h, w = _positive_int(h, "size"), _positive_int(w, "size")
    except (TypeError, ValueError):
        raise ValueError(f"size: expected an integer or (height, width) of positive integers, got {size!r}") from None
    if h > sensor[0] or w > sensor[1]:
        raise ValueError(f"size: expected at most the sensor size {sensor} (it only downsamples), got {(h, w)}")
    return h, w


class _FrameMaker:
    """Turns one sample's events into frames ``[T, 2, h, w]`` with the loader's settings."""

    def __init__(self, sensor: tuple[int, int], n_frames: int, mode: str, bin_us: int | None,
                 size: int | tuple[int, int] | None) -> None:
        self.sensor = sensor
        self.n_frames = _positive_int(n_frames, "n_frames")
        self.mode = _check_mode(mode)
        self.bin_us = None if bin_us is None else _positive_int(bin_us, "bin_us")
        self.size = _size_arg(size, sensor)
        self.dtype = torch.bool if self.mode == "binary" else torch.int16

    def __call__(self, events: EventStream, path: Path, t_start: int | None = None,
                 t_end: int | None = None) -> torch.Tensor:
        try:
            if len(events) and (events.x.min() < 0 or events.y.min() < 0 or events.x.max() >= self.sensor[1]
                                or events.y.max() >= self.sensor[0]):
                raise ValueError(f"events at x in [{events.x.min()}, {events.x.max()}], y in [{events.y.min()}, "
                                 f"{events.y.max()}] lie outside the {self.sensor[0]}x{self.sensor[1]} sensor")
            if self.size != self.sensor:
                events = downsample_events(events, self.sensor, self.size)
            if t_start is None:
                t_start = int(events.t.min()) if len(events) else 0
            if self.bin_us is not None:  # n_frames bins of bin_us from t_start; nothing at or after t_end
                window_end = t_start + self.n_frames * self.bin_us
                if t_end is not None and t_end < window_end:
                    events = events[events.t < t_end]
                return bin_events(events, self.size, bin_us=self.bin_us, mode=self.mode, t_start=t_start,
                                  t_end=window_end)
            if t_end is None:
                t_end = int(events.t.max()) + 1 if len(events) else t_start + 1
            return bin_events(events, self.size, n_frames=self.n_frames, mode=self.mode, t_start=t_start,
                              t_end=t_end)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def empty(self, n: int) -> torch.Tensor:
        return torch.zeros((n, self.n_frames, 2, *self.size), dtype=self.dtype)


def _stack(maker: _FrameMaker, items: list, build: Callable[[object], torch.Tensor]) -> torch.Tensor:
    out = maker.empty(len(items))
    for i, item in enumerate(items):
        out[i] = build(item)
    return out


def _natural_key(path: Path) -> list:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name)]


def _files(folder: Path, suffix: str) -> list[Path]:
    return sorted((f for f in folder.iterdir() if f.suffix.lower() == suffix and f.is_file()), key=_natural_key)


# --------------------------------------------------------------------------- N-MNIST loader

_NMNIST_SPLITS = {"train": ("Train", "train"), "test": ("Test", "test")}
NMNIST_LAYOUT = ("Train/<digit>/*.bin and Test/<digit>/*.bin for digits 0-9 "
                 "(the extracted official Train.zip and Test.zip)")


def _split_folder(folder: Path, split: str) -> Path | None:
    return next((folder / n for n in _NMNIST_SPLITS[split] if (folder / n).is_dir()), None)


def load_nmnist(root: str | os.PathLike | None = None, *, n_frames: int = 10, mode: str = "binary",
                bin_us: int | None = None, size: int | tuple[int, int] | None = None,
                backend: str = "auto") -> ImageDataset:
    """N-MNIST from ``root`` (or ``$SPIKEATTACK_DATA``; also found in ``<root>/N-MNIST``,
    ``<root>/NMNIST``, ``<root>/nmnist``): ``[N, n_frames, 2, 34, 34]`` frames (or ``size``),
    10 classes, samples ordered by digit, then file name. ``backend``: see ``read_nmnist_bin``."""
    maker = _FrameMaker(NMNIST_SENSOR, n_frames, mode, bin_us, size)
    if backend == "auto":  # resolved once, not per file
        backend = "tonic" if _tonic_mnist_reader() is not None else "numpy"
    folder = find_layout_folder("nmnist", root, lambda f: all(_split_folder(f, s) for s in _NMNIST_SPLITS),
                                NMNIST_LAYOUT, ("N-MNIST", "NMNIST"))
    parts = []
    for split in ("train", "test"):
        base = _split_folder(folder, split)
        assert base is not None
        missing = [str(d) for d in range(10) if not (base / str(d)).is_dir()]
        if missing:
            raise FileNotFoundError(f"dataset 'nmnist': {base} lacks the digit folder(s) {', '.join(missing)}; "
                                    f"expected {NMNIST_LAYOUT}")
        items = [(f, d) for d in range(10) for f in _files(base / str(d), ".bin")]
        if not items:
            raise FileNotFoundError(f"dataset 'nmnist': no .bin files under {base}/<digit>/; expected {NMNIST_LAYOUT}")
        x = _stack(maker, items, lambda it: maker(read_nmnist_bin(it[0], backend=backend), it[0]))
        parts += [x, torch.tensor([d for _, d in items], dtype=torch.int64)]
    return ImageDataset("nmnist", parts[0], parts[1], parts[2], parts[3], 10)


# --------------------------------------------------------------------------- CIFAR10-DVS loader

CIFAR10_DVS_LAYOUT = "<class>/*.aedat for the classes " + ", ".join(CIFAR10_DVS_CLASSES) + \
    " (the extracted official per-class archives)"


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of indices: per class, ``round(test_fraction * n_c)`` (at least one
    when the class holds two or more) go to test, drawn by a permutation seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        perm = idx[rng.permutation(len(idx))]
        k = int(round(test_fraction * len(idx)))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        test.append(np.sort(perm[:k]))
        train.append(np.sort(perm[k:]))
    return np.concatenate(train), np.concatenate(test)


def load_cifar10_dvs(root: str | os.PathLike | None = None, *, n_frames: int = 10, mode: str = "binary",
                     size: int | tuple[int, int] | None = None, bin_us: int | None = None,
                     test_fraction: float = 0.1, split_seed: int = 0) -> ImageDataset:
    """CIFAR10-DVS from ``root`` (or ``$SPIKEATTACK_DATA``; also in ``<root>/CIFAR10-DVS``,
    ``<root>/CIFAR10DVS``, ``<root>/cifar10-dvs``): ``[N, n_frames, 2, h, w]`` frames (128x128, or
    ``size``), 10 classes, the seeded stratified 90/10 split of the module docstring."""
    maker = _FrameMaker(DVS128_SENSOR, n_frames, mode, bin_us, size)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    folder = find_layout_folder("cifar10-dvs", root, lambda f: any((f / c).is_dir() for c in CIFAR10_DVS_CLASSES),
                                CIFAR10_DVS_LAYOUT, ("CIFAR10-DVS", "CIFAR10DVS", "cifar10dvs"))
    missing = [c for c in CIFAR10_DVS_CLASSES if not (folder / c).is_dir()]
    if missing:
        raise FileNotFoundError(f"dataset 'cifar10-dvs': {folder} lacks the class folder(s) {', '.join(missing)}; "
                                f"expected {CIFAR10_DVS_LAYOUT}")
    items = [(f, c) for c, name in enumerate(CIFAR10_DVS_CLASSES) for f in _files(folder / name, ".aedat")]
    empty = [name for c, name in enumerate(CIFAR10_DVS_CLASSES) if not any(k == c for _, k in items)]
    if empty:
        where = ", ".join(str(folder / n) for n in empty)
        raise FileNotFoundError(f"dataset 'cifar10-dvs': no .aedat files in {where}; "
                                f"expected {CIFAR10_DVS_LAYOUT}")
    labels = np.array([c for _, c in items], dtype=np.int64)
    parts = []
    for idx in stratified_split(labels, test_fraction, split_seed):  # train, then test; each file read once
        chosen = [items[i] for i in idx]
        parts += [_stack(maker, chosen, lambda it: maker(read_aedat2(it[0]), it[0])), torch.from_numpy(labels[idx])]
    return ImageDataset("cifar10-dvs", parts[0], parts[1], parts[2], parts[3], 10)


# --------------------------------------------------------------------------- DVS Gesture loader

GESTURE_LISTS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}
DVS_GESTURE_LAYOUT = ("a folder (the official DvsGesture) holding trials_to_train.txt, trials_to_test.txt and, for "
                      "each file they name, userXX_<lighting>.aedat with userXX_<lighting>_labels.csv beside it")


def _trial_names(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    return [n for n in names if n]


def _gesture_samples(folder: Path, names: Iterable[str]) -> list[tuple[Path, np.ndarray]]:
    out = []
    for name in names:
        aedat = folder / name
        labels = aedat.with_name(f"{aedat.stem}_labels.csv")
        for needed in (aedat, labels):
            if not needed.is_file():
                raise FileNotFoundError(f"dataset 'dvs-gesture': {needed} is missing (named in "
                                        f"trials_to_*.txt); expected {DVS_GESTURE_LAYOUT}")
        out.append((aedat, read_gesture_labels(labels)))
    return out


def load_dvs_gesture(root: str | os.PathLike | None = None, *, n_frames: int = 16, mode: str = "binary",
                     size: int | tuple[int, int] | None = None, bin_us: int | None = None) -> ImageDataset:
    """DVS Gesture from ``root`` (or ``$SPIKEATTACK_DATA``; also in ``<root>/DvsGesture``,
    ``<root>/DVSGesture``, ``<root>/dvs-gesture``): one sample per labelled interval,
    ``[N, n_frames, 2, h, w]`` frames (128x128, or ``size``), 11 classes, the official split."""
    maker = _FrameMaker(DVS128_SENSOR, n_frames, mode, bin_us, size)
    folder = find_layout_folder("dvs-gesture", root, lambda f: all((f / n).is_file() for n in GESTURE_LISTS.values()),
                                DVS_GESTURE_LAYOUT, ("DvsGesture", "DVSGesture", "DVS Gesture dataset/DvsGesture"))
    parts = []
    for split in ("train", "test"):
        samples = _gesture_samples(folder, _trial_names(folder / GESTURE_LISTS[split]))
        xs, ys = [], []
        for aedat, labels in samples:  # one file at a time: only its frames are kept
            events = read_aedat31(aedat)
            order = np.argsort(events.t, kind="stable")
            t_sorted = events.t[order]
            frames = maker.empty(len(labels))
            for i, (cls, start, end) in enumerate(labels):
                lo, hi = np.searchsorted(t_sorted, [start, end], side="left")
                frames[i] = maker(events[order[lo:hi]], aedat, t_start=int(start), t_end=int(end))
            xs.append(frames)
            ys.append(torch.from_numpy(labels[:, 0] - 1))
        if not xs or sum(len(y) for y in ys) == 0:
            raise FileNotFoundError(f"dataset 'dvs-gesture': {folder / GESTURE_LISTS[split]} names no file with a "
                                    f"labelled gesture; expected {DVS_GESTURE_LAYOUT}")
        parts += [torch.cat(xs), torch.cat(ys)]
    return ImageDataset("dvs-gesture", parts[0], parts[1], parts[2], parts[3], DVS_GESTURE_CLASSES)

"""Event streams ``(x, y, t, p)`` and their explicit binning into frames ``[T, 2, H, W]``.

An event is one pixel's report of a brightness change: column ``x``, row ``y`` (0-based, row 0
at the top of the frame), timestamp ``t`` in microseconds (int64) and polarity ``p`` (1 = ON,
brightness up; 0 = OFF, brightness down). Frames put OFF events in channel 0 and ON events in
channel 1.

Binning is always explicit (``bin_events``):

- ``n_frames=T``: the time window ``[t_start, t_end)`` is cut into T bins of equal duration;
  an event at time t goes to bin ``floor((t - t_start) * T / (t_end - t_start))`` (integer
  arithmetic, so an event exactly on a bin edge lands in the later bin, and in exactly one);
- ``bin_us=D``: bins of D microseconds from ``t_start``: bin ``floor((t - t_start) / D)``, and
  ``T = ceil((t_end - t_start) / D)`` bins (the last one is shorter when the window is not a
  multiple of D; with the default window the last bin simply extends past the last event).

The window defaults to ``[first event, last event + 1)``; events outside an explicit window are
dropped. ``mode="binary"``: a bool frame element is True when its pixel fired at least once in the
bin with that polarity (a spike frame); ``mode="count"``: int16 event counts (saturating at
32,767, which no DVS pixel reaches in a realistic bin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .base import as_count

MODES = ("binary", "count")
INT16_MAX = 32767


def _check_mode(mode: object) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    return mode


def _positive_int(value: object, name: str) -> int:
    return as_count(value, name)


def check_sensor_size(sensor_size: object) -> tuple[int, int]:
    """``(H, W)`` of positive ints, or ``ValueError`` naming ``sensor_size``."""
    try:
        h, w = sensor_size  # type: ignore[misc]
        size = (_positive_int(h, "sensor_size"), _positive_int(w, "sensor_size"))
    except (TypeError, ValueError):
        raise ValueError(f"sensor_size: expected (height, width) of positive integers, got {sensor_size!r}") from None
    return size


@dataclass(eq=False)
class EventStream:
    """One recording's events as four equal-length numpy arrays.

    ``x``, ``y``: int16 pixel column / row; ``t``: int64 microseconds; ``p``: uint8 polarity
    (1 = ON, 0 = OFF). Arrays are converted on construction (``ValueError`` for unequal lengths,
    non-integer values or a polarity outside {0, 1}). Order is the recording's (usually sorted by
    time); nothing here depends on it. ``a == b`` compares the events exactly.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("x", "y", "t", "p"):
            a = np.asarray(getattr(self, name))
            if a.ndim != 1:
                raise ValueError(f"{name}: expected a 1-D array of events, got shape {a.shape}")
            if a.size and not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
                raise ValueError(f"{name}: expected integer values, got dtype {a.dtype}")
            arrays[name] = a
        lengths = {name: len(a) for name, a in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"events: x, y, t and p must have one length each, got {lengths}")
        p = arrays["p"]
        if p.size and (int(p.min()) < 0 or int(p.max()) > 1):
            raise ValueError(f"p: polarity must be 0 (OFF) or 1 (ON), got values in [{int(p.min())}, {int(p.max())}]")
        for name in ("x", "y"):
            a = arrays[name]
            if a.size and (int(a.min()) < -32768 or int(a.max()) > INT16_MAX):
                raise ValueError(f"{name}: coordinates must fit in int16, got range [{int(a.min())}, {int(a.max())}]")
        self.x = arrays["x"].astype(np.int16, copy=False)
        self.y = arrays["y"].astype(np.int16, copy=False)
        self.t = arrays["t"].astype(np.int64, copy=False)
        self.p = arrays["p"].astype(np.uint8, copy=False)

    @classmethod
    def empty(cls) -> EventStream:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z)

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, index: Any) -> EventStream:
        """A sub-stream: ``index`` is a slice, a boolean mask or an index array."""
        return EventStream(self.x[index], self.y[index], self.t[index], self.p[index])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventStream):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n)) for n in ("x", "y", "t", "p"))

    def __repr__(self) -> str:
        span = f", t in [{int(self.t.min())}, {int(self.t.max())}] us" if len(self) else ""
        return f"EventStream({len(self)} events{span})"

    def sorted(self) -> EventStream:
        """The events in time order (stable: simultaneous events keep their order)."""
        return self[np.argsort(self.t, kind="stable")]


def _window(t: np.ndarray, t_start: int | None, t_end: int | None) -> tuple[int, int]:
    for name, value in (("t_start", t_start), ("t_end", t_end)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise ValueError(f"{name}: expected an integer timestamp in microseconds, got {value!r}")
    start = int(t_start) if t_start is not None else (int(t.min()) if t.size else 0)
    end = int(t_end) if t_end is not None else (max(int(t.max()) + 1, start) if t.size else start)
    if t_end is not None and end <= start:
        raise ValueError(f"t_end: expected t_end > t_start, got t_start={start}, t_end={end}")
    return start, end


def bin_indices(t: np.ndarray, *, n_frames: int | None, bin_us: int | None, t_start: int, t_end: int
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin index of each timestamp and the number of bins T: ``(keep mask, bins of kept events, T)``.
    Arguments are assumed checked (see ``bin_events``)."""
    t = np.asarray(t, dtype=np.int64)
    keep = (t >= t_start) & (t < t_end)
    rel = t[keep] - t_start
    duration = t_end - t_start
    if n_frames is not None:
        frames = n_frames
        # (t - t0) * T // duration, exact in integers: an event on an edge goes to exactly one bin
        bins = (rel * frames) // duration if duration > 0 else np.zeros_like(rel)
    else:
        assert bin_us is not None
        frames = -(-duration // bin_us)  # ceil
        bins = rel // bin_us
    return keep, bins, int(frames)


def bin_events(events: EventStream, sensor_size: tuple[int, int], *, n_frames: int | None = None,
               bin_us: int | None = None, mode: str = "binary", t_start: int | None = None,
               t_end: int | None = None) -> torch.Tensor:
    """Frames ``[T, 2, H, W]`` of ``events`` (channel 0 OFF, channel 1 ON): bool for
    ``mode="binary"`` (did the pixel fire in the bin), int16 counts for ``mode="count"``.

    Exactly one of ``n_frames`` (T equal bins over the window) and ``bin_us`` (bins of that many
    microseconds) must be given. The window ``[t_start, t_end)`` defaults to the events' span;
    events outside it are dropped (see the module docstring for the exact bin rule). An event
    outside ``sensor_size = (H, W)`` is a ``ValueError`` naming ``sensor_size``.
    """
    if not isinstance(events, EventStream):
        raise ValueError(f"events: expected an EventStream, got {type(events).__name__}")
    mode = _check_mode(mode)
    h, w = check_sensor_size(sensor_size)
    if (n_frames is None) == (bin_us is None):
        raise ValueError(f"n_frames, bin_us: give exactly one of n_frames (number of frames) and bin_us "
                         f"(bin duration in microseconds), got n_frames={n_frames!r}, bin_us={bin_us!r}")
    if n_frames is not None:
        n_frames = _positive_int(n_frames, "n_frames")
    if bin_us is not None:
        bin_us = _positive_int(bin_us, "bin_us")
    start, end = _window(events.t, t_start, t_end)
    keep, bins, frames = bin_indices(events.t, n_frames=n_frames, bin_us=bin_us, t_start=start, t_end=end)
    x, y, p = events.x[keep].astype(np.int64), events.y[keep].astype(np.int64), events.p[keep].astype(np.int64)
    if x.size and (x.min() < 0 or y.min() < 0 or x.max() >= w or y.max() >= h):
        raise ValueError(f"sensor_size: events at x in [{int(x.min())}, {int(x.max())}], y in "
                         f"[{int(y.min())}, {int(y.max())}] do not fit sensor_size (H, W) = ({h}, {w})")
    return _frames_from_indices(((bins * 2 + p) * h + y) * w + x, frames * 2 * h * w, mode).view(frames, 2, h, w)


def _frames_from_indices(flat: np.ndarray, size: int, mode: str) -> torch.Tensor:
    """Flat frame tensor of ``size`` elements from the flat element index of every event."""
    if mode == "binary":
        out = np.zeros(size, dtype=np.bool_)
        out[flat] = True
        return torch.from_numpy(out)
    counts = np.bincount(flat, minlength=size)
    return torch.from_numpy(np.minimum(counts, INT16_MAX).astype(np.int16))


def downsample_events(events: EventStream, sensor_size: tuple[int, int], size: tuple[int, int]) -> EventStream:
    """Map every event to a ``size = (h, w)`` grid: pixel ``x`` -> ``floor(x * w / W)`` (rows the
    same). Binning the result sums the counts over blocks of sensor pixels; when W is not a
    multiple of w the blocks differ by at most one pixel (128 -> 42: blocks of 3 or 4 pixels)."""
    H, W = check_sensor_size(sensor_size)
    h, w = check_sensor_size(size)
    if h > H or w > W:
        raise ValueError(f"size: expected at most the sensor size ({H}, {W}) (it only downsamples), got ({h}, {w})")
    x = (events.x.astype(np.int64) * w) // W
    y = (events.y.astype(np.int64) * h) // H
    return EventStream(x, y, events.t, events.p)


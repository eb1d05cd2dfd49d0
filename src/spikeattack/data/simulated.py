"""Embedded neuromorphic datasets: event streams simulated from still images (no download).

N-MNIST was recorded by moving an ATIS sensor on a pan-tilt unit through three saccades along a
triangle in front of a monitor showing MNIST digits (Orchard et al. 2015). ``simulate_saccade_events``
does the same in software, vectorised over samples and pixels (numpy), deterministic per seed:

1. Motion. The image (intensities in [0, 1], black background) is placed in the middle of a canvas
   ``margin`` pixels larger on every side and translated along a triangle with vertices
   ``(-a, +a), (+a, +a), (0, -a)`` pixels (x right, y down; ``a = amplitude``, by default
   ``margin``: the image sweeps the whole margin, as MNIST's 28x28 digits sweep N-MNIST's 34x34
   frame): saccade k moves linearly from vertex k mod 3 to vertex k+1 mod 3, so three saccades
   close the triangle. Each saccade lasts ``duration_us / n_saccades`` and is sampled at
   ``steps_per_saccade`` sub-steps; the translated image is resampled with bilinear
   interpolation (sub-pixel shifts, zero outside).
2. DVS pixel model. Each pixel keeps the log-intensity ``L = log(I + eps)`` at which it last
   fired (initially the first view's). Whenever ``L`` has risen (fallen) by a contrast threshold
   since then, it emits an ON (OFF) event and moves its reference by one threshold -- several
   events in one sub-step when the change spans several thresholds. Event times are linearly
   interpolated between sub-steps (the moment ``L`` crossed the level), floored to microseconds.
   Thresholds differ per pixel, per polarity and per sample: ``contrast_threshold * (1 +
   threshold_jitter * N(0, 1))``, at least a quarter of the nominal value (sensor mismatch).
3. Noise. Every pixel also fires background events at ``noise_rate_hz`` (Poisson, uniform
   times, random polarity); they do not move the pixel's reference.

Defaults: ``margin=2`` (8x8 digits -> 12x12 frames, 14x14 Fashion-MNIST -> 18x18),
``n_saccades=3``, ``duration_us=300_000`` (3 x 100 ms as N-MNIST), ``steps_per_saccade=16``,
``contrast_threshold=0.15``, ``threshold_jitter=0.1``, ``noise_rate_hz=1.0``, ``eps=0.1``,
``amplitude=None`` (= margin). The motion is the same for every image; the randomness
(thresholds, noise) comes from ``numpy.random.default_rng([seed, stream, chunk])`` for consecutive
chunks of 256 images, so the same images and seed always give the same events (an image's draws
depend on its chunk: simulating a subset of the images gives other noise). A sklearn digit yields
about 3,300 events (about 45 of them noise). All 1,797 digits take about 0.5 s as frames
(``simulate_saccade_frames``), about 2 s as per-sample ``EventStream`` objects.

Datasets (frames ``[N, T, 2, H + 2 margin, W + 2 margin]``, channel 0 OFF, channel 1 ON; T equal
bins over ``[0, duration_us)``; bool for ``mode="binary"``, int16 counts for ``mode="count"``;
nothing is cached to disk):

- ``load_nmnist_sim()`` -- ``nmnist-sim``: the 1,797 scikit-learn digits (8x8, in [0, 1]) with the
  fixed stratified split of ``load_digits_dataset`` (1,347 train / 450 test), 12x12 frames.
- ``load_fmnist_dvs_sim(source)`` -- ``fmnist-dvs-sim``: the Fashion-MNIST ``source`` (as
  ``load_dataset("fashion-mnist", root)`` finds it), a seeded class-stratified subset
  (default 10,000 train / 2,000 test: 1,000 / 200 per class; ``None`` keeps a split whole),
  area-averaged from 28x28 to 14x14 first so that it trains on a CPU, 18x18 frames (the default
  subset: about 6 s to simulate, 62 MB of binary frames at T = 8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import ImageDataset, as_count
from .events import EventStream, _check_mode, _frames_from_indices, _positive_int

CHUNK = 256  # images simulated together (bounds memory; part of the seeding scheme)


@dataclass(frozen=True)
class SaccadeParams:
    """The simulator's parameters (see the module docstring)."""

    margin: int = 2
    n_saccades: int = 3
    duration_us: int = 300_000
    steps_per_saccade: int = 16
    contrast_threshold: float = 0.15
    threshold_jitter: float = 0.1
    noise_rate_hz: float = 1.0
    eps: float = 0.1
    amplitude: float | None = None

    def __post_init__(self) -> None:
        for name in ("n_saccades", "duration_us", "steps_per_saccade"):
            _positive_int(getattr(self, name), name)
        margin = self.margin
        if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 0:
            raise ValueError(f"margin: expected an integer >= 0, got {margin!r}")
        for name, low, open_low in (("contrast_threshold", 0.0, True), ("threshold_jitter", 0.0, False),
                                    ("noise_rate_hz", 0.0, False), ("eps", 0.0, True)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not np.isfinite(v) \
                    or v < low or (open_low and v == low):
                raise ValueError(f"{name}: expected a finite number {'>' if open_low else '>='} {low}, got {v!r}")
        amp = self.amplitude
        if amp is not None and (isinstance(amp, bool) or not isinstance(amp, (int, float, np.floating, np.integer))
                                or not np.isfinite(amp) or amp < 0):
            raise ValueError(f"amplitude: expected None or a finite number >= 0, got {amp!r}")
        if self.duration_us < self.n_saccades * self.steps_per_saccade:
            raise ValueError(f"duration_us: expected at least one microsecond per sub-step "
                             f"({self.n_saccades * self.steps_per_saccade}), got {self.duration_us}")

    @property
    def steps(self) -> int:
        return self.n_saccades * self.steps_per_saccade


def saccade_path(params: SaccadeParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dy, t_us)`` at the ``steps + 1`` sub-step boundaries: the triangle walk."""
    a = float(params.margin if params.amplitude is None else params.amplitude)
    vertices = np.array([(-a, a), (a, a), (0.0, -a)])
    s = np.arange(params.steps + 1)
    k = np.minimum(s // params.steps_per_saccade, params.n_saccades - 1)
    frac = (s - k * params.steps_per_saccade) / params.steps_per_saccade
    start, end = vertices[k % 3], vertices[(k + 1) % 3]
    pos = start + frac[:, None] * (end - start)
    t = (s * params.duration_us) // params.steps
    return pos[:, 0], pos[:, 1], t.astype(np.int64)


def _shift(canvas: np.ndarray, a: int, b: int) -> np.ndarray:
    """``out[..., Y, X] = canvas[..., Y - b, X - a]``, zero where that falls outside."""
    _, h, w = canvas.shape
    out = np.zeros_like(canvas)
    if abs(a) >= w or abs(b) >= h:
        return out
    out[:, max(b, 0):h + min(b, 0), max(a, 0):w + min(a, 0)] = \
        canvas[:, max(-b, 0):h - max(b, 0), max(-a, 0):w - max(a, 0)]
    return out


def translate(canvas: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``canvas [n, H, W]`` moved by ``(dx, dy)`` pixels (x right, y down), bilinear, zero fill."""
    ix, iy = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = float(dx - ix), float(dy - iy)
    out = (1 - fx) * (1 - fy) * _shift(canvas, ix, iy)
    if fx:
        out += fx * (1 - fy) * _shift(canvas, ix + 1, iy)
    if fy:
        out += (1 - fx) * fy * _shift(canvas, ix, iy + 1)
    if fx and fy:
        out += fx * fy * _shift(canvas, ix + 1, iy + 1)
    return out


def _crossings(count: np.ndarray, sign: float, ref: np.ndarray, theta: np.ndarray, prev: np.ndarray,
               cur: np.ndarray, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel index and time of every threshold crossing in one sub-step."""
    idx = np.flatnonzero(count)
    if not idx.size:
        return idx, idx.astype(np.int64)
    c = count.ravel()[idx]
    rep = np.repeat(idx, c)
    k = np.arange(len(rep)) - np.repeat(np.cumsum(c) - c, c) + 1
    level = ref.ravel()[rep] + sign * k * theta.ravel()[rep]
    lp, lc = prev.ravel()[rep], cur.ravel()[rep]
    denom = lc - lp
    frac = np.where(denom != 0, (level - lp) / np.where(denom != 0, denom, 1), 1.0)
    dt = t1 - t0
    offset = np.minimum(np.floor(np.clip(frac, 0.0, 1.0) * dt).astype(np.int64), dt - 1)
    return rep, t0 + offset


def _simulate_chunk(images: np.ndarray, params: SaccadeParams, rng: np.random.Generator
                    ) -> tuple[np.ndarray, ...]:
    """Events of ``images [n, H, W]``: flat arrays ``(sample, x, y, t, p)`` (not sorted)."""
    n, h, w = images.shape
    m = params.margin
    hc, wc = h + 2 * m, w + 2 * m
    canvas = np.zeros((n, hc, wc), dtype=np.float32)
    canvas[:, m:m + h, m:m + w] = images
    dxs, dys, times = saccade_path(params)
    thr = np.float32(params.contrast_threshold)
    thetas = [np.maximum(thr * (1 + np.float32(params.threshold_jitter) *
                                rng.standard_normal((n, hc, wc), dtype=np.float32)), thr / 4) for _ in range(2)]
    eps = np.float32(params.eps)
    prev = np.log(translate(canvas, dxs[0], dys[0]) + eps)
    ref = prev.copy()
    pix_list, t_list, p_list = [], [], []
    for s in range(1, params.steps + 1):
        cur = np.log(translate(canvas, dxs[s], dys[s]) + eps)
        d = cur - ref
        n_on = np.floor(np.maximum(d, 0) / thetas[1]).astype(np.int64)
        n_off = np.floor(np.maximum(-d, 0) / thetas[0]).astype(np.int64)
        for count, sign, pol in ((n_off, -1.0, 0), (n_on, 1.0, 1)):
            pix, t = _crossings(count, sign, ref, thetas[pol], prev, cur, int(times[s - 1]), int(times[s]))
            if pix.size:
                pix_list.append(pix)
                t_list.append(t)
                p_list.append(np.full(pix.size, pol, dtype=np.uint8))
        ref += n_on * thetas[1] - n_off * thetas[0]
        prev = cur
    if params.noise_rate_hz > 0:
        lam = params.noise_rate_hz * params.duration_us * 1e-6
        counts = rng.poisson(lam, size=n * hc * wc)
        pix = np.repeat(np.arange(n * hc * wc), counts)
        pix_list.append(pix)
        t_list.append(rng.integers(0, params.duration_us, size=pix.size, dtype=np.int64))
        p_list.append(rng.integers(0, 2, size=pix.size, dtype=np.uint8))
    pix = np.concatenate(pix_list) if pix_list else np.zeros(0, dtype=np.int64)
    t = np.concatenate(t_list) if t_list else np.zeros(0, dtype=np.int64)
    p = np.concatenate(p_list) if p_list else np.zeros(0, dtype=np.uint8)
    sample, rest = np.divmod(pix, hc * wc)
    y, x = np.divmod(rest, wc)
    return sample, x, y, t, p


def _check_images(images: object) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 3 or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"images: expected an array [N, H, W] of intensities in [0, 1], got shape {arr.shape} "
                         f"and dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
        raise ValueError("images: intensities must lie in [0, 1]")
    return arr


def _check_seed(seed: object, name: str = "seed") -> int:
    return as_count(seed, name, minimum=0)


def _chunks(images: np.ndarray, params: SaccadeParams, seed: int, stream: int):
    for c, start in enumerate(range(0, len(images), CHUNK)):
        rng = np.random.default_rng([seed, stream, c])
        yield start, _simulate_chunk(images[start:start + CHUNK], params, rng)


def simulate_saccade_events(images: np.ndarray, *, seed: int = 0, stream: int = 0,
                            **params: object) -> list[EventStream]:
    """One time-sorted ``EventStream`` per image of ``images [N, H, W]`` (in [0, 1]); sensor size
    ``(H + 2 margin, W + 2 margin)``. ``params``: the fields of ``SaccadeParams`` (margin,
    n_saccades, duration_us, steps_per_saccade, contrast_threshold, threshold_jitter,
    noise_rate_hz, eps). ``stream`` separates independent draws with one seed (train vs test)."""
    arr = _check_images(images)
    cfg = SaccadeParams(**params)  # type: ignore[arg-type]
    seed, stream = _check_seed(seed), _check_seed(stream, "stream")
    out: list[EventStream] = []
    for start, (sample, x, y, t, p) in _chunks(arr, cfg, seed, stream):
        order = np.lexsort((t, sample))  # by sample, then time (stable)
        sample, x, y, t, p = sample[order], x[order], y[order], t[order], p[order]
        bounds = np.searchsorted(sample, np.arange(min(CHUNK, len(arr) - start) + 1))
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            out.append(EventStream(x[lo:hi], y[lo:hi], t[lo:hi], p[lo:hi]))
    return out


def simulate_saccade_frames(images: np.ndarray, *, n_frames: int = 8, mode: str = "binary", seed: int = 0,
                            stream: int = 0, **params: object) -> torch.Tensor:
    """Frames ``[N, n_frames, 2, H + 2 margin, W + 2 margin]`` of the simulated events of
    ``images`` (n_frames equal bins over ``[0, duration_us)``), without building per-sample
    streams: exactly ``bin_events(stream, size, n_frames=n_frames, mode=mode, t_start=0,
    t_end=duration_us)`` of each ``simulate_saccade_events`` stream."""
    arr = _check_images(images)
    cfg = SaccadeParams(**params)  # type: ignore[arg-type]
    n_frames = _positive_int(n_frames, "n_frames")
    mode = _check_mode(mode)
    seed, stream = _check_seed(seed), _check_seed(stream, "stream")
    n, h, w = arr.shape
    hc, wc = h + 2 * cfg.margin, w + 2 * cfg.margin
    per_sample = n_frames * 2 * hc * wc
    out = torch.zeros((n, n_frames, 2, hc, wc), dtype=torch.bool if mode == "binary" else torch.int16)
    flat_out = out.view(n, -1)
    for start, (sample, x, y, t, p) in _chunks(arr, cfg, seed, stream):
        k = min(CHUNK, n - start)
        b = (t * n_frames) // cfg.duration_us
        flat = (((sample * n_frames + b) * 2 + p) * hc + y) * wc + x
        flat_out[start:start + k] = _frames_from_indices(flat, k * per_sample, mode).view(k, per_sample)
    return out


# --------------------------------------------------------------------------- datasets

def load_nmnist_sim(*, n_frames: int = 8, mode: str = "binary", seed: int = 0, **params: object) -> ImageDataset:
    """``nmnist-sim``: simulated saccade events of the scikit-learn digits, ``[N, n_frames, 2, 12, 12]``
    (with the default margin), 10 classes, 1,347 train / 450 test (the split of ``digits``)."""
    from .digits import load_digits_dataset

    digits = load_digits_dataset()
    frames = [simulate_saccade_frames(x[:, 0].numpy(), n_frames=n_frames, mode=mode, seed=seed, stream=i, **params)
              for i, x in enumerate((digits.train_x, digits.test_x))]
    return ImageDataset("nmnist-sim", frames[0], digits.train_y, frames[1], digits.test_y, 10)


def stratified_subset(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset of ``n`` samples whose class shares match ``labels``'
    (per class ``n * n_c / N`` rounded down, the remainder to the classes with the largest
    fractional parts); ``None`` or ``n >= N`` keeps all."""
    total = len(labels)
    if n is None or n >= total:
        return np.arange(total)
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / total
    take = np.floor(exact).astype(np.int64)
    rest = n - int(take.sum())
    take[np.argsort(-(exact - take), kind="stable")[:rest]] += 1
    rng = np.random.default_rng(seed)
    picked = [np.flatnonzero(labels == c)[rng.permutation(int(cnt))[:k]] for c, cnt, k in zip(classes, counts, take)]
    return np.sort(np.concatenate(picked))


def _area_resize(x: torch.Tensor, side: int) -> np.ndarray:
    """uint8 / float images ``[N, 1, H, W]`` -> float32 ``[N, side, side]`` in [0, 1] (area average)."""
    import torch.nn.functional as F

    xf = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    h, w = xf.shape[-2:]
    if (h, w) != (side, side):
        xf = F.avg_pool2d(xf, (h // side, w // side)) if h % side == 0 and w % side == 0 \
            else F.adaptive_avg_pool2d(xf, side)
    return xf[:, 0].clamp_(0.0, 1.0).numpy()


def load_fmnist_dvs_sim(source: ImageDataset, *, n_frames: int = 8, mode: str = "binary",
                        seed: int = 0, n_train: int | None = 10_000, n_test: int | None = 2_000,
                        image_size: int = 14, **params: object) -> ImageDataset:
    """``fmnist-dvs-sim``: simulated saccade events of a seeded stratified subset of ``source``
    (Fashion-MNIST, ``load_dataset("fashion-mnist", root)``), downsampled to ``image_size``
    (14) first: ``[N, n_frames, 2, 18, 18]`` with the default margin, 10 classes."""
    if not isinstance(source, ImageDataset) or source.is_sequence:
        raise ValueError(f"source: expected the Fashion-MNIST ImageDataset, got {type(source).__name__}")
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if v is not None:
            _positive_int(v, name)
    image_size = _positive_int(image_size, "image_size")
    seed = _check_seed(seed)
    if image_size > min(source.input_shape[1:]):
        raise ValueError(f"image_size: expected at most the image side {min(source.input_shape[1:])}, got {image_size}")
    parts = []
    for i, (x, y, n) in enumerate(((source.train_x, source.train_y, n_train), (source.test_x, source.test_y, n_test))):
        idx = torch.from_numpy(stratified_subset(y.numpy(), n, seed + i))
        images = _area_resize(x[idx], image_size)
        parts += [simulate_saccade_frames(images, n_frames=n_frames, mode=mode, seed=seed, stream=i, **params), y[idx]]
    return ImageDataset("fmnist-dvs-sim", parts[0], parts[1], parts[2], parts[3], 10)

"""Event data: binning, the three official readers/loaders (on tiny files written here from the
format specs, independently of the reader code) and the simulated saccade datasets."""

import struct
import sys
import time

import numpy as np
import pytest
import torch

from spikeattack.data import (DATASETS, EventStream, bin_events, load_dataset, read_aedat2, read_aedat31,
                              read_nmnist_bin)
from spikeattack.data.neuromorphic import load_cifar10_dvs, load_dvs_gesture, load_nmnist
from spikeattack.data.simulated import (load_fmnist_dvs_sim, load_nmnist_sim, simulate_saccade_events,
                                        simulate_saccade_frames)

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    monkeypatch.delenv("SPIKEATTACK_DATA", raising=False)


def stream(*events):
    """EventStream from (x, y, t, p) tuples."""
    x, y, t, p = (np.array(v, dtype=np.int64) for v in zip(*events)) if events else ([], [], [], [])
    return EventStream(x, y, t, p)


# --------------------------------------------------------------------------- binning

HAND = stream((0, 0, 0, 1), (1, 0, 10, 0), (0, 0, 20, 1), (0, 0, 25, 1), (2, 1, 39, 0))  # sensor H=2, W=3


def frames_from(entries, shape, dtype=torch.int16):
    out = torch.zeros(shape, dtype=torch.int16)
    for (t, p, y, x), v in entries.items():
        out[t, p, y, x] = v
    return out.to(dtype) if dtype == torch.int16 else out > 0


def test_bin_n_frames_count_and_binary_by_hand():
    # window [0, 40), T=2: bin = t * 2 // 40 -> 0, 0, 1, 1, 1 (t=20 is on the edge: bin 1 only)
    expected = frames_from({(0, 1, 0, 0): 1, (0, 0, 0, 1): 1, (1, 1, 0, 0): 2, (1, 0, 1, 2): 1}, (2, 2, 2, 3))
    count = bin_events(HAND, (2, 3), n_frames=2, mode="count")
    assert count.dtype == torch.int16 and torch.equal(count, expected)
    binary = bin_events(HAND, (2, 3), n_frames=2, mode="binary")
    assert binary.dtype == torch.bool and torch.equal(binary, expected > 0)
    assert int(count.sum()) == len(HAND)


def test_bin_us_by_hand():
    # bins of 10 us: T = ceil(40 / 10) = 4; t=0 -> 0, 10 -> 1, 20 -> 2, 25 -> 2, 39 -> 3
    count = bin_events(HAND, (2, 3), bin_us=10, mode="count")
    expected = frames_from({(0, 1, 0, 0): 1, (1, 0, 0, 1): 1, (2, 1, 0, 0): 2, (3, 0, 1, 2): 1}, (4, 2, 2, 3))
    assert torch.equal(count, expected)
    # bins of 15 us: T = ceil(40 / 15) = 3; 0, 10 -> 0; 20, 25 -> 1; 39 -> 2
    count = bin_events(HAND, (2, 3), bin_us=15, mode="count")
    expected = frames_from({(0, 1, 0, 0): 1, (0, 0, 0, 1): 1, (1, 1, 0, 0): 2, (2, 0, 1, 2): 1}, (3, 2, 2, 3))
    assert torch.equal(count, expected)


def test_events_outside_an_explicit_window_are_dropped():
    # window [10, 30), T=2 of 10 us: t=0 and t=39 dropped; 10 -> 0, 20 -> 1, 25 -> 1
    count = bin_events(HAND, (2, 3), n_frames=2, mode="count", t_start=10, t_end=30)
    expected = frames_from({(0, 0, 0, 1): 1, (1, 1, 0, 0): 2}, (2, 2, 2, 3))
    assert torch.equal(count, expected) and int(count.sum()) == 3
    fixed = bin_events(HAND, (2, 3), bin_us=5, mode="count", t_start=0, t_end=15)  # Liang-style T*bin window
    assert fixed.shape == (3, 2, 2, 3) and int(fixed.sum()) == 2 and fixed[0, 1, 0, 0] == 1 and fixed[2, 0, 0, 1] == 1


def test_every_event_lands_in_exactly_one_bin():
    t = np.arange(100)
    ev = EventStream(np.zeros(100, int), np.zeros(100, int), t, np.ones(100, int))
    per_bin = bin_events(ev, (1, 1), n_frames=3, mode="count")[:, 1, 0, 0]
    # floor(3 t / 100): t = 0..33 -> 0, 34..66 -> 1, 67..99 -> 2
    assert per_bin.tolist() == [34, 33, 33]
    per_bin = bin_events(ev, (1, 1), bin_us=25, mode="count")[:, 1, 0, 0]
    assert per_bin.tolist() == [25, 25, 25, 25]
    many = EventStream(np.zeros(5, int), np.zeros(5, int), np.zeros(5, int), np.ones(5, int))
    assert bin_events(many, (1, 1), n_frames=4, mode="count")[0, 1, 0, 0] == 5  # one instant, one bin


def test_binning_arguments_are_checked():
    with pytest.raises(ValueError, match="mode"):
        bin_events(HAND, (2, 3), n_frames=2, mode="spikes")
    for kwargs in ({}, {"n_frames": 2, "bin_us": 10}):
        with pytest.raises(ValueError, match="n_frames") as info:
            bin_events(HAND, (2, 3), **kwargs)
        assert "bin_us" in str(info.value)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_frames"):
            bin_events(HAND, (2, 3), n_frames=bad)
        with pytest.raises(ValueError, match="bin_us"):
            bin_events(HAND, (2, 3), bin_us=bad)
    for bad in ((2,), (2, 0), "23", None):
        with pytest.raises(ValueError, match="sensor_size"):
            bin_events(HAND, bad, n_frames=2)
    with pytest.raises(ValueError, match="sensor_size"):  # x = 2 does not fit a width of 2
        bin_events(HAND, (2, 2), n_frames=2)
    with pytest.raises(ValueError, match="p"):
        stream((0, 0, 0, 2))
    with pytest.raises(ValueError, match="length"):
        EventStream(np.zeros(2, int), np.zeros(3, int), np.zeros(3, int), np.zeros(3, int))
    with pytest.raises(ValueError, match="integer"):
        EventStream(np.zeros(1), np.zeros(1, int), np.zeros(1, int), np.zeros(1, int))
    empty = bin_events(stream(), (2, 3), n_frames=4)
    assert empty.shape == (4, 2, 2, 3) and not empty.any()


# --------------------------------------------------------------------------- N-MNIST .bin

def nmnist_bytes(events):
    """Orchard's 40-bit layout: x, y, then p in bit 7 of byte 2 and a 23-bit big-endian timestamp."""
    out = bytearray()
    for x, y, t, p in events:
        assert 0 <= t < 2 ** 23
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def test_nmnist_bit_packing_of_one_event():
    assert nmnist_bytes([(33, 0, 2 ** 23 - 1, 1)]) == b"\x21\x00\xff\xff\xff"
    assert nmnist_bytes([(0, 33, 0x123456, 0)]) == b"\x00\x21\x12\x34\x56"
    assert nmnist_bytes([(5, 7, 0x800000 - 0x7FFFFF, 1)]) == b"\x05\x07\x80\x00\x01"


@pytest.mark.parametrize("backend", ["numpy", "tonic", "auto"])
def test_read_nmnist_bin(tmp_path, backend):
    if backend == "tonic":
        pytest.importorskip("tonic")
    events = [(33, 0, 2 ** 23 - 1, 1), (0, 33, 0x123456, 0), (5, 7, 1, 1), (17, 12, 300_000, 0)]
    path = tmp_path / "00001.bin"
    path.write_bytes(b"\x21\x00\xff\xff\xff" + nmnist_bytes(events[1:]))
    ev = read_nmnist_bin(path, backend=backend)
    assert ev == stream(*events)
    assert ev.t.dtype == np.int64 and ev.p.tolist() == [1, 0, 1, 0]
    # Orchard's reader: y = 240 marks a timestamp overflow (+2**13 us for the events after it)
    path.write_bytes(nmnist_bytes([(1, 2, 10, 1), (0, 240, 0, 0), (3, 4, 20, 0)]))
    assert read_nmnist_bin(path, backend=backend) == stream((1, 2, 10, 1), (3, 4, 20 + 2 ** 13, 0))
    path.write_bytes(b"")
    assert len(read_nmnist_bin(path, backend=backend)) == 0


def test_read_nmnist_bin_without_tonic(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tonic", None)  # import tonic -> ImportError
    monkeypatch.setitem(sys.modules, "tonic.io", None)
    path = tmp_path / "a.bin"
    path.write_bytes(nmnist_bytes([(1, 2, 3, 1)]))
    assert read_nmnist_bin(path) == stream((1, 2, 3, 1))
    with pytest.raises(ImportError, match="tonic"):
        read_nmnist_bin(path, backend="tonic")


def test_read_nmnist_bin_truncated(tmp_path):
    path = tmp_path / "cut.bin"
    path.write_bytes(nmnist_bytes([(1, 2, 3, 1), (4, 5, 6, 0)])[:-2])
    with pytest.raises(ValueError, match="truncated") as info:
        read_nmnist_bin(path)
    assert str(path) in str(info.value)


def write_nmnist_tree(base, per_digit):
    """Train/<d>/*.bin and Test/<d>/*.bin; every file's events are derived from (split, digit, index)."""
    expected = {}
    for split in ("Train", "Test"):
        for d in range(10):
            (base / split / str(d)).mkdir(parents=True)
            for i in range(per_digit[split]):
                rng = np.random.default_rng([d, i, split == "Train"])
                n = 20 + d
                ev = [(int(rng.integers(34)), int(rng.integers(34)), int(t), int(rng.integers(2)))
                      for t in np.sort(rng.integers(0, 300_000, n))]
                name = f"{i + 1:05d}.bin"
                (base / split / str(d) / name).write_bytes(nmnist_bytes(ev))
                expected[(split, d, i)] = ev
    return expected


def hand_frames(events, size, n_frames, sensor=(128, 128), t_start=None, t_end=None, binary=True):
    """The documented rule written out: bin = (t - t0) * T // (t1 - t0), pixel -> floor(x * w / W)."""
    out = torch.zeros((n_frames, 2, *size), dtype=torch.int16)
    ts = [e[2] for e in events]
    t0 = min(ts) if t_start is None else t_start
    t1 = max(ts) + 1 if t_end is None else t_end
    for x, y, t, p in events:
        if t0 <= t < t1:
            out[(t - t0) * n_frames // (t1 - t0), p, y * size[0] // sensor[0], x * size[1] // sensor[1]] += 1
    return out > 0 if binary else out


def test_load_nmnist_tree(tmp_path):
    expected = write_nmnist_tree(tmp_path / "N-MNIST", {"Train": 2, "Test": 1})
    data = load_dataset("nmnist", tmp_path, time_bins=3)
    assert data.name == "nmnist" and data.num_classes == 10 and data.timesteps == 3
    assert data.train_x.shape == (20, 3, 2, 34, 34) and data.test_x.shape == (10, 3, 2, 34, 34)
    assert data.train_x.dtype == torch.bool
    assert data.train_y.tolist() == [d for d in range(10) for _ in range(2)] and data.test_y.tolist() == list(range(10))
    for d in range(10):
        for i in range(2):
            want = hand_frames(expected[("Train", d, i)], (34, 34), 3, sensor=(34, 34))
            assert torch.equal(data.train_x[2 * d + i], want)
        assert torch.equal(data.test_x[d], hand_frames(expected[("Test", d, 0)], (34, 34), 3, sensor=(34, 34)))
    assert torch.equal(load_nmnist(tmp_path, n_frames=3, backend="numpy").train_x, data.train_x)
    counts = load_nmnist(tmp_path / "N-MNIST", n_frames=3, mode="count")
    assert counts.train_x.dtype == torch.int16 and torch.equal(counts.train_x > 0, data.train_x)
    assert int(counts.train_x[5].sum()) == len(expected[("Train", 2, 1)])
    # Liang et al.'s setting: bins of a fixed duration from the recording's start
    fixed = load_nmnist(tmp_path / "N-MNIST", n_frames=15, bin_us=5000, mode="count")
    ev = expected[("Test", 4, 0)]
    t0 = ev[0][2]
    assert int(fixed.test_x[4].sum()) == sum(1 for e in ev if e[2] < t0 + 75_000)
    small = load_dataset("nmnist", tmp_path, resize=17, frames="count")
    assert small.train_x.shape == (20, 10, 2, 17, 17)
    assert torch.equal(small.train_x[7], hand_frames(expected[("Train", 3, 1)], (17, 17), 10, (34, 34), binary=False))
    # batches come out time-first for the models
    x, _ = data.split("train")
    assert x.shape == (3, 20, 2, 34, 34) and x.dtype == torch.float32


def test_nmnist_missing_and_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("nmnist", tmp_path / "nowhere")
    message = str(info.value)
    assert "Train/<digit>/*.bin" in message and str(tmp_path / "nowhere") in message and "--data-root" in message
    with pytest.raises(FileNotFoundError, match="SPIKEATTACK_DATA is not set"):
        load_dataset("nmnist")
    write_nmnist_tree(tmp_path, {"Train": 1, "Test": 1})
    bad = tmp_path / "Test" / "3" / "00001.bin"
    bad.write_bytes(bad.read_bytes() + b"\x01\x02")
    with pytest.raises(ValueError, match="truncated") as info:
        load_nmnist(tmp_path, n_frames=2)
    assert str(bad) in str(info.value)
    bad.write_bytes(nmnist_bytes([(34, 0, 5, 1)]))  # x = 34 is off the 34x34 sensor
    with pytest.raises(ValueError, match="sensor") as info:
        load_nmnist(tmp_path, n_frames=2)
    assert str(bad) in str(info.value)
    for f in (tmp_path / "Train" / "7").iterdir():
        f.unlink()
    (tmp_path / "Train" / "7").rmdir()
    with pytest.raises(FileNotFoundError, match="digit folder"):
        load_nmnist(tmp_path, n_frames=2)


# --------------------------------------------------------------------------- AEDAT 2.0 (CIFAR10-DVS)

AEDAT2_HEADER = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
                 b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
                 b"# Timestamps tick is 1 us\r\n# created Mon Jan 01 00:00:00 CST 2017\r\n")


def dvs128_address(x, y, p):
    """jAER DVS128: bit 0 = raw type (0 = ON), bits 1-7 = 127 - x (x is flipped), bits 8-14 = y."""
    return (y << 8) | ((127 - x) << 1) | (1 - p)


def aedat2_bytes(events, extra=()):
    body = b"".join(struct.pack(">II", dvs128_address(x, y, p), t) for x, y, t, p in events)
    return AEDAT2_HEADER + body + b"".join(struct.pack(">II", a, t) for a, t in extra)


def test_dvs128_address_layout_by_hand():
    assert dvs128_address(127, 0, 1) == 0x0000          # x = 127 is raw column 0; ON is raw bit 0 = 0
    assert dvs128_address(0, 127, 0) == 0x7F00 | 0xFE | 1


def test_read_aedat2(tmp_path):
    events = [(0, 0, 5, 1), (127, 127, 6, 0), (64, 3, 1000, 1), (3, 64, 2 ** 32 - 1, 0)]
    path = tmp_path / "cifar10_cat_0.aedat"
    # a sync event (0x8000) is not a pixel event; the last timestamp wraps around 2**32
    path.write_bytes(aedat2_bytes(events, extra=[(0x8000, 7), (dvs128_address(9, 8, 1), 10)]))
    ev = read_aedat2(path)
    assert ev == stream(*events, (9, 8, 2 ** 32 + 10, 1))
    path.write_bytes(aedat2_bytes(events)[:-3])
    with pytest.raises(ValueError, match="truncated") as info:
        read_aedat2(path)
    assert str(path) in str(info.value)
    path.write_bytes(b"#!AER-DAT3.1\r\n#!END-HEADER\r\n")
    with pytest.raises(ValueError, match="version"):
        read_aedat2(path)
    path.write_bytes(struct.pack(">II", 1, 2))
    with pytest.raises(ValueError, match="AER-DAT2.0"):
        read_aedat2(path)


def write_cifar_tree(base, per_class):
    expected = {}
    for c, name in enumerate(CIFAR_CLASSES):
        (base / name).mkdir(parents=True)
        for i in range(per_class):
            rng = np.random.default_rng([c, i])
            n = 10 + 3 * i + c
            ev = [(int(rng.integers(128)), int(rng.integers(128)), int(t), int(rng.integers(2)))
                  for t in np.sort(rng.integers(0, 1_000_000, n))]
            (base / name / f"cifar10_{name}_{i}.aedat").write_bytes(aedat2_bytes(ev))
            expected[(c, i)] = ev
    return expected


def test_load_cifar10_dvs_tree(tmp_path):
    expected = write_cifar_tree(tmp_path / "CIFAR10-DVS", 3)
    data = load_dataset("cifar10-dvs", tmp_path, time_bins=4)
    assert data.name == "cifar10-dvs" and data.num_classes == 10
    assert data.train_x.shape == (20, 4, 2, 42, 42) and data.test_x.shape == (10, 4, 2, 42, 42)  # Liang's 42x42
    # stratified 90/10 split (at least one test file per class): 2 train + 1 test per class
    assert torch.bincount(data.train_y, minlength=10).tolist() == [2] * 10
    assert torch.bincount(data.test_y, minlength=10).tolist() == [1] * 10
    pool = [(x, int(y)) for x, y in zip(torch.cat([data.train_x, data.test_x]), torch.cat([data.train_y, data.test_y]))]
    for (c, i), ev in expected.items():  # every recording is in exactly one split, with its frames
        want = hand_frames(ev, (42, 42), 4)
        assert sum(1 for x, y in pool if y == c and torch.equal(x, want)) == 1
    again = load_cifar10_dvs(tmp_path / "CIFAR10-DVS", n_frames=4, size=42)
    assert torch.equal(again.test_x, data.test_x) and torch.equal(again.train_y, data.train_y)
    other = load_cifar10_dvs(tmp_path / "CIFAR10-DVS", n_frames=4, size=42, split_seed=1)
    assert not torch.equal(other.test_x, data.test_x)
    full = load_cifar10_dvs(tmp_path / "CIFAR10-DVS", n_frames=2, mode="count")
    assert full.train_x.shape[-2:] == (128, 128) and full.train_x.dtype == torch.int16
    assert int(full.train_x.sum() + full.test_x.sum()) == sum(len(e) for e in expected.values())
    with pytest.raises(ValueError, match="resize"):
        load_dataset("cifar10-dvs", tmp_path, resize=129)


def test_cifar10_dvs_missing_class_and_corrupt_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="airplane"):
        load_dataset("cifar10-dvs", tmp_path)
    write_cifar_tree(tmp_path, 2)
    bad = tmp_path / "dog" / "cifar10_dog_1.aedat"
    bad.write_bytes(bad.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated") as info:
        load_cifar10_dvs(tmp_path, n_frames=2)
    assert str(bad) in str(info.value)
    for f in (tmp_path / "ship").iterdir():
        f.unlink()
    (tmp_path / "ship").rmdir()
    with pytest.raises(FileNotFoundError, match="ship"):
        load_cifar10_dvs(tmp_path, n_frames=2)


# --------------------------------------------------------------------------- AEDAT 3.1 (DVS Gesture)

AEDAT31_HEADER = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
                  b"#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n")


def packet(event_type, events_bytes, event_size, number, overflow=0, ts_offset=4):
    header = struct.pack("<hhiiiiii", event_type, 1, event_size, ts_offset, overflow, number, number, number)
    return header + events_bytes


def polarity_packet(events, overflow=0, valid=None):
    """events (x, y, t, p) with t the 31-bit in-packet timestamp; data: bit 0 valid, bit 1 p,
    bits 2-16 y, bits 17-31 x."""
    valid = valid or [1] * len(events)
    body = b"".join(struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | v, t)
                    for (x, y, t, p), v in zip(events, valid))
    return packet(1, body, 8, len(events), overflow)


def test_polarity_event_bits_by_hand():
    data, _ = struct.unpack("<Ii", polarity_packet([(127, 5, 9, 1)])[28:])
    assert data == (127 << 17) + (5 << 2) + 2 + 1


def test_read_aedat31(tmp_path):
    first = [(0, 0, 100, 1), (127, 64, 200, 0), (10, 127, 300, 1)]
    second = [(5, 6, 7, 0), (8, 9, 10, 1)]
    special = packet(0, struct.pack("<Ii", 0xDEADBEEF, 150) * 2, 8, 2)  # eventType 0: skipped
    imu = packet(3, bytes(range(36)), 36, 1)  # a 36-byte non-polarity event: skipped
    path = tmp_path / "user01_fluorescent.aedat"
    path.write_bytes(AEDAT31_HEADER + polarity_packet(first) + special + imu
                     + polarity_packet(second + [(1, 1, 11, 1)], overflow=1, valid=[1, 1, 0]))
    ev = read_aedat31(path)
    assert ev == stream(*first, *[(x, y, 2 ** 31 + t, p) for x, y, t, p in second])
    assert ev.t.dtype == np.int64
    full = path.read_bytes()
    path.write_bytes(full[:-4])
    with pytest.raises(ValueError, match="truncated") as info:
        read_aedat31(path)
    assert str(path) in str(info.value)
    path.write_bytes(full[:len(AEDAT31_HEADER) + 10])
    with pytest.raises(ValueError, match="truncated"):
        read_aedat31(path)
    path.write_bytes(AEDAT31_HEADER.replace(b"#!END-HEADER\r\n", b"") + polarity_packet(first))
    with pytest.raises(ValueError, match="END-HEADER"):
        read_aedat31(path)
    path.write_bytes(AEDAT31_HEADER)
    assert len(read_aedat31(path)) == 0


def write_gesture_tree(base, files):
    """files: name -> (split, [(class, start, end)], events); labels csv and trial lists beside."""
    base.mkdir(parents=True, exist_ok=True)
    for name, (_, labels, events) in files.items():
        half = len(events) // 2
        (base / name).write_bytes(AEDAT31_HEADER + polarity_packet(events[:half]) + polarity_packet(events[half:]))
        csv = "class,startTime_usec,endTime_usec\r\n" + "".join(f"{c},{s},{e}\r\n" for c, s, e in labels)
        (base / name.replace(".aedat", "_labels.csv")).write_text(csv)
    for split in ("train", "test"):
        names = [n for n, (s, _, _) in files.items() if s == split]
        (base / f"trials_to_{split}.txt").write_text("\n".join(names) + "\n\n")


def gesture_files():
    rng = np.random.default_rng(0)

    def events(n):
        return [(int(rng.integers(128)), int(rng.integers(128)), int(t), int(rng.integers(2)))
                for t in np.sort(rng.integers(0, 4_000_000, n))]

    return {
        "user01_fluorescent.aedat": ("train", [(1, 500_000, 1_500_000), (11, 2_000_000, 3_500_000)], events(300)),
        "user02_lab.aedat": ("train", [(5, 100_000, 900_000)], events(200)),
        "user24_led.aedat": ("test", [(3, 1_000_000, 2_000_000), (2, 2_000_000, 3_000_000)], events(250)),
    }


def test_load_dvs_gesture_tree(tmp_path):
    files = gesture_files()
    write_gesture_tree(tmp_path / "DvsGesture", files)
    data = load_dataset("dvs-gesture", tmp_path, frames="count", time_bins=5)
    assert data.name == "dvs-gesture" and data.num_classes == 11
    assert data.train_x.shape == (3, 5, 2, 32, 32) and data.test_x.shape == (2, 5, 2, 32, 32)  # Liang's 32x32
    assert data.train_y.tolist() == [0, 10, 4] and data.test_y.tolist() == [2, 1]
    want = []
    for name in ("user01_fluorescent.aedat", "user02_lab.aedat", "user24_led.aedat"):
        _, labels, ev = files[name]
        want += [hand_frames(ev, (32, 32), 5, t_start=s, t_end=e, binary=False) for _, s, e in labels]
    assert torch.equal(data.train_x, torch.stack(want[:3])) and torch.equal(data.test_x, torch.stack(want[3:]))
    binary = load_dvs_gesture(tmp_path / "DvsGesture", n_frames=5, size=32)
    assert binary.train_x.dtype == torch.bool and torch.equal(binary.train_x, data.train_x > 0)
    fixed = load_dvs_gesture(tmp_path / "DvsGesture", n_frames=4, bin_us=100_000, mode="count")  # 4 x 100 ms
    _, labels, ev = files["user24_led.aedat"]
    assert fixed.test_x.shape == (2, 4, 2, 128, 128)
    assert int(fixed.test_x[1].sum()) == sum(1 for e in ev if 2_000_000 <= e[2] < 2_400_000)
    (tmp_path / "DvsGesture" / "user02_lab_labels.csv").unlink()
    with pytest.raises(FileNotFoundError, match="user02_lab_labels.csv"):
        load_dvs_gesture(tmp_path, n_frames=2)
    with pytest.raises(FileNotFoundError, match="trials_to_train.txt"):
        load_dvs_gesture(tmp_path / "nowhere", n_frames=2)


def test_gesture_bad_labels_file(tmp_path):
    files = gesture_files()
    write_gesture_tree(tmp_path, files)
    csv = tmp_path / "user02_lab_labels.csv"
    csv.write_text("class,startTime_usec,endTime_usec\n12,0,10\n")
    with pytest.raises(ValueError, match="class 12") as info:
        load_dvs_gesture(tmp_path, n_frames=2)
    assert str(csv) in str(info.value)
    csv.write_text("class,startTime_usec,endTime_usec\n1;0;10\n")
    with pytest.raises(ValueError, match="startTime_usec"):
        load_dvs_gesture(tmp_path, n_frames=2)


# --------------------------------------------------------------------------- simulated datasets

@pytest.fixture(scope="module")
def nmnist_sim():
    start = time.perf_counter()
    data = load_dataset("nmnist-sim")
    return data, time.perf_counter() - start


def test_nmnist_sim_shapes_balance_and_speed(nmnist_sim):
    data, seconds = nmnist_sim
    digits = load_dataset("digits")
    assert "nmnist-sim" in DATASETS and data.name == "nmnist-sim" and data.num_classes == 10
    assert data.train_x.shape == (1347, 8, 2, 12, 12) and data.test_x.shape == (450, 8, 2, 12, 12)
    assert data.train_x.dtype == torch.bool and data.timesteps == 8 and data.input_shape == (2, 12, 12)
    assert torch.equal(data.train_y, digits.train_y) and torch.equal(data.test_y, digits.test_y)  # same classes
    on, off = data.train_x[:, :, 1].flatten(1).any(1), data.train_x[:, :, 0].flatten(1).any(1)
    assert bool(on.all()) and bool(off.all())  # every sample has events of both polarities
    assert 0.05 < float(data.train_x.float().mean()) < 0.6
    assert seconds < 10.0  # all 1,797 digits (the brief: well under 10 s)


def test_nmnist_sim_is_deterministic_per_seed(nmnist_sim):
    data, _ = nmnist_sim
    again = load_nmnist_sim(seed=0)
    assert torch.equal(again.train_x, data.train_x) and torch.equal(again.test_x, data.test_x)
    other = load_nmnist_sim(seed=1)
    assert not torch.equal(other.train_x, data.train_x)
    assert (other.train_x != data.train_x).float().mean() < 0.2  # same digits, other sensor noise/mismatch
    counts = load_dataset("nmnist-sim", frames="count", time_bins=4)
    assert counts.train_x.dtype == torch.int16 and counts.train_x.shape == (1347, 4, 2, 12, 12)
    assert int(counts.train_x.min()) >= 0 and int(counts.train_x.max()) > 1


def test_simulated_events_match_frames_and_physics():
    from spikeattack.data.digits import load_digits_dataset

    images = load_digits_dataset().test_x[:20, 0].numpy()
    streams = simulate_saccade_events(images, seed=3)
    assert len(streams) == 20
    for ev in streams:
        assert np.all(np.diff(ev.t) >= 0) and ev.t.min() >= 0 and ev.t.max() < 300_000
        assert ev.x.max() < 12 and ev.y.max() < 12 and set(np.unique(ev.p)) == {0, 1}
    frames = simulate_saccade_frames(images, n_frames=6, mode="count", seed=3)
    want = torch.stack([bin_events(ev, (12, 12), n_frames=6, mode="count", t_start=0, t_end=300_000) for ev in streams])
    assert torch.equal(frames, want)
    # without noise a blank image is silent, and a uniform square fires only where edges move
    blank = simulate_saccade_events(np.zeros((2, 8, 8)), noise_rate_hz=0.0)
    assert [len(e) for e in blank] == [0, 0]
    square = simulate_saccade_events(np.ones((1, 8, 8)), noise_rate_hz=0.0, threshold_jitter=0.0)[0]
    assert len(square) > 0 and set(np.unique(square.p)) == {0, 1}
    assert square == simulate_saccade_events(np.ones((1, 8, 8)), noise_rate_hz=0.0, threshold_jitter=0.0, seed=9)[0]
    noisy = simulate_saccade_events(np.zeros((1, 8, 8)), noise_rate_hz=100.0)[0]  # 144 px x 30 expected
    assert 3000 < len(noisy) < 5600
    for bad, name in (({"contrast_threshold": 0}, "contrast_threshold"), ({"margin": -1}, "margin"),
                      ({"n_saccades": 0}, "n_saccades"), ({"duration_us": 10}, "duration_us")):
        with pytest.raises(ValueError, match=name):
            simulate_saccade_events(images[:1], **bad)
    with pytest.raises(ValueError, match="images"):
        simulate_saccade_events(images[:1] * 2)
    with pytest.raises(ValueError, match="seed"):
        simulate_saccade_events(images[:1], seed=-1)


def write_fashion(folder, n_train, n_test):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())


def test_fmnist_dvs_sim_from_idx_files(tmp_path):
    write_fashion(tmp_path, 40, 20)
    data = load_fmnist_dvs_sim(load_dataset("fashion-mnist", tmp_path), n_train=20, n_test=10, n_frames=4)
    assert data.name == "fmnist-dvs-sim" and data.train_x.shape == (20, 4, 2, 18, 18)
    assert data.test_x.shape == (10, 4, 2, 18, 18) and data.train_x.dtype == torch.bool
    assert torch.bincount(data.train_y, minlength=10).tolist() == [2] * 10  # balanced like the source
    assert torch.bincount(data.test_y, minlength=10).tolist() == [1] * 10
    again = load_fmnist_dvs_sim(load_dataset("fashion-mnist", tmp_path), n_train=20, n_test=10, n_frames=4)
    assert torch.equal(again.train_x, data.train_x) and torch.equal(again.test_y, data.test_y)
    assert not torch.equal(load_fmnist_dvs_sim(load_dataset("fashion-mnist", tmp_path), n_train=20, n_test=10, n_frames=4, seed=1).train_x,
                           data.train_x)
    whole = load_dataset("fmnist-dvs-sim", tmp_path)  # default 10,000 / 2,000, capped at the files' 40 / 20
    assert whole.train_x.shape == (40, 8, 2, 18, 18) and whole.test_x.shape == (20, 8, 2, 18, 18)


def test_registry_arguments_for_event_data(tmp_path):
    with pytest.raises(ValueError, match="resize"):
        load_dataset("nmnist-sim", resize=8)
    with pytest.raises(ValueError, match="frames"):
        load_dataset("nmnist-sim", frames="spikes")
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="time_bins"):
            load_dataset("nmnist-sim", time_bins=bad)
    with pytest.raises(ValueError, match="frames"):
        load_dataset("digits", frames="binary")
    with pytest.raises(ValueError, match="time_bins"):
        load_dataset("digits", time_bins=4)
    write_nmnist_tree(tmp_path, {"Train": 1, "Test": 1})
    with pytest.raises(ValueError, match="resize"):
        load_dataset("nmnist", tmp_path, resize=35)
    assert tuple(DATASETS)[-5:] == ("nmnist", "cifar10-dvs", "dvs-gesture", "nmnist-sim", "fmnist-dvs-sim")


# --------------------------------------------------------------------------- learnability

def test_small_cnn_learns_nmnist_sim(nmnist_sim):
    """The small LIF CNN of the attack tests learns the simulated events: far above chance (10%).

    Measured (seeds 0, 1, 2): 10 epochs 72.4 / 76.7 / 72.2 % here, 62.9 % (seed 0) on a fresh
    install with other library versions; 3 epochs only 41 / 22 / 54 % (22 batches an epoch are
    too few for this 8-16-32 network on moving-digit events). The assertion is what learning
    guarantees with room for such spread — at least 4x chance — not a number under one run."""
    from spikeattack.models import ModelConfig, build_model
    from spikeattack.training import TrainConfig, train_model

    data, _ = nmnist_sim
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="small_cnn", in_channels=2, input_size=(12, 12), num_classes=10,
                                    encoding="spikes", timesteps=8,
                                    arch_options={"channels": (8, 16), "hidden": 32}))
    history = train_model(model, data, TrainConfig(epochs=10, lr=5e-3), progress=False)
    assert history.final_test_accuracy > 0.40

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from spikeattack.data import DATASETS, ImageDataset, iterate_batches, load_dataset

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FASHION_DEBIAN = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    """Tests must not see a developer's SPIKEATTACK_DATA unless they set it."""
    monkeypatch.delenv("SPIKEATTACK_DATA", raising=False)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# --------------------------------------------------------------------------- IDX helpers

def idx_images(images: np.ndarray) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", 0x803, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()


def write_idx(folder, rng, *, gz: bool, n_train=5, n_test=3, dotted=False):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train_x": rng.integers(0, 256, (n_train, 28, 28)), "train_y": rng.integers(0, 10, n_train),
              "test_x": rng.integers(0, 256, (n_test, 28, 28)), "test_y": rng.integers(0, 10, n_test)}
    payloads = [idx_images(arrays["train_x"]), idx_labels(arrays["train_y"]),
                idx_images(arrays["test_x"]), idx_labels(arrays["test_y"])]
    for name, payload in zip(IDX_FILES, payloads):
        if dotted:
            name = name.replace("-idx", ".idx")
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(payload)
        else:
            (folder / name).write_bytes(payload)
    return arrays


def assert_idx_equal(data, arrays):
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert np.array_equal(data.train_x[:, 0].numpy(), arrays["train_x"])
    assert np.array_equal(data.train_y.numpy(), arrays["train_y"])
    assert np.array_equal(data.test_x[:, 0].numpy(), arrays["test_x"])
    assert np.array_equal(data.test_y.numpy(), arrays["test_y"])


# --------------------------------------------------------------------------- digits

def test_digits_shapes_range_and_fixed_split(digits):
    assert digits.name == "digits" and digits.num_classes == 10 and digits.input_shape == (1, 8, 8)
    assert digits.train_x.shape == (1347, 1, 8, 8) and digits.test_x.shape == (450, 1, 8, 8)
    assert digits.train_x.dtype == torch.float32 and digits.train_y.dtype == torch.int64
    assert float(digits.train_x.min()) == 0.0 and float(digits.train_x.max()) == 1.0
    assert sorted(digits.test_y.unique().tolist()) == list(range(10))
    again = load_dataset("digits", root="/ignored/for/digits")  # embedded: root is ignored
    assert torch.equal(again.train_x, digits.train_x) and torch.equal(again.test_y, digits.test_y)
    assert again.train_x.data_ptr() != digits.train_x.data_ptr()  # fresh tensors each call
    # the split is exactly the documented sklearn one
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    _, x_test, _, y_test = train_test_split(bunch.images, bunch.target, test_size=0.25, random_state=0,
                                            stratify=bunch.target)
    torch.testing.assert_close(digits.test_x[:, 0], torch.tensor(x_test / 16.0, dtype=torch.float32))
    assert np.array_equal(digits.test_y.numpy(), y_test)


def test_split_returns_float_in_unit_range(digits):
    x, y = digits.split("train")
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and len(x) == 1347
    with pytest.raises(ValueError, match="which"):
        digits.split("validation")


# --------------------------------------------------------------------------- IDX

@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_loader_reads_generated_files(tmp_path, gz, name):
    arrays = write_idx(tmp_path, np.random.default_rng(0), gz=gz)
    data = load_dataset(name, tmp_path)
    assert data.name == name and data.num_classes == 10
    assert data.train_x.shape == (5, 1, 28, 28) and data.test_x.shape == (3, 1, 28, 28)
    assert_idx_equal(data, arrays)
    x, _ = data.split("test")
    assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    torch.testing.assert_close(x[:, 0] * 255, torch.tensor(arrays["test_x"], dtype=torch.float32))


@pytest.mark.parametrize("sub", ["MNIST/raw", "mnist", "mnist/MNIST/raw"])
def test_idx_official_and_named_subfolders(tmp_path, sub):
    arrays = write_idx(tmp_path / sub, np.random.default_rng(1), gz=True, dotted=True)
    assert_idx_equal(load_dataset("mnist", str(tmp_path)), arrays)


def test_fashion_official_subfolder(tmp_path):
    arrays = write_idx(tmp_path / "FashionMNIST" / "raw", np.random.default_rng(4), gz=False)
    assert_idx_equal(load_dataset("fashion-mnist", tmp_path), arrays)


def test_idx_corrupt_magic_and_truncated(tmp_path):
    write_idx(tmp_path, np.random.default_rng(0), gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    good = path.read_bytes()
    path.write_bytes(good[:-10])
    with pytest.raises(ValueError, match="truncated") as info:
        load_dataset("mnist", tmp_path)
    assert "train-images-idx3-ubyte" in str(info.value)
    path.write_bytes(good[:6])  # not even a whole header
    with pytest.raises(ValueError, match="truncated"):
        load_dataset("mnist", tmp_path)
    path.write_bytes(struct.pack(">I", 0x801) + good[4:])
    with pytest.raises(ValueError, match="magic") as info:
        load_dataset("mnist", tmp_path)
    assert "train-images-idx3-ubyte" in str(info.value)
    path.write_bytes(good + b"\0")
    with pytest.raises(ValueError, match="corrupt"):
        load_dataset("mnist", tmp_path)


def test_idx_truncated_gzip_and_mismatched_counts(tmp_path):
    write_idx(tmp_path, np.random.default_rng(0), gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", tmp_path)
    path.write_bytes(gzip.compress(idx_labels(np.zeros(2))))  # 2 labels for 3 images
    with pytest.raises(ValueError, match="labels"):
        load_dataset("mnist", tmp_path)
    path.write_bytes(gzip.compress(idx_labels(np.array([1, 2, 10]))))  # label out of range
    with pytest.raises(ValueError, match="out of range"):
        load_dataset("mnist", tmp_path)


def test_missing_folder_lists_expected_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", tmp_path / "nowhere")
    message = str(info.value)
    for name in IDX_FILES:
        assert name in message
    assert str(tmp_path / "nowhere") in message and str(tmp_path / "nowhere" / "MNIST" / "raw") in message
    assert "--data-root" in message and "SPIKEATTACK_DATA" in message
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("cifar10", tmp_path)
    assert all(f"data_batch_{i}" in str(info.value) for i in range(1, 6)) and "test_batch" in str(info.value)
    with pytest.raises(FileNotFoundError, match="SPIKEATTACK_DATA is not set"):
        load_dataset("mnist")


def test_partial_files_are_named(tmp_path):
    write_idx(tmp_path, np.random.default_rng(0), gz=True)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="lacks t10k-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path)


def test_environment_variable_points_at_data(tmp_path, monkeypatch):
    arrays = write_idx(tmp_path / "mnist", np.random.default_rng(2), gz=True)
    monkeypatch.setenv("SPIKEATTACK_DATA", str(tmp_path))
    assert_idx_equal(load_dataset("mnist"), arrays)
    flat = write_idx(tmp_path / "flat", np.random.default_rng(3), gz=False)
    monkeypatch.setenv("SPIKEATTACK_DATA", str(tmp_path / "flat"))
    assert_idx_equal(load_dataset("mnist"), flat)
    # an explicit root wins over the environment and is the only place searched
    with pytest.raises(FileNotFoundError):
        load_dataset("mnist", tmp_path / "empty")


# --------------------------------------------------------------------------- CIFAR

def write_cifar_batch(path, data, labels, key):
    with open(path, "wb") as f:
        pickle.dump({b"data": data, key: list(labels), b"batch_label": b"x"}, f)


def test_cifar10_official_layout(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = []
    for i in range(1, 6):
        data, labels = rng.integers(0, 256, (2, 3072), dtype=np.uint8), rng.integers(0, 10, 2)
        write_cifar_batch(folder / f"data_batch_{i}", data, labels, b"labels")
        batches.append((data, labels))
    test_data, test_labels = rng.integers(0, 256, (3, 3072), dtype=np.uint8), rng.integers(0, 10, 3)
    write_cifar_batch(folder / "test_batch", test_data, test_labels, b"labels")
    ds = load_dataset("cifar10", tmp_path)
    assert ds.train_x.shape == (10, 3, 32, 32) and ds.train_x.dtype == torch.uint8
    assert ds.num_classes == 10 and ds.input_shape == (3, 32, 32)
    # channel-major rows: 1024 red, then 1024 green, then 1024 blue; each row-major 32x32
    all_data = np.concatenate([b[0] for b in batches])
    for c in range(3):
        assert np.array_equal(ds.train_x[:, c].numpy(), all_data[:, 1024 * c:1024 * (c + 1)].reshape(-1, 32, 32))
    assert int(ds.train_x[3, 1, 0, 5]) == int(batches[1][0][1][1024 + 5])
    assert np.array_equal(ds.train_y.numpy(), np.concatenate([b[1] for b in batches]))
    assert np.array_equal(ds.test_x.reshape(3, -1).numpy(), test_data)
    assert np.array_equal(ds.test_y.numpy(), test_labels)


def test_cifar100_fine_labels_and_corrupt_batch(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    train, labels = rng.integers(0, 256, (4, 3072), dtype=np.uint8), rng.integers(0, 100, 4)
    write_cifar_batch(folder / "train", train, labels, b"fine_labels")
    write_cifar_batch(folder / "test", train[:2], labels[:2], b"fine_labels")
    ds = load_dataset("cifar100", tmp_path)
    assert ds.num_classes == 100 and np.array_equal(ds.train_y.numpy(), labels)
    assert np.array_equal(ds.train_x.reshape(4, -1).numpy(), train)
    assert np.array_equal(ds.test_x.reshape(2, -1).numpy(), train[:2])
    (folder / "test").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="CIFAR") as info:
        load_dataset("cifar100", tmp_path)
    assert str(folder / "test") in str(info.value)
    write_cifar_batch(folder / "test", train[:2], labels[:2], b"labels")  # CIFAR-10 key in a CIFAR-100 batch
    with pytest.raises(ValueError, match="fine_labels"):
        load_dataset("cifar100", tmp_path)
    write_cifar_batch(folder / "test", train[:2, :100], labels[:2], b"fine_labels")  # wrong row length
    with pytest.raises(ValueError, match="3072"):
        load_dataset("cifar100", tmp_path)


# --------------------------------------------------------------------------- batching

def test_iterate_batches_covers_each_sample_once():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    y = torch.arange(10)

    def epoch(seed):
        batches = list(iterate_batches(x, y, 3, shuffle=True, generator=torch.Generator().manual_seed(seed)))
        assert [len(b[1]) for b in batches] == [3, 3, 3, 1]
        for xb, yb in batches:  # images stay paired with their labels
            assert xb.dtype == torch.float32 and 0.0 <= float(xb.min()) and float(xb.max()) <= 1.0
            torch.testing.assert_close(xb.flatten(), yb.float() / 255.0)
        return torch.cat([yb for _, yb in batches])

    seen = epoch(0)
    assert sorted(seen.tolist()) == list(range(10)) and not torch.equal(seen, y)
    assert torch.equal(seen, epoch(0))
    assert not torch.equal(seen, epoch(1))
    ordered = torch.cat([yb for _, yb in iterate_batches(x, y, np.int64(4), shuffle=False)])
    assert torch.equal(ordered, y)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, None])
def test_iterate_batches_rejects_bad_batch_size(bad):
    x, y = torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="batch_size"):
        iterate_batches(x, y, bad, shuffle=False)  # checked at the call, not at the first batch


def test_iterate_batches_frame_sequences_come_out_time_first():
    x = torch.zeros(6, 4, 2, 3, 3, dtype=torch.bool)  # [N, T, C, H, W]
    xb, yb = next(iterate_batches(x, torch.zeros(6, dtype=torch.long), 5, shuffle=False))
    assert xb.shape == (4, 5, 2, 3, 3) and xb.dtype == torch.float32 and len(yb) == 5


# --------------------------------------------------------------------------- subsets

def toy(n_train=50, n_test=20):
    """Each image holds its own index, so rows can be traced through subsets."""
    tx = torch.arange(n_train, dtype=torch.float32).view(-1, 1, 1, 1) / 1000
    vx = (1000 + torch.arange(n_test, dtype=torch.float32)).view(-1, 1, 1, 1) / 10000
    return ImageDataset("toy", tx, torch.arange(n_train) % 3, vx, torch.arange(n_test) % 3, 3)


def test_subset_sizes_and_determinism(digits):
    sub = digits.subset(n_train=100, n_test=20, seed=3)
    assert len(sub.train_y) == 100 and len(sub.test_y) == 20 and sub.train_x.shape[1:] == (1, 8, 8)
    same = digits.subset(n_train=100, n_test=20, seed=3)
    assert torch.equal(sub.train_x, same.train_x) and torch.equal(sub.test_y, same.test_y)
    assert not torch.equal(sub.train_x, digits.subset(n_train=100, n_test=20, seed=4).train_x)
    assert len(digits.subset(n_train=10).test_y) == 450  # None keeps a split whole
    assert len(digits.subset(n_train=10**6).train_y) == 1347  # capped at the split's size
    ids = (toy().subset(n_train=30, seed=0).train_x.flatten() * 1000).round().long()
    assert len(set(ids.tolist())) == 30  # no duplicates
    for bad in (0, -3, 1.5):
        with pytest.raises(ValueError, match="n_train"):
            digits.subset(n_train=bad)
    with pytest.raises(ValueError, match="n_test"):
        digits.subset(n_test=0)


def test_validation_split_holds_out_training_data(digits):
    data = toy()
    val = data.validation_split(0.2, seed=0)
    assert val.name == "toy-val" and len(val.test_y) == 10 and len(val.train_y) == 40
    new_train = set((val.train_x.flatten() * 1000).round().long().tolist())
    held_out = set((val.test_x.flatten() * 1000).round().long().tolist())
    assert held_out <= set(range(50)) and new_train | held_out == set(range(50)) and not new_train & held_out
    again = data.validation_split(0.2, seed=0)
    assert torch.equal(again.test_x, val.test_x) and torch.equal(again.train_y, val.train_y)
    assert not torch.equal(data.validation_split(0.2, seed=1).test_x, val.test_x)
    big = digits.validation_split(0.1, seed=0)
    assert len(big.train_y) + len(big.test_y) == 1347 and len(big.test_y) == 135
    for bad in (0.0, 1.0, -0.1, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="fraction"):
            data.validation_split(bad)
    tiny = ImageDataset("t", torch.zeros(2, 1, 1, 1), torch.tensor([0, 1]), torch.zeros(1, 1, 1, 1), torch.tensor([0]), 2)
    assert len(tiny.validation_split(0.99).train_y) == 1  # never empties the train part


def test_dataset_construction_is_checked():
    x, y = torch.zeros(3, 1, 2, 2), torch.tensor([0, 1, 2])
    assert ImageDataset("ok", x, y.int(), x, y, 3).train_y.dtype == torch.int64
    with pytest.raises(ValueError, match="train_x"):
        ImageDataset("bad", torch.zeros(3, 4), y, x, y, 3)
    with pytest.raises(ValueError, match="train_y"):
        ImageDataset("bad", x, y[:2], x, y, 3)
    with pytest.raises(ValueError, match="test_y"):
        ImageDataset("bad", x, y, x, y.float(), 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        ImageDataset("bad", x, y, x, y, 2)
    with pytest.raises(ValueError, match="test_x"):
        ImageDataset("bad", x, y, torch.zeros(3, 1, 3, 3), y, 3)
    seq = ImageDataset("seq", torch.zeros(3, 4, 1, 2, 2, dtype=torch.bool), y, torch.zeros(3, 4, 1, 2, 2, dtype=torch.bool), y, 3)
    assert seq.is_sequence and seq.timesteps == 4 and seq.input_shape == (1, 2, 2)
    assert seq.split("test")[0].shape == (4, 3, 1, 2, 2)
    assert not ImageDataset("img", x, y, x, y, 3).is_sequence


# --------------------------------------------------------------------------- resize / names

def test_resize_is_area_average(digits):
    small = load_dataset("digits", resize=4)
    assert small.train_x.shape == (1347, 1, 4, 4) and small.test_x.shape == (450, 1, 4, 4)
    assert small.input_shape == (1, 4, 4) and small.train_x.dtype == torch.float32
    expected = digits.train_x.reshape(1347, 1, 4, 2, 4, 2).mean(dim=(3, 5))
    torch.testing.assert_close(small.train_x, expected)
    torch.testing.assert_close(small.train_x[0, 0, 1, 2], digits.train_x[0, 0, 2:4, 4:6].mean())
    assert torch.equal(small.test_y, digits.test_y)
    odd = load_dataset("digits", resize=3)  # 8 is not a multiple of 3: adaptive pooling
    assert odd.train_x.shape == (1347, 1, 3, 3) and 0.0 <= float(odd.train_x.min()) and float(odd.train_x.max()) <= 1.0
    for bad in (0, -2, 2.5, True, 9):
        with pytest.raises(ValueError, match="resize"):
            load_dataset("digits", resize=bad)


def test_resize_uint8_idx_gives_float_unit_range(tmp_path):
    arrays = write_idx(tmp_path, np.random.default_rng(5), gz=False)
    data = load_dataset("mnist", tmp_path, resize=14)
    assert data.train_x.shape == (5, 1, 14, 14) and data.train_x.dtype == torch.float32
    expected = arrays["train_x"].reshape(5, 14, 2, 14, 2).mean(axis=(2, 4)) / 255.0
    torch.testing.assert_close(data.train_x[:, 0], torch.tensor(expected, dtype=torch.float32))


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="dataset") as info:
        load_dataset("imagenet")
    assert "imagenet" in str(info.value) and "fashion-mnist" in str(info.value)
    assert tuple(DATASETS) == ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100",
                        "nmnist", "cifar10-dvs", "dvs-gesture", "nmnist-sim", "fmnist-dvs-sim")


@pytest.mark.skipif(not os.path.isdir(FASHION_DEBIAN), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_debian_package():
    data = load_dataset("fashion-mnist")
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert data.train_x.dtype == torch.uint8 and data.num_classes == 10
    assert torch.bincount(data.test_y, minlength=10).tolist() == [1000] * 10

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from spikeattack.data import DATASETS, iterate_batches, load_dataset

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_images(images: np.ndarray) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", 0x803, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()


def write_idx(folder, rng, *, gz: bool, n_train=5, n_test=3):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train_x": rng.integers(0, 256, (n_train, 28, 28)), "train_y": rng.integers(0, 10, n_train),
              "test_x": rng.integers(0, 256, (n_test, 28, 28)), "test_y": rng.integers(0, 10, n_test)}
    payloads = [idx_images(arrays["train_x"]), idx_labels(arrays["train_y"]),
                idx_images(arrays["test_x"]), idx_labels(arrays["test_y"])]
    for name, payload in zip(IDX_FILES, payloads):
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(payload)
        else:
            (folder / name).write_bytes(payload)
    return arrays


def test_digits_split():
    data = load_dataset("digits")
    assert data.train_x.shape == (1347, 1, 8, 8) and data.test_x.shape == (450, 1, 8, 8)
    assert data.num_classes == 10 and data.input_shape == (1, 8, 8)
    assert 0.0 <= float(data.train_x.min()) and float(data.train_x.max()) <= 1.0
    again = load_dataset("digits")
    assert torch.equal(again.test_x, data.test_x) and torch.equal(again.test_y, data.test_y)
    assert sorted(data.test_y.unique().tolist()) == list(range(10))


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_loader_reads_generated_files(tmp_path, gz, name):
    arrays = write_idx(tmp_path, np.random.default_rng(0), gz=gz)
    data = load_dataset(name, tmp_path)
    assert data.train_x.shape == (5, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert np.array_equal(data.train_x[:, 0].numpy(), arrays["train_x"])
    assert np.array_equal(data.test_y.numpy(), arrays["test_y"])
    x, _ = data.split("test")
    assert x.dtype == torch.float32 and float(x.max()) <= 1.0


def test_idx_in_official_subfolder(tmp_path):
    arrays = write_idx(tmp_path / "MNIST" / "raw", np.random.default_rng(1), gz=True)
    data = load_dataset("mnist", tmp_path)
    assert np.array_equal(data.train_y.numpy(), arrays["train_y"])


def test_idx_corrupt_and_truncated(tmp_path):
    write_idx(tmp_path, np.random.default_rng(0), gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    good = path.read_bytes()
    path.write_bytes(good[:-10])
    with pytest.raises(ValueError, match="truncated"):
        load_dataset("mnist", tmp_path)
    path.write_bytes(struct.pack(">I", 0x801) + good[4:])
    with pytest.raises(ValueError, match="magic"):
        load_dataset("mnist", tmp_path)


def test_missing_folder_lists_expected_files(tmp_path, monkeypatch):
    monkeypatch.delenv("SPIKEATTACK_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", tmp_path / "nowhere")
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "nowhere" in message and "--data-root" in message
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_dataset("cifar10", tmp_path)


def test_environment_variable_points_at_data(tmp_path, monkeypatch):
    arrays = write_idx(tmp_path / "mnist", np.random.default_rng(2), gz=True)
    monkeypatch.setenv("SPIKEATTACK_DATA", str(tmp_path))
    data = load_dataset("mnist")
    assert np.array_equal(data.train_y.numpy(), arrays["train_y"])


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
    assert ds.train_x.shape == (10, 3, 32, 32) and ds.num_classes == 10
    # channel-major rows: 1024 red, then green, then blue; each row-major 32x32
    first = batches[0][0][0]
    assert np.array_equal(ds.train_x[0, 0].numpy(), first[:1024].reshape(32, 32))
    assert np.array_equal(ds.train_x[0, 2].numpy(), first[2048:].reshape(32, 32))
    assert np.array_equal(ds.test_y.numpy(), test_labels)


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    train, labels = rng.integers(0, 256, (4, 3072), dtype=np.uint8), rng.integers(0, 100, 4)
    write_cifar_batch(folder / "train", train, labels, b"fine_labels")
    write_cifar_batch(folder / "test", train[:2], labels[:2], b"fine_labels")
    ds = load_dataset("cifar100", tmp_path)
    assert ds.num_classes == 100 and np.array_equal(ds.train_y.numpy(), labels)
    (folder / "test").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="CIFAR"):
        load_dataset("cifar100", tmp_path)


def test_iterate_batches_covers_each_sample_once():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    y = torch.arange(10)
    seen = torch.cat([yb for _, yb in iterate_batches(x, y, 3, shuffle=True, generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(10))
    again = torch.cat([yb for _, yb in iterate_batches(x, y, 3, shuffle=True, generator=torch.Generator().manual_seed(0))])
    assert torch.equal(seen, again)
    xb, _ = next(iterate_batches(x, y, 4, shuffle=False))
    torch.testing.assert_close(xb.flatten(), torch.arange(4) / 255.0)
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_batches(x, y, 0, shuffle=False))


def test_subset_and_validation_split():
    data = load_dataset("digits")
    sub = data.subset(n_train=100, n_test=20, seed=3)
    assert len(sub.train_y) == 100 and len(sub.test_y) == 20
    assert torch.equal(sub.train_x, data.subset(n_train=100, n_test=20, seed=3).train_x)
    val = data.validation_split(0.2, seed=0)
    assert len(val.train_y) + len(val.test_y) == len(data.train_y)
    # the held-out part comes from the training set, disjoint from the new training part
    train_rows = {tuple(r.flatten().tolist()) for r in data.train_x}
    assert all(tuple(r.flatten().tolist()) in train_rows for r in val.test_x[:20])
    assert not torch.equal(val.test_x[:5], data.test_x[:5])


def test_resize_is_area_average():
    data = load_dataset("digits", resize=4)
    full = load_dataset("digits")
    assert data.train_x.shape == (1347, 1, 4, 4)
    torch.testing.assert_close(data.train_x[0, 0, 0, 0], full.train_x[0, 0, :2, :2].mean())
    with pytest.raises(ValueError, match="resize"):
        load_dataset("digits", resize=0)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="dataset"):
        load_dataset("imagenet")
    assert "fashion-mnist" in DATASETS


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_debian_package(monkeypatch):
    monkeypatch.delenv("SPIKEATTACK_DATA", raising=False)
    data = load_dataset("fashion-mnist")
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)

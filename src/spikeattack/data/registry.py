"""``load_dataset(name, root)``: every dataset by name, from embedded data or local files only.

Nothing is ever downloaded. Folder datasets are looked for, in order:

1. an explicit ``root`` (the CLI's ``--data-root``) -- when given, nothing else is searched;
2. otherwise the folder in the environment variable ``SPIKEATTACK_DATA``;
3. then, for Fashion-MNIST only, ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu package
   ``dataset-fashion-mnist``).

For each such base folder the files may lie in the folder itself, in ``<base>/<name>`` or in the
official sub-folders (``MNIST/raw``, ``FashionMNIST/raw``, ``cifar-10-batches-py``,
``cifar-100-python``), also below ``<base>/<name>``. All files of a dataset must be in one folder.

Event datasets (frame sequences ``[N, T, 2, H, W]``, see ``neuromorphic`` and ``simulated``):

============== =============================================== == ============================
name           source                                          T  frame size (``resize``)
============== =============================================== == ============================
nmnist         ``Train/<digit>/*.bin``, ``Test/<digit>/*.bin`` 10 34x34 (any side <= 34)
cifar10-dvs    ``<class>/*.aedat``, seeded 90/10 split         10 42x42, Liang et al. (<= 128)
dvs-gesture    ``DvsGesture`` (``trials_to_*.txt``)            16 32x32, Liang et al. (<= 128)
nmnist-sim     embedded: simulated saccades of digits          8  12x12 (fixed)
fmnist-dvs-sim Fashion-MNIST 10k/2k subset at 14x14            8  18x18 (fixed)
============== =============================================== == ============================

``frames`` picks ``"binary"`` spike frames (bool, the default) or ``"count"`` frames (int16);
``time_bins`` is T: that many equal-duration bins over each sample. The defaults are CPU-sized;
Liang et al. (TNNLS 2021, Table VI) use T = 15 (N-MNIST), 10 (CIFAR10-DVS), 60 (DVS Gesture),
with fixed 5 / 5 / 1 ms bins, available from the loaders' ``bin_us``. N-MNIST at T = 10 holds
70,000 x 10 x 2 x 34 x 34 bools (1.6 GB); nothing is cached to disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .._registry import Registry
from .base import ImageDataset, as_count, to_float
from .cifar import CIFAR10_FILES, CIFAR100_FILES, load_cifar
from .digits import load_digits_dataset
from .idx import IDX_FILES, idx_names, load_idx
from .neuromorphic import load_cifar10_dvs, load_dvs_gesture, load_nmnist
from .simulated import load_fmnist_dvs_sim, load_nmnist_sim

ENV_VAR = "SPIKEATTACK_DATA"
FASHION_MNIST_DEFAULT = "/usr/share/datasets/fashion-mnist"
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")
EVENT_DATASETS = ("nmnist", "cifar10-dvs", "dvs-gesture", "nmnist-sim", "fmnist-dvs-sim")
# name -> (default T, default frame side or None for the native size, largest side ``resize`` accepts or None)
EVENT_DEFAULTS: dict[str, tuple[int, int | None, int | None]] = {
    "nmnist": (10, None, 34), "cifar10-dvs": (10, 42, 128), "dvs-gesture": (16, 32, 128),
    "nmnist-sim": (8, None, None), "fmnist-dvs-sim": (8, None, None),
}


@dataclass(frozen=True)
class _Files:
    """Where one folder dataset's files are: key -> accepted names (official name first)."""

    names: dict[str, tuple[str, ...]]
    subfolders: tuple[str, ...]
    load: Callable[[str, dict[str, Path]], ImageDataset]
    defaults: tuple[str, ...] = ()
    note: str = ""


_IDX_NOTE = " (each also accepted gzipped as '<name>.gz' and spelled '.idx' as in 'train-images.idx3-ubyte')"
_FOLDER_DATASETS = {
    "mnist": _Files({k: idx_names(v) for k, v in IDX_FILES.items()}, ("MNIST/raw", "MNIST", "raw"),
                    load_idx, note=_IDX_NOTE),
    "fashion-mnist": _Files({k: idx_names(v) for k, v in IDX_FILES.items()},
                            ("FashionMNIST/raw", "FashionMNIST", "fashion_mnist", "raw"), load_idx,
                            defaults=(FASHION_MNIST_DEFAULT,), note=_IDX_NOTE),
    "cifar10": _Files({k: (v,) for k, v in CIFAR10_FILES.items()}, ("cifar-10-batches-py",), load_cifar,
                      note=" (the extracted official 'CIFAR-10 python version', cifar-10-python.tar.gz)"),
    "cifar100": _Files({k: (v,) for k, v in CIFAR100_FILES.items()}, ("cifar-100-python",), load_cifar,
                       note=" (the extracted official 'CIFAR-100 python version', cifar-100-python.tar.gz)"),
}


def search_folders(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for dataset ``name``'s files, in order (no duplicates)."""
    spec = _FOLDER_DATASETS[name]
    if root is not None:
        bases = [Path(root).expanduser()]
    else:
        env = os.environ.get(ENV_VAR, "").strip()
        bases = [Path(env).expanduser()] if env else []
    folders: list[Path] = []
    for base in bases:
        folders += [base, base / name] + [base / s for s in spec.subfolders] + [base / name / s for s in spec.subfolders]
    if root is None:
        folders += [Path(d) for d in spec.defaults]
    return list(dict.fromkeys(folders))


def find_files(name: str, root: str | os.PathLike | None = None) -> dict[str, Path]:
    """Locate all files of dataset ``name`` in the first searched folder that holds every one of
    them; ``FileNotFoundError`` listing the expected names and the folders searched otherwise."""
    spec = _FOLDER_DATASETS[name]
    folders = search_folders(name, root)
    best: tuple[Path, dict[str, Path]] | None = None
    for folder in folders:
        if not folder.is_dir():
            continue
        found = {}
        for key, names in spec.names.items():
            hit = next((folder / n for n in names if (folder / n).is_file()), None)
            if hit is not None:
                found[key] = hit
        if len(found) == len(spec.names):
            return found
        if found and (best is None or len(found) > len(best[1])):
            best = (folder, found)
    expected = ", ".join(names[0] for names in spec.names.values())
    if folders:
        searched = "; searched: " + ", ".join(str(f) for f in folders)
    else:
        searched = f"; searched no folder (no root was given and {ENV_VAR} is not set)"
    hints = ""
    if root is not None and Path(root).expanduser().is_file():
        hints += f" {root} is a file, not a folder (extract an archive first and pass its folder)."
    if best is not None:
        missing = [spec.names[k][0] for k in spec.names if k not in best[1]]
        hints += f" {best[0]} holds some of the files but lacks {', '.join(missing)}."
    raise FileNotFoundError(
        f"dataset {name!r}: expected the files {expected}{spec.note} together in one folder{searched}.{hints} "
        f"Pass --data-root DIR (load_dataset(..., root=DIR)) or set the environment variable {ENV_VAR} "
        f"to the folder that holds them; nothing is downloaded."
    )


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average ``[N, C, H, W]`` down to ``size x size``; float32 in [0, 1] for uint8 input."""
    x = to_float(x)
    h, w = x.shape[-2:]
    if h % size == 0 and w % size == 0:
        return F.avg_pool2d(x, (h // size, w // size))
    return F.adaptive_avg_pool2d(x, size)


def _event_loader(load: Callable[..., ImageDataset]) -> Callable[..., ImageDataset]:
    """A folder event dataset's loader: ``(root, side, frames, time_bins) -> ImageDataset``."""
    return lambda root, side, frames, time_bins: load(root, n_frames=time_bins, mode=frames, size=side)


DATASETS: Registry[Callable[..., ImageDataset]] = Registry("dataset")
"""Loaders by name: images ``(root) -> ImageDataset``; events ``(root, side, frames, time_bins)``."""
DATASETS.register("digits")(lambda root: load_digits_dataset())
for _name in ("mnist", "fashion-mnist", "cifar10", "cifar100"):
    DATASETS.register(_name)(lambda root, name=_name: _FOLDER_DATASETS[name].load(name, find_files(name, root)))
DATASETS.register("nmnist")(_event_loader(load_nmnist))
DATASETS.register("cifar10-dvs")(_event_loader(load_cifar10_dvs))
DATASETS.register("dvs-gesture")(_event_loader(load_dvs_gesture))
DATASETS.register("nmnist-sim")(lambda root, side, frames, time_bins: load_nmnist_sim(n_frames=time_bins, mode=frames))
DATASETS.register("fmnist-dvs-sim")(lambda root, side, frames, time_bins: load_fmnist_dvs_sim(
    DATASETS.make("fashion-mnist", root), n_frames=time_bins, mode=frames))


def _load_events(name: str, root: str | os.PathLike | None, resize: int | None, frames: str, time_bins: int
                 ) -> ImageDataset:
    _, side, largest = EVENT_DEFAULTS[name]
    if resize is not None:
        if largest is None:
            raise ValueError(f"resize: not supported for {name} (simulated events; the frame size is fixed by "
                             f"the image size plus the motion margin)")
        if resize > largest:
            raise ValueError(f"resize: expected at most the sensor side {largest} of {name} (it only downsamples), "
                             f"got {resize}")
        side = resize
    return DATASETS.make(name, root, side, frames, time_bins)


def load_dataset(name: str, root: str | os.PathLike | None = None, *, resize: int | None = None,
                 frames: str | None = None, time_bins: int | None = None) -> ImageDataset:
    """Load dataset ``name`` (one of ``DATASETS``); nothing is downloaded.

    ``root``: the folder holding the official files (see the module docstring for the search
    order: ``root``, else ``$SPIKEATTACK_DATA``, else for Fashion-MNIST the Debian package's
    folder). ``digits`` and ``nmnist-sim`` are embedded (scikit-learn) and ignore ``root``: they
    have no files; ``fmnist-dvs-sim`` reads Fashion-MNIST from it.
    ``resize``: images: downsample to ``resize x resize`` by area averaging (at most the image side);
    the images then are float32 in [0, 1]. Without it, MNIST / Fashion-MNIST / CIFAR stay uint8.
    Event data: the frame side (summing event counts over blocks of sensor pixels; nmnist,
    cifar10-dvs and dvs-gesture only).
    ``frames`` (``"binary"``, the default, or ``"count"``) and ``time_bins`` (T) apply to event
    datasets only; the defaults are in the module docstring.
    """
    name = DATASETS.canonical(name)
    if resize is not None:
        resize = as_count(resize, "resize")
    if name in EVENT_DATASETS:
        if frames is None:
            frames = "binary"
        if not isinstance(frames, str) or frames not in ("binary", "count"):
            raise ValueError(f"frames: expected 'binary' or 'count', got {frames!r}")
        time_bins = EVENT_DEFAULTS[name][0] if time_bins is None else as_count(time_bins, "time_bins")
        return _load_events(name, root, resize, frames, time_bins)
    for arg, value in (("frames", frames), ("time_bins", time_bins)):
        if value is not None:
            raise ValueError(f"{arg}: only for event datasets ({', '.join(EVENT_DATASETS)}); {name} holds images, "
                             f"got {arg}={value!r}")
    data = DATASETS.make(name, root)
    if resize is not None:
        h, w = data.train_x.shape[-2:]
        if resize > min(h, w):
            raise ValueError(f"resize: expected at most the image side {min(h, w)} of {name} (it only "
                             f"downsamples), got {resize}")
        data = ImageDataset(data.name, _resize(data.train_x, resize), data.train_y,
                            _resize(data.test_x, resize), data.test_y, data.num_classes)
    return data

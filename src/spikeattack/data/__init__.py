"""Datasets (embedded digits; MNIST, Fashion-MNIST, CIFAR-10/100 from local folders, never
downloaded) and seeded mini-batching."""

from .base import ImageDataset, iterate_batches
from .registry import DATASETS, load_dataset

__all__ = ["ImageDataset", "iterate_batches", "DATASETS", "load_dataset"]

"""Datasets (embedded digits; MNIST, Fashion-MNIST, CIFAR from local folders) and batching."""

from .base import ImageDataset, iterate_batches
from .registry import DATASETS, load_dataset

__all__ = ["ImageDataset", "iterate_batches", "DATASETS", "load_dataset"]

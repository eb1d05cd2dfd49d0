"""Datasets (embedded digits; MNIST, Fashion-MNIST, CIFAR-10/100 from local folders, never
downloaded), event data (N-MNIST, CIFAR10-DVS, DVS Gesture from local folders; the embedded
simulated nmnist-sim and fmnist-dvs-sim) and seeded mini-batching."""

from .base import ImageDataset, iterate_batches
from .events import EventStream, bin_events
from .neuromorphic import load_cifar10_dvs, load_dvs_gesture, load_nmnist, read_aedat2, read_aedat31, read_nmnist_bin
from .registry import DATASETS, EVENT_DATASETS, IMAGE_DATASETS, load_dataset
from .simulated import load_fmnist_dvs_sim, load_nmnist_sim, simulate_saccade_events, simulate_saccade_frames

__all__ = ["ImageDataset", "iterate_batches", "DATASETS", "IMAGE_DATASETS", "EVENT_DATASETS", "load_dataset",
           "EventStream", "bin_events", "read_nmnist_bin", "read_aedat2", "read_aedat31", "load_nmnist",
           "load_cifar10_dvs", "load_dvs_gesture", "simulate_saccade_events", "simulate_saccade_frames",
           "load_nmnist_sim", "load_fmnist_dvs_sim"]

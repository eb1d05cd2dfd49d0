"""Training: BPTT for spiking nets, the same loop for ANN twins, checkpoints."""

from .checkpoint import load_checkpoint, load_weights, read_checkpoint, save_checkpoint
from .loop import LOSSES, OPTIMIZERS, SCHEDULES, EpochRecord, TrainConfig, TrainHistory, accuracy, compute_loss, train_model

__all__ = ["load_checkpoint", "load_weights", "read_checkpoint", "save_checkpoint", "LOSSES", "OPTIMIZERS",
           "SCHEDULES", "EpochRecord", "TrainConfig", "TrainHistory", "accuracy", "compute_loss", "train_model"]

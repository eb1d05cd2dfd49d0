"""Training: BPTT for spiking nets, the same loop for ANN twins, adversarial training,
ANN-to-SNN conversion, checkpoints."""

from .adversarial import adversarial_perturbation
from .checkpoint import load_checkpoint, load_weights, read_checkpoint, save_checkpoint
from .conversion import convert_ann_to_snn
from .loop import LOSSES, OPTIMIZERS, SCHEDULES, EpochRecord, TrainConfig, TrainHistory, compute_loss, train_model

__all__ = ["adversarial_perturbation", "convert_ann_to_snn", "load_checkpoint", "load_weights", "read_checkpoint", "save_checkpoint", "LOSSES", "OPTIMIZERS",
           "SCHEDULES", "EpochRecord", "TrainConfig", "TrainHistory", "compute_loss", "train_model"]

"""BPTT training of spiking networks (and the same loop for their ANN twins).

The spiking forward is unrolled over T steps and the loss is backpropagated through
time with the neuron's surrogate derivative (STBP, Wu et al. 2018). Losses:

- ``ce``: cross-entropy on the time-averaged output (logits);
- ``mse``: mean squared error between the time-averaged output and the one-hot label,
  the default of Liang et al. (TNNLS 2021, Section VI-A, Table VI).

``amp="bf16" | "fp16"`` runs the forward and the loss under ``torch.autocast`` (fp16 with
a gradient scaler); the weights and the optimizer stay in float32. Loss and accuracy are
accumulated on the device, so a GPU is not synchronised once per batch.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..data import ImageDataset, iterate_batches
from .._checks import check_seed
from ..device import autocast, check_amp
from ..evaluation.accuracy import accuracy
from ..models import SpikingModel

LOSSES = ("ce", "mse")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("cosine", "step", "none")

# (model, images, labels) -> images to train on (e.g. adversarial examples); issue-5 hook.
Perturbation = Callable[[SpikingModel, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    step_size: int = 30
    step_gamma: float = 0.1
    loss: str = "ce"
    seed: int = 0
    amp: str | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "step_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        for name in ("lr", "momentum", "weight_decay", "step_gamma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if self.lr <= 0:
            raise ValueError(f"lr: expected a value > 0, got {self.lr}")
        for name, allowed in (("loss", LOSSES), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: expected one of {allowed}, got {getattr(self, name)!r}")
        check_amp(self.amp)
        check_seed("seed", self.seed)


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float | None
    seconds: float


@dataclass
class TrainHistory:
    epochs: list[EpochRecord] = field(default_factory=list)

    @property
    def final_test_accuracy(self) -> float | None:
        return self.epochs[-1].test_accuracy if self.epochs else None

    def to_list(self) -> list[dict]:
        return [asdict(e) for e in self.epochs]


def compute_loss(name: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if name == "ce":
        return F.cross_entropy(logits, labels)
    if name == "mse":
        return F.mse_loss(logits, F.one_hot(labels, logits.shape[-1]).to(logits.dtype))
    raise ValueError(f"loss: expected one of {LOSSES}, got {name!r}")


def _optimizer(model: SpikingModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size * steps_per_epoch, gamma=cfg.step_gamma)
    return None


def train_model(
    model: SpikingModel,
    data: ImageDataset,
    cfg: TrainConfig | None = None,
    *,
    perturb: Perturbation | None = None,
    progress: bool = True,
    evaluate_each_epoch: bool = True,
    log: Callable[[EpochRecord], None] | None = None,
) -> TrainHistory:
    """Train ``model`` on ``data.train_*`` with BPTT (SNN) or backprop (ANN twin).

    Seeded: the same ``cfg.seed`` gives the same batches and dropout masks. With
    ``perturb``, each batch is replaced by ``perturb(model, x, y)`` (adversarial training).
    Returns the per-epoch history (loss, train accuracy, test accuracy, seconds). A final
    mini-batch of a single input is skipped when the model has batch-norm (it cannot normalise
    one value per channel); a training that diverges (NaN or infinite weights after an epoch)
    is a ``ValueError`` naming ``lr``, never a saved model.
    """
    cfg = cfg or TrainConfig()
    if not isinstance(model, SpikingModel):
        raise ValueError(f"model: expected a SpikingModel, got {type(model).__name__}")
    if tuple(data.input_shape) != model.input_shape:
        raise ValueError(f"data: input shape {tuple(data.input_shape)} does not match the model's {model.input_shape}")
    if data.num_classes != model.num_classes:
        raise ValueError(f"data: {data.num_classes} classes, but the model has {model.num_classes}")
    torch.manual_seed(cfg.seed)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(cfg.seed)
    opt = _optimizer(model, cfg)
    steps = math.ceil(len(data.train_y) / cfg.batch_size)
    sched = _scheduler(opt, cfg, steps)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    history = TrainHistory()
    batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen = 0
        batches = iterate_batches(data.train_x, data.train_y, cfg.batch_size, shuffle=True, generator=generator)
        bar = tqdm(batches, total=steps, desc=f"epoch {epoch}/{cfg.epochs}", disable=not progress,
                   leave=False, file=sys.stderr)
        for step, (xb, yb) in enumerate(bar):
            if batch_norm and len(yb) == 1:
                continue  # batch-norm statistics of one value per channel do not exist
            xb, yb = xb.to(device), yb.to(device)
            if perturb is not None:
                xb = perturb(model, xb, yb).detach()
                model.train()
            with autocast(device, cfg.amp):
                logits = model(xb)
                loss = compute_loss(cfg.loss, logits.float(), yb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if sched is not None:
                sched.step()
            total_loss += loss.detach().double() * len(yb)
            correct += (logits.argmax(-1) == yb).sum()
            seen += len(yb)
            if progress and step % 20 == 0:  # reading the running values synchronises the device
                bar.set_postfix(loss=f"{float(total_loss) / seen:.4f}", acc=f"{int(correct) / seen:.3f}")
        if not seen:
            raise ValueError("data: one training input cannot train a model with batch-norm; use at least two "
                             "(--limit-train)")
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            raise ValueError(f"lr: the training diverged in epoch {epoch} (NaN or infinite weights); lower the "
                             f"learning rate (lr={cfg.lr}) or change the loss")
        test_acc = accuracy(model, data.test_x, data.test_y) if evaluate_each_epoch else None
        record = EpochRecord(epoch, float(total_loss) / seen, int(correct) / seen, test_acc,
                             time.perf_counter() - start)
        history.epochs.append(record)
        if log is not None:
            log(record)
    model.eval()
    return history

"""A tiny trained event model for the event attack and evaluation tests: a 72-32-4 spiking MLP
(T = 5) on ``[T, B, 2, 6, 6]`` frames of synthetic data whose classes differ in per-pixel firing
probability, binary (Bernoulli) or counts (Binomial(3, p))."""

from __future__ import annotations

import torch

from spikeattack.data import ImageDataset
from spikeattack.models import ModelConfig, build_model
from spikeattack.training import TrainConfig, train_model

T = 5
CONFIG = ModelConfig(arch="mlp", in_channels=2, input_size=(6, 6), num_classes=4, encoding="spikes", timesteps=T,
                     arch_options={"hidden": (32,)})
ELEMENTS = T * 2 * 6 * 6


def event_frames(n: int, seed: int, counts: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``[n, T, 2, 6, 6]`` float frames and labels."""
    proto = 0.3 + (torch.rand(4, 2, 6, 6, generator=torch.Generator().manual_seed(123)) - 0.5) * 0.3
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=gen)
    p = proto[y].unsqueeze(1).expand(n, T, 2, 6, 6)
    if counts:
        return torch.binomial(torch.full(p.shape, 3.0), p, generator=gen), y
    return (torch.rand(p.shape, generator=gen) < p).float(), y


def trained_event_model(counts: bool, keep: int = 40):
    """``(model, x, y)``: the MSE-trained model and up to ``keep`` test inputs it classifies
    correctly, time-first ``[T, B, 2, 6, 6]``."""
    (x, y), (xt, yt) = event_frames(800, 0, counts), event_frames(200, 1, counts)
    data = ImageDataset("synthetic-events", x, y, xt, yt, 4)
    torch.manual_seed(0)
    model = build_model(CONFIG)
    train_model(model, data, TrainConfig(epochs=8, lr=5e-3, loss="mse", seed=0), progress=False)
    model.eval()
    xt, yt = data.split("test")
    with torch.no_grad():
        ok = model(xt).argmax(-1) == yt
    assert ok.float().mean() > 0.8
    return model, xt[:, ok][:, :keep].contiguous(), yt[ok][:keep]

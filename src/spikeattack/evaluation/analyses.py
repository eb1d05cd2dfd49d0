"""Analyses from the papers that are not attacks.

- :func:`spike_shuffle_accuracy`: Bu et al. (CVPR 2023) Sec. 4.1 — shuffle the order of each
  neuron's spikes across time in every spiking layer (its rate is unchanged) and compare
  the accuracy with the unshuffled one. A small change means the network is rate-coded,
  which is what the rate-path gradient estimators assume.
"""

from __future__ import annotations

import torch

from .._checks import check_seed
from ..models import SpikingModel
from ..neurons import LIFNeuron
from .accuracy import accuracy


def shuffle_time(spikes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute each neuron's spike train along time (dim 0), independently per neuron."""
    keys = torch.rand(spikes.shape, generator=generator).to(spikes.device)
    return spikes.gather(0, keys.argsort(dim=0))


@torch.no_grad()
def shuffles_time(model: SpikingModel) -> bool:
    """Whether every spiking layer emits its whole spike train at once (not one step per call,
    as a user model's single-step neurons do), so that it can be shuffled over time."""
    return all(type(n) is LIFNeuron for n in model.spiking_neurons())


def spike_shuffle_accuracy(model: SpikingModel, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
                           batch_size: int = 256) -> dict[str, float]:
    """Accuracy without and with every spiking layer's spikes shuffled over time."""
    if not model.is_spiking:
        raise ValueError("model: the spike-shuffle test needs a spiking model")
    if not shuffles_time(model):
        raise ValueError("model: the spike-shuffle test needs multi-step neurons (a whole [T, B, ...] spike train "
                         "per call); this model's neurons run one step per call")
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    if model.takes_sequence:
        x = x.transpose(0, 1)  # batch first for batching; iterate_batches restores [T, B, ...]

    def run(shuffle: bool) -> float:
        model.encoder.reseed()  # both passes see the same input spikes (Poisson coding)
        hooks = []
        if shuffle:
            for neuron in model.spiking_neurons():
                hooks.append(neuron.register_forward_hook(lambda m, inp, out: shuffle_time(out, generator)))
        try:
            return accuracy(model, x, y, batch_size=batch_size)
        finally:
            for h in hooks:
                h.remove()

    clean, shuffled = run(False), run(True)
    return {"accuracy": clean, "shuffled_accuracy": shuffled, "change": shuffled - clean}

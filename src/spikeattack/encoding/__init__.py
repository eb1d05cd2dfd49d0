"""Input encodings: an image ``[B, ...]`` in [0, 1] becomes a ``[T, B, ...]`` input sequence.

- ``direct``: the image repeated T times (the analogue current is fed to the first layer).
- ``poisson``: rate coding; at every step each pixel spikes with probability equal to its
  intensity (the "Poisson encoder" of SpikingJelly / Bu et al. / Sharmin et al.; a
  Bernoulli draw per step). Fresh noise at every forward, from a seeded generator, so
  the attacker never sees the evaluation noise. The gradient is the straight-through
  estimator of Bu et al. (CVPR 2023) eq. 20: d Poisson(x) / d x ~ d E[Poisson(x)] / d x = 1.
- ``spikes``: the input is already a ``[T, B, ...]`` spike/event tensor (passed through).

``rate(x)`` is the expected per-step input: the gradient estimators that follow the
rate path feed it to the rate network.
"""

from __future__ import annotations

from typing import Callable

import torch

from .._checks import check_seed
from .._registry import Registry

ENCODINGS = ("direct", "poisson", "spikes")


class Encoder:
    """Base encoder. ``encode(x, T)`` -> ``[T, B, ...]``; ``rate(x)`` -> ``[B, ...]``."""

    name = "base"
    takes_sequence = False  # True when the input is already [T, B, ...]
    stochastic = False

    def encode(self, x: torch.Tensor, timesteps: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def rate(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def reseed(self, seed: int | None = None) -> None:
        """Restart the noise stream (from ``seed``, or the encoder's own seed); no-op without noise."""

    def noise_state(self, device: torch.device) -> torch.Tensor | None:
        """The state of the noise stream on ``device`` (None: no noise, or not replayable)."""
        return None

    def set_noise_state(self, device: torch.device, state: torch.Tensor) -> None:
        raise ValueError(f"state: the {self.name} encoder has no noise stream to set")


class DirectEncoder(Encoder):
    name = "direct"

    def encode(self, x: torch.Tensor, timesteps: int) -> torch.Tensor:
        return x.unsqueeze(0).expand(timesteps, *x.shape)


class PoissonEncoder(Encoder):
    """Bernoulli spikes with p = x at every step; seeded; straight-through gradient."""

    name = "poisson"
    stochastic = True

    def __init__(self, seed: int = 0) -> None:
        self.seed = check_seed("seed", seed)
        self._generators: dict[torch.device, torch.Generator] = {}

    def reseed(self, seed: int | None = None) -> None:
        """Restart the noise stream (from ``seed``, or the encoder's own seed)."""
        if seed is not None:
            self.seed = check_seed("seed", seed)
        self._generators.clear()

    def _generator(self, device: torch.device) -> torch.Generator:
        gen = self._generators.get(device)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            self._generators[device] = gen
        return gen

    def noise_state(self, device: torch.device) -> torch.Tensor:
        return self._generator(torch.device(device)).get_state()

    def set_noise_state(self, device: torch.device, state: torch.Tensor) -> None:
        self._generator(torch.device(device)).set_state(state)

    def encode(self, x: torch.Tensor, timesteps: int) -> torch.Tensor:
        noise = torch.rand((timesteps, *x.shape), generator=self._generator(x.device), device=x.device, dtype=x.dtype)
        spikes = (noise < x.detach()).to(x.dtype)
        xs = x.unsqueeze(0).expand_as(spikes)
        return xs + (spikes - xs).detach()  # value: spikes; gradient: identity (STE)


class SpikeInput(Encoder):
    """Event/spike input that is already ``[T, B, ...]``; the rate is the time average."""

    name = "spikes"
    takes_sequence = True

    def encode(self, x: torch.Tensor, timesteps: int) -> torch.Tensor:
        return x

    def rate(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(0)


ENCODERS: Registry[Callable[[int], Encoder]] = Registry("encoding")
ENCODERS.register("direct")(lambda seed: DirectEncoder())
ENCODERS.register("poisson", aliases=("bernoulli",))(PoissonEncoder)
ENCODERS.register("spikes")(lambda seed: SpikeInput())


def make_encoder(name: str, seed: int = 0) -> Encoder:
    """Build an encoder by name; ``bernoulli`` is accepted as an alias of ``poisson``."""
    return ENCODERS.make(name, seed)

"""How big a model is before it exists: parameters and activations, measured on PyTorch's
``meta`` device (shapes only, no memory), so a ``--width 100000`` or ``--timesteps 10**8``
can be refused before anything is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import ModelConfig
from .network import build_model

FLOAT_BYTES = 4  # float32


@dataclass(frozen=True)
class Footprint:
    """``parameters``: weight count; ``activations``: elements of every layer output for one
    sample and one time step; ``widest``: the largest single layer output of those."""

    parameters: int
    activations: int
    widest: int

    def parameter_bytes(self) -> int:
        return self.parameters * FLOAT_BYTES

    def inference_bytes(self, timesteps: int, batch: int) -> int:
        """Lower bound of a forward without gradient: the widest layer over ``[T, B]``."""
        return timesteps * batch * self.widest * FLOAT_BYTES

    def gradient_bytes(self, timesteps: int, batch: int) -> int:
        """Lower bound of a forward kept for backpropagation through time: every layer output
        over ``[T, B]`` (autograd stores at least these)."""
        return timesteps * batch * self.activations * FLOAT_BYTES


def footprint(config: ModelConfig) -> Footprint:
    """Build ``config`` on the meta device and run one sample for one time step."""
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config: expected a ModelConfig, got {type(config).__name__}")
    one_step = config.replace(timesteps=1) if config.encoding != "spikes" else config
    with torch.device("meta"):
        model = build_model(one_step)
    sizes: list[int] = []
    leaves = [m for m in model.body.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel()) if isinstance(out, torch.Tensor)
                                     else None) for m in leaves]
    steps = 1 if config.encoding != "spikes" else config.timesteps
    lead = (steps, 1) if model.takes_sequence else (1,)
    try:
        with torch.no_grad():
            model(torch.zeros(*lead, *model.input_shape, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    parameters = sum(p.numel() for p in model.parameters())
    return Footprint(parameters, sum(sizes) // steps, max(sizes, default=0) // steps)

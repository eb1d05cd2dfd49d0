"""How big a model is before it exists, and whether a run of it fits the device.

Parameters and activations are measured on PyTorch's ``meta`` device (shapes only, no
memory): the body alone runs on a ``[T, 1, C, H, W]`` meta tensor, so every encoder works
(a Poisson encoder's generator never sees the meta device) and batch-norm, in eval mode,
never sees a batch. :func:`check_fits` refuses, before anything is allocated, a run whose
lower bound (weights + T x batch x activations) exceeds the device's free memory: the
CLI's flags, a checkpoint's stored config and an experiment's model tables all pass here
before a model is built, and the message names what made the run large.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..device import available_memory
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
    """Build ``config`` on the meta device and run its body on one sample for one time step
    (spike input: its T frames). ``ValueError`` naming ``arch_options`` / ``input_size`` when
    the architecture cannot be built with those options or does not fit that input."""
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config: expected a ModelConfig, got {type(config).__name__}")
    one_step = config.replace(timesteps=1) if config.encoding != "spikes" else config
    try:
        with torch.device("meta"):
            model = build_model(one_step)
    except (RuntimeError, TypeError, OverflowError) as exc:  # e.g. a negative or absurd layer size
        raise ValueError(f"arch_options: {config.arch} cannot be built with {dict(config.arch_options)} "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())})") from exc
    model.eval()  # batch-norm on a batch of one is fine in eval mode
    sizes: list[int] = []
    leaves = [m for m in model.body.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel()) if isinstance(out, torch.Tensor)
                                     else None) for m in leaves]
    steps = config.timesteps if config.encoding == "spikes" else 1
    try:
        with torch.no_grad():
            model.body(torch.zeros(steps, 1, *model.input_shape, device="meta"))
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"input_size: {config.arch} does not run on inputs of shape {model.input_shape} (choose "
                         f"another --arch or --resize) ({type(exc).__name__}: {' '.join(str(exc).split())})") from exc
    finally:
        for h in hooks:
            h.remove()
    parameters = sum(p.numel() for p in model.parameters())
    return Footprint(parameters, sum(sizes) // steps, max(sizes, default=0) // steps)


def check_fits(config: ModelConfig, device: torch.device | str, *, batch: int, gradient: bool,
               timesteps: int | None = None, flags: dict[str, bool] | None = None, origin: str | None = None) -> None:
    """Refuse (``ValueError``), before allocating anything, a run of ``config`` whose lower-bound
    memory exceeds what ``device`` has free.

    ``batch`` inputs at ``timesteps`` steps (default: the config's), kept for a backward when
    ``gradient`` (then weights count four times: weights, gradients, two Adam moments).
    ``flags`` maps each size flag the run has (``--width``, ``--timesteps``, ``--batch-size``,
    ``--time-extend``) to whether the user set it; the message names those set. When none is
    set, ``origin`` (``"checkpoint 'm.pt'"``, ``"models.snn"``) is named with the stored
    values that make the model large (and ``--batch-size`` as the remedy when the run has it);
    without an origin, ``--batch-size``.
    """
    size = footprint(config)
    device = torch.device(device)
    free = available_memory(device)
    steps = timesteps if timesteps is not None else (config.timesteps if config.is_spiking else 1)
    params = size.parameter_bytes() * (4 if gradient else 1)
    acts = (size.gradient_bytes if gradient else size.inference_bytes)(steps, batch)
    if params + acts <= free:
        return
    flags = flags or {}
    named = [flag for flag, given in flags.items() if given]
    if params > free:
        named = [f for f in named if f == "--width"] or named
    per_step = size.activations if gradient else size.widest
    need = (f"the run needs at least {_gib(params + acts)} ({size.parameters:,} parameters, T={steps} x batch {batch} "
            f"x {per_step:,} activations per step) but {device} has {_gib(free)} free")
    if named:
        raise ValueError(f"{'/'.join(named)}: {need}; reduce {' or '.join(named)}")
    if origin is not None:
        stored = f"timesteps={config.timesteps}" if config.is_spiking else "the architecture"
        if config.arch_options:
            stored += f", arch_options={dict(config.arch_options)}"
        remedy = "; reduce --batch-size" if "--batch-size" in flags else ""
        raise ValueError(f"{origin}: its model ({config.arch}, {stored}) is too large for this run: {need}{remedy}")
    raise ValueError(f"--batch-size: {need}; reduce --batch-size")


def _gib(n: int) -> str:
    return f"{n / 2 ** 30:,.1f} GiB"

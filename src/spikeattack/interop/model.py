"""``wrap(model, ...)``: a foreign spiking network as a :class:`SpikingModel` that cannot be read wrongly.

The network is deep-copied and every foreign neuron in the copy is replaced by the
spikeattack neuron its adapter returns (:mod:`.registry`); the user's layers stay as they
are. The result is a :class:`~spikeattack.interop.ForeignModel`, so every attack, estimator,
``evaluate`` and the bench accept it: STBP is autograd through the same equations, and the
rate-path estimators probe and switch the converted neurons exactly as in a native model.

``time`` (who runs the time loop) and ``readout`` (how the output becomes logits) are
described in :mod:`.foreign`. Left out, they are decided on a probe batch (:mod:`.reading`);
given, they are checked on it. Either way the wrapped model's probe predictions are then
compared with the original network's own forward, run the same way from a fresh state, and
NaN/inf logits are refused: a network whose output cannot be read is an error, never a score.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import torch
from torch import nn

from .._checks import check_int
from ..models import ModelConfig
from ..neurons import MembraneLIFNeuron, StepLIFNeuron
from .foreign import READOUTS, TIMES, ForeignModel
from .reading import candidate_times, check_against_original, choose, make_probe, neuron_kind, probe_batch
from .registry import convert_neurons

__all__ = ["READOUTS", "TIMES", "ForeignModel", "wrap"]


def _copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model``; state tensors that still carry autograd history (an snnTorch
    membrane left by the last training step) are copied detached, so the copy never fails and
    the user's network is not touched."""
    memo: dict[int, Any] = {}
    for m in model.modules():
        for value in [*vars(m).values(), *m._buffers.values()]:
            if isinstance(value, torch.Tensor) and value.grad_fn is not None:
                memo[id(value)] = value.detach().clone()
    return copy.deepcopy(model, memo)


def _input_shape(value: Any) -> tuple[int, int, int]:
    bad = ValueError(f"input_shape: expected (C, H, W), three integers >= 1, got {value!r}")
    if not isinstance(value, (tuple, list, torch.Size)) or len(value) != 3:
        raise bad
    try:
        return tuple(check_int("input_shape", v, 1) for v in value)  # type: ignore[return-value]
    except ValueError:
        raise bad from None


def _statistics(name: str, value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    values = (value,) if isinstance(value, (int, float)) else value
    try:
        floats = tuple(float(v) for v in values if not isinstance(v, (bool, str)))
    except (TypeError, ValueError):
        floats = ()
    if not floats or len(floats) != len(values) or not all(math.isfinite(v) for v in floats):
        raise ValueError(f"{name}: expected finite numbers (one per channel, or one), got {value!r}")
    if name == "std" and any(v <= 0 for v in floats):
        raise ValueError(f"std: expected values > 0, got {value!r}")
    return floats


def wrap(model: nn.Module, *, timesteps: int, input_shape: tuple[int, int, int], num_classes: int,
         time: str | None = None, readout: str | Callable[[Any], torch.Tensor] | None = None,
         encoding: str = "direct", mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
         encoder_seed: int = 0, name: str | None = None) -> ForeignModel:
    """A copy of ``model`` with its neurons converted, as a :class:`SpikingModel` in eval mode.

    ``input_shape`` is ``(C, H, W)`` of one input; ``timesteps`` the number of steps (the
    network's own T with ``time="inside"``); ``num_classes`` the number of logits;
    ``encoding`` (``direct``, ``poisson``, ``spikes``) and ``mean``/``std`` as in
    :class:`ModelConfig`. ``time`` and ``readout`` (see :mod:`.foreign`): ``None`` decides them
    on a probe batch (:mod:`.reading`); a given one is checked there. An unknown neuron type,
    a network that fails on ``input_shape``, an output that does not fit ``num_classes``, no
    or more than one reading, NaN/inf logits, or predictions that differ from the network's
    own: a one-line ``ValueError`` naming the argument.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    timesteps = check_int("timesteps", timesteps, 1)
    shape = _input_shape(input_shape)
    num_classes = check_int("num_classes", num_classes, 2)
    if time is not None and time not in TIMES:
        raise ValueError(f"time: expected one of {TIMES} or None (decided on a probe), got {time!r}")
    if not (readout is None or callable(readout) or readout in READOUTS):
        raise ValueError(f"readout: expected one of {READOUTS}, a callable or None (decided on a probe), "
                         f"got {readout!r}")
    if time == "inside" and encoding != "direct":
        raise ValueError(f"encoding: a network that runs its own time loop gets the images (direct), got {encoding!r}")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"name: expected a string, got {type(name).__name__}")
    config = ModelConfig(arch=f"interop:{name or type(model).__name__}", in_channels=shape[0],
                         input_size=shape[1:], num_classes=num_classes, timesteps=timesteps, encoding=encoding,
                         encoder_seed=check_int("encoder_seed", encoder_seed, 0), mean=_statistics("mean", mean),
                         std=_statistics("std", std))

    body = _copy(model)
    neurons = convert_neurons(body)
    if not neurons:
        raise ValueError(f"model: no spiking neuron found in {type(model).__name__}; a neuron type spikeattack does not "
                         "know must be registered with spikeattack.interop.register_neuron")
    allowed = candidate_times(neurons, "direct")
    if time is not None and time not in allowed:
        kinds = "/".join(sorted({neuron_kind(n) for n in neurons}))
        raise ValueError(f"time: {time!r} does not fit a network of {kinds} neurons; expected one of {allowed}")
    if readout == "membrane" and not isinstance(neurons[-1], (MembraneLIFNeuron, StepLIFNeuron)):
        raise ValueError("readout: 'membrane' needs a last neuron that returns its membrane (snnTorch style)")
    if readout == "membrane" and len(neurons) < 2:
        raise ValueError("readout: 'membrane' leaves no spiking layer besides the readout neuron")

    param = next(body.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    provisional = ForeignModel(body, neurons, config, time or allowed[0], "logits").to(device).eval()
    probe = make_probe(provisional, probe_batch(timesteps, num_classes, shape))
    reading = choose(provisional, neurons, probe, time, readout)
    if not bool(torch.isfinite(reading.logits).all()):
        raise ValueError(f"model: the network's logits on a probe batch are not finite (NaN or inf) "
                         f"with {reading.name}")
    readout_name = reading.readout if isinstance(reading.readout, str) else "callable"
    config = config.replace(arch_options={"time": reading.time, "readout": readout_name})
    wrapped = ForeignModel(body, neurons, config, reading.time, reading.readout).to(device).eval()
    original = _copy(model).to(device).eval()
    check_against_original(wrapped, original, probe, reading)
    return wrapped

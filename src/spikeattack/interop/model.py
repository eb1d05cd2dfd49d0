"""``wrap(model, ...)``: a foreign spiking network as a :class:`SpikingModel`.

The network is deep-copied and every foreign neuron in the copy is replaced by the
spikeattack neuron its adapter returns (:mod:`.registry`); the user's layers stay as they
are. The result is a :class:`SpikingModel`, so every attack, estimator, ``evaluate`` and the
bench accept it: STBP is autograd through the same equations, and the rate-path
estimators probe and switch the converted neurons exactly as in a native model.

Who runs the time loop (``time``):

- ``"sequence"``: the network maps ``[T, B, ...]`` to a time-first output (SpikingJelly
  multi-step). The wrapper encodes the images; the rate network runs once on ``[1, B, ...]``.
- ``"step"``: the network maps one step ``[B, ...]`` to one step's output (SpikingJelly
  single-step, snnTorch ``nn.Sequential`` with ``init_hidden=True``). The wrapper calls it T times
  from a fresh state (``functional.reset_net`` / ``utils.reset`` semantics) and stacks the
  outputs; the rate network is one call.
- ``"inside"``: the network's own ``forward`` takes the (normalised) images ``[B, C, H, W]``
  and runs its own loop over a T it fixes itself (snnTorch's tutorial style, or a
  SpikingJelly net that repeats its input). The rate network then runs through that loop
  too: T identical steps instead of one, so the rate path costs T times the rate network
  instead of once (measured in ``perf/interop_overhead.py``). ``timesteps`` must be the
  network's own T; it cannot be overridden.

Default: ``"sequence"`` when every converted neuron is multi-step, ``"step"`` when every one
keeps its state, ``"inside"`` when they are handed their membranes.

``readout`` turns the network's output into logits ``[B, classes]``: ``"mean"`` (time average
of the output, or of its first element when it returns a tuple ``(spikes, membrane)``: the
spike rate; SpikingModel's own readout), ``"count"`` (time sum: the spike count),
``"membrane"`` (time average of the membrane, the second element of the tuple), ``"logits"``
(the output as it is, for a network that decodes itself), or a callable ``output -> logits``.
With ``"membrane"`` the last neuron (in module order) is the readout, not a spiking layer:
on the rate path it passes its input current through (its time-averaged membrane is, up to
a positive factor, linear in a constant current while it does not fire; a firing readout's
reset is ignored there), and the estimators do not count it among the spiking layers.
On the rate path a ``"count"`` readout of one rate step is multiplied by T, so the rate
network's logits have the spiking logits' scale.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import nn

from ..encoding import make_encoder
from ..models import ModelConfig, SpikingModel
from ..neurons import LIFNeuron, MembraneLIFNeuron, StepLIFNeuron
from .registry import convert_neurons

TIMES = ("sequence", "step", "inside")
READOUTS = ("mean", "count", "membrane", "logits")


def _time_major(output: Any, index: int) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        return output[index]
    if index:
        raise ValueError("readout: 'membrane' needs the network to return (spikes, membrane)")
    return output


def _stack(outputs: list) -> Any:
    if isinstance(outputs[0], (tuple, list)):
        return type(outputs[0])(torch.stack(parts) for parts in zip(*outputs))
    return torch.stack(outputs)


class ForeignModel(SpikingModel):
    """A converted foreign network (``body``) behind SpikingModel's interface; build with :func:`wrap`."""

    def __init__(self, body: nn.Module, neurons: list[LIFNeuron], config: ModelConfig, time: str,
                 readout: str | Callable[[Any], torch.Tensor]) -> None:
        nn.Module.__init__(self)  # SpikingModel.__init__ builds a registered architecture; here it is given
        self.config = config
        self.body = body
        self.encoder = make_encoder(config.encoding, config.encoder_seed)
        self.timesteps = config.timesteps
        self.time, self.readout = time, readout
        self._readout_neuron = neurons[-1] if readout == "membrane" else None
        self._step_neurons = [n for n in neurons if isinstance(n, StepLIFNeuron)]
        self._register_normalisation(config)

    def spiking_neurons(self) -> list[LIFNeuron]:
        seen, out = set(), []
        for m in self.body.modules():
            if isinstance(m, LIFNeuron) and m is not self._readout_neuron and id(m) not in seen:
                seen.add(id(m))
                out.append(m)
        return out

    def _logits(self, output: Any, steps: int) -> torch.Tensor:
        readout = self.readout
        if callable(readout):
            return readout(output)
        if readout == "logits":
            return output
        series = _time_major(output, 1 if readout == "membrane" else 0)
        if readout == "count":
            return series.sum(0) * (self.timesteps / steps if self.time != "inside" else 1)
        return series.mean(0)

    def _run(self, x: torch.Tensor, sequence: torch.Tensor | None) -> torch.Tensor:
        for n in self._step_neurons:  # a fresh state every forward (functional.reset_net / utils.reset)
            n.reset_state()
        try:
            if self.time == "inside":
                return self._logits(self.body(x), self.timesteps)
            if self.time == "sequence":
                return self._logits(self.body(sequence), sequence.shape[0])
            outputs = [self.body(x_t) for x_t in sequence.unbind(0)]
            return self._logits(_stack(outputs), len(outputs))
        finally:
            for n in self._step_neurons:
                n.reset_state()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.time == "inside":
            self.check_input(x)
            return self._run(self._normalise(x), None)
        return self._run(None, self.encode(x))

    def rate_forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        missing = [i for i, n in enumerate(self.spiking_neurons()) if n.rate_fn is None]
        if missing:
            raise RuntimeError(f"rate_forward: spiking layers {missing} are not in rate mode")
        rate = self.encoder.rate(self._normalise(x))
        readout = self._readout_neuron
        if readout is not None:
            readout.rate_fn = lambda h: h
        try:
            return self._run(rate, None if self.time == "inside" else rate.unsqueeze(0))
        finally:
            if readout is not None:
                readout.rate_fn = None

    def override_timesteps(self, timesteps: int):
        if self.time == "inside":
            raise ValueError("timesteps: this model's own forward fixes T (time='inside'); it cannot be overridden")
        return super().override_timesteps(timesteps)

    def twin(self, config: ModelConfig) -> SpikingModel:
        raise ValueError("config: a wrapped foreign model has no twin built from a config; "
                         "the cba estimator runs its ANN path on the model itself")


def wrap(model: nn.Module, *, timesteps: int, input_shape: tuple[int, int, int], num_classes: int,
         time: str | None = None, readout: str | Callable[[Any], torch.Tensor] = "mean",
         encoding: str = "direct", mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
         encoder_seed: int = 0, name: str | None = None) -> ForeignModel:
    """A copy of ``model`` with its neurons converted, as a :class:`SpikingModel` in eval mode.

    ``input_shape`` is ``(C, H, W)`` of one input; ``timesteps`` the number of steps
    (the network's own T with ``time="inside"``); ``encoding`` (``direct``, ``poisson``,
    ``spikes``) and ``mean``/``std`` as in :class:`ModelConfig`. See the module docstring
    for ``time`` and ``readout``. An unknown neuron type is a ``ValueError`` naming it.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else ()
    if len(shape) != 3:
        raise ValueError(f"input_shape: expected (C, H, W), got {input_shape!r}")
    if not (callable(readout) or readout in READOUTS):
        raise ValueError(f"readout: expected one of {READOUTS} or a callable, got {readout!r}")
    if time is not None and time not in TIMES:
        raise ValueError(f"time: expected one of {TIMES} or None (detect), got {time!r}")
    body = copy.deepcopy(model)
    neurons = convert_neurons(body)
    if not neurons:
        raise ValueError(f"model: no spiking neuron found in {type(model).__name__}; a neuron type spikeattack does not "
                         "know must be registered with spikeattack.interop.register_neuron")
    kinds = {type(n) for n in neurons}
    if time is None:
        if kinds == {LIFNeuron}:
            time = "sequence"
        elif kinds == {StepLIFNeuron}:
            time = "step"
        elif MembraneLIFNeuron in kinds:
            time = "inside"
        else:
            raise ValueError("time: the network mixes multi-step and single-step neurons; give time= explicitly")
    if readout == "logits" and time != "inside":
        raise ValueError(f"readout: 'logits' is for a network that runs its own time loop (time='inside'); "
                         f"with time={time!r} the output is per time step: use 'mean', 'count' or 'membrane'")
    if time == "inside" and encoding != "direct":
        raise ValueError(f"encoding: a network that runs its own time loop gets the images (direct), got {encoding!r}")
    if readout == "membrane" and not isinstance(neurons[-1], (MembraneLIFNeuron, StepLIFNeuron)):
        raise ValueError("readout: 'membrane' needs a last neuron that returns its membrane (snnTorch style)")
    if readout == "membrane" and len(neurons) < 2:
        raise ValueError("readout: 'membrane' leaves no spiking layer besides the readout neuron")
    config = ModelConfig(arch=f"interop:{name or type(model).__name__}", in_channels=int(shape[0]),
                         input_size=(int(shape[1]), int(shape[2])), num_classes=num_classes, timesteps=timesteps,
                         encoding=encoding, encoder_seed=encoder_seed, mean=mean, std=std,
                         arch_options={"time": time, "readout": readout if isinstance(readout, str) else "callable"})
    wrapped = ForeignModel(body, neurons, config, time, readout)
    param = next(body.parameters(), None)
    if param is not None:
        wrapped = wrapped.to(param.device)
    return wrapped.eval()

"""``ForeignModel``: a converted foreign spiking network behind :class:`SpikingModel`'s interface.

Who runs the time loop (``time``):

- ``"sequence"``: the network maps ``[T, B, ...]`` to a time-first output (SpikingJelly
  multi-step). The wrapper encodes the images; the rate network runs once on ``[1, B, ...]``.
- ``"step"``: the network maps one step ``[B, ...]`` to one step's output (SpikingJelly
  single-step, snnTorch ``nn.Sequential`` with ``init_hidden=True``). The wrapper calls it T times
  from a fresh state (``functional.reset_net`` / ``utils.reset`` semantics) and stacks the
  outputs; the rate network is one call.
- ``"inside"``: the network's own ``forward`` takes the (normalised) images ``[B, C, H, W]``
  and runs its own loop over a T it fixes itself (snnTorch's tutorial style, or SpikingJelly's
  tutorial CSNN that repeats its input). The rate network then runs through that loop too:
  T identical steps instead of one, so the rate path costs T times the rate network instead
  of once (measured by the ``interop_overhead.py`` performance script). ``timesteps`` must be the network's
  own T; it cannot be overridden.

``readout`` turns the network's output into logits ``[B, classes]``: ``"mean"`` (time average
of the output, or of its first element when it returns a tuple ``(spikes, membrane)``: the
spike rate; SpikingModel's own readout), ``"count"`` (time sum: the spike count),
``"membrane"`` (time average of the membrane, the second element of the tuple), ``"logits"``
(the output as it is, ``[B, classes]``, for a network that decodes itself), or a callable
``output -> logits``. With ``"membrane"`` the last neuron (in module order) is the readout,
not a spiking layer: on the rate path it passes its input current through (its time-averaged
membrane is, up to a positive factor, linear in a constant current while it does not fire; a
firing readout's reset is ignored there), and the estimators do not count it among the spiking
layers. On the rate path a ``"count"`` readout of one rate step is multiplied by T, so the
rate network's logits have the spiking logits' scale.

Every forward, spiking or rate, checks that the logits are ``[B, num_classes]``: an output
read the wrong way (a ``[B, K]`` output averaged over the batch) is an error, never a number.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ..encoding import make_encoder
from ..models import ModelConfig, SpikingModel
from ..neurons import LIFNeuron, StepLIFNeuron

TIMES = ("sequence", "step", "inside")
READOUTS = ("mean", "count", "membrane", "logits")

Readout = str | Callable[[Any], torch.Tensor]


def describe(output: Any) -> str:
    """A network output's layout for messages: ``[5, 10]``, ``([4, 5, 10], [4, 5, 10])``."""
    if isinstance(output, torch.Tensor):
        return f"[{', '.join(str(s) for s in output.shape)}]"
    if isinstance(output, (tuple, list)):
        return "(" + ", ".join(describe(o) for o in output) + ("," if len(output) == 1 else "") + ")"
    return type(output).__name__


def time_series(output: Any, readout: str) -> torch.Tensor:
    """The time-first tensor a ``mean``/``count`` (first element) or ``membrane`` (second) readout reduces."""
    index = 1 if readout == "membrane" else 0
    if isinstance(output, (tuple, list)):
        if len(output) <= index:
            raise ValueError(f"readout: {readout!r} needs the network to return (spikes, membrane), "
                             f"got {describe(output)}")
        output = output[index]
    elif index:
        raise ValueError(f"readout: 'membrane' needs the network to return (spikes, membrane), got {describe(output)}")
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"readout: {readout!r} needs a tensor output, got {describe(output)}")
    return output


def read_out(output: Any, readout: Readout, count_scale: float = 1.0) -> torch.Tensor:
    """Logits from a network's raw output (``count_scale`` multiplies a ``count``)."""
    if callable(readout):
        return readout(output)
    if readout == "logits":
        return output
    series = time_series(output, readout)
    if readout == "count":
        return series.sum(0) * count_scale
    return series.mean(0)


def stack_steps(outputs: list) -> Any:
    """One call's outputs per step, stacked time-first (tuples element-wise)."""
    if isinstance(outputs[0], (tuple, list)):
        return type(outputs[0])(torch.stack(parts) for parts in zip(*outputs))
    return torch.stack(outputs)


def drive(net: nn.Module, time: str, x: torch.Tensor | None, sequence: torch.Tensor | None,
          reset: Callable[[], None]) -> Any:
    """``net``'s raw output run the way ``time`` says, from a fresh state (``reset`` before and after):
    ``net(x)`` (inside), ``net(sequence)`` (sequence), or ``net(x_t)`` per step, stacked (step)."""
    reset()
    try:
        if time == "inside":
            return net(x)
        if time == "sequence":
            return net(sequence)
        return stack_steps([net(x_t) for x_t in sequence.unbind(0)])
    finally:
        reset()


class ForeignModel(SpikingModel):
    """A converted foreign network (``body``) behind SpikingModel's interface; build with
    :func:`~spikeattack.interop.wrap`."""

    def __init__(self, body: nn.Module, neurons: list[LIFNeuron], config: ModelConfig, time: str,
                 readout: Readout) -> None:
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

    def _reset_steps(self) -> None:  # a fresh state every forward (functional.reset_net / utils.reset)
        for n in self._step_neurons:
            n.reset_state()

    def model_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """What the body is driven with: the normalised images (``inside``) or the encoded sequence."""
        if self.time == "inside":
            self.check_input(x)
            return self._normalise(x), None
        return None, self.encode(x)

    def raw_output(self, x: torch.Tensor | None, sequence: torch.Tensor | None) -> Any:
        """The body's output before the readout (:func:`drive` under this model's ``time``)."""
        return drive(self.body, self.time, x, sequence, self._reset_steps)

    def logits(self, output: Any, steps: int, batch: int) -> torch.Tensor:
        """The readout of ``output`` (``steps`` time steps), checked to be ``[batch, num_classes]``."""
        scale = self.timesteps / steps if self.time != "inside" else 1.0
        logits = read_out(output, self.readout, scale)
        want = (batch, self.num_classes)
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != want:
            name = self.readout if isinstance(self.readout, str) else "callable"
            raise ValueError(f"readout: the network's output {describe(output)} read with readout={name!r} "
                             f"(time={self.time!r}) gives {describe(logits)}, expected logits "
                             f"[{want[0]}, {want[1]}] ([B, num_classes])")
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images, sequence = self.model_inputs(x)
        steps = self.timesteps if sequence is None else sequence.shape[0]
        return self.logits(self.raw_output(images, sequence), steps, x.shape[-4])

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
            output = self.raw_output(rate, None if self.time == "inside" else rate.unsqueeze(0))
            return self.logits(output, self.timesteps if self.time == "inside" else 1, x.shape[-4])
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

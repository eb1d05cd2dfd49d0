"""How to read a foreign network: ``time`` and ``readout`` decided (or checked) on a probe input.

The converted network runs on a seeded probe batch of ``B`` inputs of ``input_shape`` (``B`` chosen
unlike ``T``, ``num_classes``, ``C``, ``H`` and ``W``, so a time axis, a batch axis and a class axis
cannot be mistaken for one another) under every ``time`` its neurons allow:

============================  ===============================  ==================================
converted neurons             ``time`` candidates (in order)   what each one runs
============================  ===============================  ==================================
multi-step (``LIFNeuron``)    ``sequence``, ``inside``         ``net([T, B, ...])``, ``net([B, ...])``
single-step, state kept       ``step``, ``inside``             ``net(x_t)`` T times, ``net([B, ...])``
membrane passed (or a mix)    ``inside``                       ``net([B, ...])``
============================  ===============================  ==================================

(``inside`` only with direct encoding.) A reading fits when every neuron that ran ran exactly
``timesteps`` steps (a multi-step call on ``T`` steps, or ``T`` single-step calls) and the output
has the readout's layout: ``[B, K]`` for ``logits``; time-first ``[T, B, K]`` (or a tuple whose
first element is, snnTorch's ``(spk, mem)``) for ``mean``/``count``; the tuple's second element
``[T, B, K]`` for ``membrane``; ``K = num_classes``. Without ``readout=``, a ``[B, K]`` tensor is
read as ``logits`` and a time-first output by ``mean`` (the spike rate, as snnTorch's
``accuracy_rate`` and SpikingJelly's ``out_fr`` read it); ``count`` and ``membrane`` are used only
when asked for. One fitting reading is taken; several that give the same logits, the first in
the order above; several that disagree, or none, are a ``ValueError`` naming
``time``/``readout`` (or ``num_classes``, ``timesteps``, ``input_shape``) with what each reading
saw. An exception raised by the user's code under a reading is caught and reported as what that
reading saw. Every probe runs under ``torch.no_grad`` with the global RNG forked and seeded, so
randomness inside the user's forward is the same for every run and the caller's RNG is untouched.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..encoding import make_encoder
from ..neurons import LIFNeuron, MembraneLIFNeuron, StepLIFNeuron
from .foreign import ForeignModel, Readout, describe, drive, time_series
from .frameworks import reset_foreign_states

PROBE_SEED = 0


def probe_batch(timesteps: int, num_classes: int, input_shape: tuple[int, int, int]) -> int:
    """The probe's batch size: the smallest ``B >= 5`` equal to none of ``T``, ``K``, ``C``, ``H``, ``W``."""
    taken = {timesteps, num_classes, *input_shape}
    b = 5
    while b in taken:
        b += 1
    return b


@contextlib.contextmanager
def seeded(device: torch.device) -> Iterator[None]:
    """No gradient, and the global RNG forked and seeded: the same draws for every probe run."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(PROBE_SEED)
        yield


@dataclass
class Probe:
    """A seeded probe batch: the model's input, the normalised images a network with its own time
    loop gets, and the encoded sequence ``[T, B, ...]`` the others get (one draw, shared by every run)."""

    inputs: torch.Tensor
    images: torch.Tensor | None
    sequence: torch.Tensor | None

    @property
    def batch(self) -> int:
        return self.inputs.shape[-4]


def make_probe(model: ForeignModel, batch: int) -> Probe:
    """Seeded inputs ``[B, C, H, W]`` in [0, 1] (binary frames ``[T, B, C, H, W]`` for spike input),
    on the model's device and in its dtype, encoded by a fresh encoder of the model's kind."""
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.get_default_dtype()
    device = param.device if param is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(PROBE_SEED)
    if model.takes_sequence:
        x = (torch.rand((model.timesteps, batch, *model.input_shape), generator=gen) < 0.3).to(dtype)
    else:
        x = torch.rand((batch, *model.input_shape), generator=gen, dtype=dtype)
    x = x.to(device)
    encoder = model.encoder
    model.encoder = make_encoder(model.config.encoding, model.config.encoder_seed)
    try:
        with seeded(device):
            sequence = model.encode(x)
    finally:
        model.encoder = encoder
    images = model._normalise(x) if model.config.encoding == "direct" else None
    return Probe(x, images, sequence)


def neuron_kind(n: LIFNeuron) -> str:
    if isinstance(n, MembraneLIFNeuron):
        return "membrane-passing"
    if isinstance(n, StepLIFNeuron):
        return "single-step"
    return "multi-step"


def candidate_times(neurons: list[LIFNeuron], encoding: str) -> tuple[str, ...]:
    """The ``time`` readings the converted neurons allow, in order of preference."""
    kinds = {neuron_kind(n) for n in neurons}
    times: tuple[str, ...] = ("inside",)
    if kinds == {"multi-step"}:
        times = ("sequence", "inside")
    elif kinds == {"single-step"}:
        times = ("step", "inside")
    return tuple(t for t in times if t != "inside" or encoding == "direct")


@contextlib.contextmanager
def counting_steps(neurons: list[LIFNeuron]) -> Iterator[list[list[int]]]:
    """Per neuron, the input's leading size at each call while inside (hooks, removed after)."""
    calls: list[list[int]] = [[] for _ in neurons]

    def hook(i: int) -> Callable:
        def record(module: nn.Module, args: tuple) -> None:
            x = args[0] if args else None
            calls[i].append(int(x.shape[0]) if isinstance(x, torch.Tensor) and x.dim() else 0)
        return record

    handles = [n.register_forward_pre_hook(hook(i)) for i, n in enumerate(neurons)]
    try:
        yield calls
    finally:
        for h in handles:
            h.remove()


def steps_run(neurons: list[LIFNeuron], calls: list[list[int]]) -> set[int]:
    """The time steps each neuron that ran ran: a multi-step call's ``T``; a single-step neuron's calls."""
    ran: set[int] = set()
    for n, sizes in zip(neurons, calls):
        if not sizes:
            continue
        if neuron_kind(n) == "multi-step":
            ran.update(sizes)
        else:
            ran.add(len(sizes))
    return ran


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"raised {type(exc).__name__}: {text[:200]}{'...' if len(text) > 200 else ''}"


@dataclass
class Reading:
    """One way to read the network, and what the probe saw under it."""

    time: str
    readout: Readout | None = None
    logits: torch.Tensor | None = None
    problem: str = ""  # empty: the reading fits
    blame: str = ""  # the argument the problem is about
    error: BaseException | None = None

    @property
    def name(self) -> str:
        readout = self.readout if self.readout is None or isinstance(self.readout, str) else "callable"
        return f"time={self.time!r}" + (f", readout={readout!r}" if readout is not None else "")


def check_steps(reading: Reading, ran: set[int], timesteps: int, batch: int) -> bool:
    """Whether every neuron that ran ran ``timesteps`` steps; sets the problem if not (blaming
    ``timesteps`` for a loop of the network's own that runs another T, else ``time``)."""
    if ran == {timesteps}:
        return True
    if not ran:
        reading.problem, reading.blame = "no spiking neuron ran", "time"
        return False
    counts = "/".join(map(str, sorted(ran)))
    reading.problem = f"the neurons ran {counts} step(s) per forward, not timesteps={timesteps}"
    own_loop = reading.time == "inside" and len(ran) == 1 and not ran & {1, batch}
    reading.blame = "timesteps" if own_loop else "time"
    return False


def check_layout(reading: Reading, output: Any, timesteps: int, batch: int, num_classes: int) -> bool:
    """Whether ``output`` has the layout ``reading.readout`` reads; sets the problem if not."""
    readout = reading.readout
    if callable(readout):
        return True  # its logits are checked
    if readout == "logits":
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        if shape is None or len(shape) != 2 or shape[0] != batch:
            reading.problem = f"output {describe(output)} is not [B, K] = [{batch}, {num_classes}]"
            reading.blame = "readout"
            return False
        series_classes = shape[1]
    else:
        try:
            series = time_series(output, readout)
        except ValueError:
            series = None
        which = "second element" if readout == "membrane" else "output"
        if series is None or series.dim() != 3 or series.shape[1] != batch:
            reading.problem = (f"output {describe(output)}: its {which} is not time-first "
                               f"[T, B, K] = [{timesteps}, {batch}, {num_classes}]")
            reading.blame = "readout"
            return False
        if series.shape[0] != timesteps:
            reading.problem = f"output {describe(output)} has {series.shape[0]} time steps, not timesteps={timesteps}"
            reading.blame = "timesteps" if reading.time == "inside" else "time"
            return False
        series_classes = series.shape[2]
    if series_classes != num_classes:
        reading.problem = f"output {describe(output)}: {series_classes} classes, not num_classes={num_classes}"
        reading.blame = "num_classes"
        return False
    return True


def read(model: ForeignModel, neurons: list[LIFNeuron], time: str, readout: Readout | None, probe: Probe) -> Reading:
    """How ``model.body`` reads under ``time`` (``readout`` given, or inferred from the output)."""
    batch = probe.batch
    reading = Reading(time, readout)
    runner = ForeignModel(model.body, neurons, model.config, time, "logits")
    try:
        with seeded(probe.inputs.device), counting_steps(neurons) as calls:
            output = runner.raw_output(probe.images, probe.sequence)
    except Exception as exc:  # the user's code, under a reading that may not be its own
        reading.problem, reading.blame, reading.error = one_line(exc), "input_shape", exc
        return reading
    if not check_steps(reading, steps_run(neurons, calls), model.timesteps, batch):
        return reading
    if readout is None:
        matrix = isinstance(output, torch.Tensor) and output.dim() == 2
        reading.readout = "logits" if matrix else "mean"
    if not check_layout(reading, output, model.timesteps, batch, model.num_classes):
        return reading
    chosen = ForeignModel(model.body, neurons, model.config, time, reading.readout)
    try:
        reading.logits = chosen.logits(output, model.timesteps, batch)
    except Exception as exc:  # the logits' shape, or a callable readout of the user's
        ours = isinstance(exc, ValueError) and str(exc).startswith("readout: ")
        reading.problem = str(exc).partition(": ")[2] if ours else one_line(exc)
        reading.blame, reading.error = "readout", None if ours else exc
    return reading


def refusal(readings: list[Reading], time: str | None, readout: Readout | None, context: str) -> ValueError:
    """The one-line error when no reading fits: the arguments to blame, then what each reading saw."""
    ran = [r for r in readings if r.error is None or r.blame != "input_shape"]
    if any(r.blame == "num_classes" for r in ran):  # that reading fits but for the class count
        blame = ["num_classes"]
    elif ran:
        blame = list(dict.fromkeys(r.blame for r in ran))
        if len(readings) > 1 and "time" not in blame:  # there was a choice of time
            blame.append("time")
    else:  # every reading raised inside the user's code: the input, or (if there was a choice) the reading
        blame = ["input_shape", "time"] if time is not None or len(readings) > 1 else ["input_shape"]
    seen = "; ".join(f"{r.name}: {r.problem}" for r in readings)
    hint = ""
    if {"time", "readout"} & set(blame) and (time is None or readout is None):
        hint = " (time= and readout= choose a reading)"
    return ValueError(f"{'/'.join(blame)}: no reading of the network's output fits {context}: {seen}{hint}")


def choose(model: ForeignModel, neurons: list[LIFNeuron], probe: Probe, time: str | None,
           readout: Readout | None) -> Reading:
    """The one reading of the network that fits the probe (see the module docstring)."""
    times = (time,) if time is not None else candidate_times(neurons, model.config.encoding)
    readings = [read(model, neurons, t, readout, probe) for t in times]
    fits = [r for r in readings if not r.problem]
    context = (f"timesteps={model.timesteps}, num_classes={model.num_classes} on a probe batch "
               f"{describe(probe.inputs)}")
    if not fits:
        error = refusal(readings, time, readout, context)
        cause = next((r.error for r in readings if r.error is not None), None)
        raise error from cause
    first = fits[0]
    differ = [r for r in fits[1:] if not torch.allclose(r.logits, first.logits, rtol=1e-5, atol=1e-6)]
    if differ:
        seen = "; ".join(f"{r.name} predicts {r.logits.argmax(1).tolist()}" for r in fits)
        raise ValueError(f"time/readout: the network's output can be read more than one way and the readings "
                         f"disagree on a probe batch: {seen}; give time= and readout=")
    return first


def check_against_original(model: ForeignModel, original: nn.Module, probe: Probe, reading: Reading) -> None:
    """The wrapped model's probe predictions must be the original network's own, run the same way
    from a fresh state; near-ties of the original's logits are not compared (one spike more or
    less, float rounding)."""
    try:
        with seeded(probe.inputs.device):
            output = drive(original, reading.time, probe.images, probe.sequence, lambda: reset_foreign_states(original))
        want = model.logits(output, model.timesteps, probe.batch)
    except Exception as exc:
        raise ValueError(f"model: the original network fails where the converted one runs ({reading.name}): "
                         f"{one_line(exc)}") from exc
    got = reading.logits
    top = want.topk(2, dim=1).values
    tolerance = 1e-3 * max(1.0, float(want.abs().max()))
    decisive = (top[:, 0] - top[:, 1]) > tolerance
    disagree = decisive & (got.argmax(1) != want.argmax(1))
    if bool(disagree.any()):
        raise ValueError(f"model: the wrapped network predicts {got.argmax(1).tolist()} on a probe batch, its own "
                         f"forward ({reading.name}) {want.argmax(1).tolist()}: a converted neuron does not compute "
                         "what the original does, or the forward keeps a state spikeattack does not reset")

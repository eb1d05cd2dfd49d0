"""Multi-step leaky integrate-and-fire (LIF / IF) neuron on ``[T, B, ...]`` currents.

Dynamics (Bu et al. CVPR 2023 eq. 3-6; Liang et al. TNNLS 2021 eq. 1-2), per time step t:

    m(t) = decay * u(t-1) + x(t)            # charge (membrane before firing)
    s(t) = H(m(t) - threshold)              # fire; H has a surrogate derivative
    u(t) = m(t) * (1 - s(t)) + v_reset * s(t)   # reset="hard"
    u(t) = m(t) - threshold * s(t)              # reset="soft"

``decay = 1`` is the IF neuron. Every forward starts from a fresh state
(``u(0) = v_reset`` for hard reset, ``0`` for soft reset; with the default
``v_reset = 0`` both are the zero state), so nothing leaks between batches.

Options that foreign frameworks need (``spikeattack.interop``; the defaults keep the
equations above):

- ``reset="subtract"`` (snnTorch's ``reset_mechanism="subtract"``): the threshold is
  subtracted at the *next* step, after the leak: ``m(t) = decay * m(t-1) + x(t) - threshold * s(t-1)``
  (the soft reset subtracts ``decay * threshold``); ``reset="none"``: ``u(t) = m(t)``.
- ``detach_reset``: the spike inside the reset carries no gradient (SpikingJelly's
  ``detach_reset``; snnTorch always detaches it): ``u(t) = m(t) - threshold * sg(s(t))``.
- ``strict``: fire on ``m(t) > threshold`` (snnTorch) instead of ``>=`` (SpikingJelly, ours).
- ``decay_input`` and ``v_rest`` (SpikingJelly's charge, Fang et al. 2021): with ``decay = 1 - 1/tau``,
  ``m(t) = u + (x(t) - (u - v_rest)) / tau`` when ``decay_input``, else
  ``m(t) = u - (u - v_rest) / tau + x(t)``; ``v_rest`` (the potential the membrane leaks toward,
  SpikingJelly's ``v_reset`` or 0 for its soft reset) defaults to 0, where the second form is
  ``decay * u + x(t)``. ``input_gain`` (``1/tau`` with ``decay_input``, else 1) is ``dm(t)/dx(t)``.

:meth:`LIFNeuron.reference_forward` is the specification (one autograd node per step);
the forward runs the fused equivalent (:mod:`.fused`: one node per layer, hand-written
BPTT backward, or a preallocated no-graph loop) whenever :meth:`LIFNeuron.fused_supported`.

Two hooks serve the gradient estimators (a layer above) without the neuron knowing them:

- ``probe``: a :class:`NeuronProbe` that records per-neuron statistics of the next
  spiking forward (mean input current, firing rate, time-averaged surrogate derivative);
- ``rate_fn``: when set, the neuron is in *rate mode*: its input is the rate network's
  pre-activation ``[1, B, ...]`` and it returns ``rate_fn(input)`` instead of spiking.
"""

from __future__ import annotations

from typing import Callable, ClassVar

import torch
from torch import nn

from .._checks import check_number
from .._declare import keep_declaration_honest
from .fused import FusedLIF, lif_sequence
from .probe import NeuronProbe
from .surrogate import Rectangular, Surrogate, spike

RESETS = ("hard", "soft")  # a ModelConfig's resets
NEURON_RESETS = RESETS + ("subtract", "none")  # also snnTorch's (spikeattack.interop)


def _check_float(name: str, value: float) -> float:
    return check_number(name, value)


class LIFNeuron(nn.Module):
    """Multi-step LIF neuron; ``decay=1.0`` gives IF. Input and output ``[T, B, ...]``."""

    #: whether the step dynamics are this class's (so the fused path computes them); a subclass
    #: that overrides them without declaring ``fused_dynamics`` itself runs the reference loop
    fused_dynamics: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        keep_declaration_honest(cls, "fused_dynamics", ("initial_state", "charge", "after_fire", "step"), False)

    def __init__(
        self,
        decay: float = 1.0,
        threshold: float = 1.0,
        reset: str = "hard",
        v_reset: float = 0.0,
        surrogate: Surrogate | None = None,
        *,
        detach_reset: bool = False,
        strict: bool = False,
        decay_input: bool = False,
        v_rest: float = 0.0,
    ) -> None:
        super().__init__()
        for name, flag in (("detach_reset", detach_reset), ("strict", strict), ("decay_input", decay_input)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name}: expected True or False, got {flag!r}")
        self.detach_reset, self.strict, self.decay_input = detach_reset, strict, decay_input
        self.v_rest = _check_float("v_rest", v_rest)
        self.decay = decay
        self.threshold = threshold
        if reset not in NEURON_RESETS:
            raise ValueError(f"reset: expected one of {NEURON_RESETS}, got {reset!r}")
        self.reset = reset
        self.v_reset = _check_float("v_reset", v_reset)
        if surrogate is not None and not isinstance(surrogate, Surrogate):
            raise ValueError(f"surrogate: expected a Surrogate, got {type(surrogate).__name__}")
        self.surrogate = surrogate if surrogate is not None else Rectangular(1.0)
        self.probe: NeuronProbe | None = None
        #: run the fused path where it applies (False: always the reference loop)
        self.fused = True
        self.rate_fn: Callable[[torch.Tensor], torch.Tensor] | None = None

    # Validated on every assignment, so a context manager that overrides them is checked too.
    @property
    def decay(self) -> float:
        return self._decay

    @decay.setter
    def decay(self, value: float) -> None:
        value = _check_float("decay", value)
        if not 0.0 < value <= 1.0:
            raise ValueError(f"decay: expected a value in (0, 1], got {value}")
        self._decay = value

    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        value = _check_float("threshold", value)
        if value <= 0:
            raise ValueError(f"threshold: expected a value > 0, got {value}")
        self._threshold = value

    def extra_repr(self) -> str:
        return (
            f"decay={self.decay}, threshold={self.threshold}, reset={self.reset!r}, "
            f"v_reset={self.v_reset}, surrogate={self.surrogate}"
            + "".join(f", {k}={getattr(self, k)}" for k in ("detach_reset", "strict", "decay_input", "v_rest")
                      if getattr(self, k))
        )

    @property
    def input_gain(self) -> float:
        """``dm(t) / dx(t)``: ``1 - decay`` (``1/tau``) with ``decay_input``, else 1."""
        return 1.0 - self.decay if self.decay_input else 1.0

    # One time step, shared by the multi-step loop and the single-step neurons of ``step.py``.
    # The state is ``(u, r)``: the membrane after the reset and, for ``reset="subtract"``,
    # the spike whose threshold is still to be subtracted (else None).
    def initial_state(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.reset == "hard":
            return torch.full_like(like, self.v_reset), None
        return torch.zeros_like(like), None

    def charge(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.decay_input:
            return u + (x - (u - self.v_rest)) * (1.0 - self.decay)
        if self.v_rest != 0.0:
            return u - (u - self.v_rest) * (1.0 - self.decay) + x
        return self.decay * u + x

    def after_fire(self, m: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The state after the spike ``s`` of membrane ``m`` (the reset)."""
        s = s.detach() if self.detach_reset else s
        if self.reset == "hard":
            return m * (1 - s) + self.v_reset * s, None
        if self.reset == "soft":
            return m - self.threshold * s, None
        return m, (s if self.reset == "subtract" else None)

    def step(self, x: torch.Tensor, state: tuple, t: int = 0) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """One step (time index ``t``, for adaptive surrogates): ``(spikes, membrane m(t), next state)``."""
        u, pending = state
        m = self.charge(u, x)
        if pending is not None:
            m = m - self.threshold * pending
        v = m - self.threshold
        s = spike(v, self.surrogate.at_step(v, t), strict=self.strict)
        return s, m, self.after_fire(m, s)

    def fused_supported(self) -> bool:
        """Whether the fused path implements every option this neuron has.

        True when ``fused`` is on, the reset is ``hard`` or ``soft``, and ``detach_reset``,
        ``strict``, ``decay_input`` and ``v_rest`` have their defaults (False, False, False,
        0), the class declares these dynamics (``fused_dynamics``), and the surrogate is the
        same at every time step (it declares ``time_invariant``; ASSG's per-step sharpness
        does not).
        """
        return (self.fused and self.fused_dynamics and self.reset in RESETS and not self.detach_reset
                and not self.strict and not self.decay_input and self.v_rest == 0.0
                and self.surrogate.time_invariant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate_fn is not None:
            return self.rate_fn(x)
        if x.dim() < 2:
            raise ValueError(f"input: expected a [T, B, ...] tensor, got shape {tuple(x.shape)}")
        if not self.fused_supported():
            return self.reference_forward(x)
        hard = self.reset == "hard"
        if torch.is_grad_enabled() and x.requires_grad:
            return FusedLIF.apply(x, self.decay, self.threshold, hard, self.v_reset, self.surrogate, self.probe)
        return lif_sequence(x.detach(), self.decay, self.threshold, hard, self.v_reset, self.probe)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The specification: the dynamics step by step, autograd through every operation."""
        state = self.initial_state(x[0])
        probe, out = self.probe, []
        for t, x_t in enumerate(x.unbind(0)):
            s, m, state = self.step(x_t, state, t)
            if probe is not None:
                probe.observe(x_t, m, s, self.threshold)
            out.append(s)
        return torch.stack(out)


class ReLUNeuron(nn.Module):
    """The ANN twin's activation in place of a spiking neuron: ``max(x, 0)``, no state."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

"""Single-step LIF neurons: one time step per call, for models whose own code runs the time loop.

:class:`LIFNeuron` takes a whole ``[T, B, ...]`` sequence. SpikingJelly's single-step mode
and snnTorch call the neuron once per step instead, so the state lives between calls:

- :class:`StepLIFNeuron` keeps it inside (SpikingJelly ``step_mode="s"``, snnTorch
  ``init_hidden=True``): ``neuron(x_t) -> s_t`` (``(s_t, m_t)`` with ``returns_membrane``);
  :meth:`reset_state` starts a fresh sequence (``functional.reset_net`` / ``utils.reset``).
- :class:`MembraneLIFNeuron` is handed the membrane explicitly (snnTorch's tutorial style):
  ``neuron(x_t, mem) -> (s_t, m_t)``, ``mem`` being the previous call's ``m`` (before the reset,
  as snnTorch returns it); the previous spike is recomputed from it (snnTorch's ``mem_reset``).

Both run :meth:`LIFNeuron.step`, so the dynamics, the options and the estimator hooks
(``probe`` observes every call; with ``rate_fn`` set a call returns ``rate_fn(x_t)``) are
those of :class:`LIFNeuron`. In rate mode the returned membrane is the rate itself.
"""

from __future__ import annotations

import torch

from .lif import LIFNeuron


class StepLIFNeuron(LIFNeuron):
    """LIF neuron called once per time step, with its state kept between calls."""

    def __init__(self, *args, returns_membrane: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.returns_membrane = bool(returns_membrane)
        self._state: tuple | None = None
        self._t = 0  # the time index of the next call (adaptive surrogates keep statistics per step)

    def reset_state(self) -> None:
        self._state = None

    def _output(self, s: torch.Tensor, m: torch.Tensor):
        return (s, m) if self.returns_membrane else s

    def forward(self, x: torch.Tensor):  # type: ignore[override]
        if self.rate_fn is not None:
            r = self.rate_fn(x)
            return self._output(r, r)
        if self._state is None or self._state[0].shape != x.shape:
            self._state, self._t = self.initial_state(x), 0
        s, m, self._state = self.step(x, self._state, self._t)
        self._t += 1
        if self.probe is not None:
            self.probe.observe(x, m, s, self.threshold)
        return self._output(s, m)


class MembraneLIFNeuron(LIFNeuron):
    """LIF neuron called as ``neuron(x_t, mem) -> (spikes, mem)`` (snnTorch without ``init_hidden``).

    Only the reset modes whose state is a function of the returned membrane are possible:
    ``subtract``, ``none`` and ``hard`` with ``v_reset = 0`` and ``detach_reset`` (snnTorch's
    ``zero``). ``init_leaky()``/``reset_mem()`` return an empty tensor: a fresh start.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not (self.reset in ("subtract", "none") or (self.reset == "hard" and self.v_reset == 0.0)):
            raise ValueError(f"reset: a membrane-passing neuron needs 'subtract', 'none' or 'hard' with v_reset=0, "
                             f"got {self.reset!r} (v_reset={self.v_reset})")

    def init_leaky(self) -> torch.Tensor:
        return torch.zeros(0)

    reset_mem = init_leaky

    def forward(self, x: torch.Tensor, mem: torch.Tensor | None = None):  # type: ignore[override]
        if self.rate_fn is not None:
            r = self.rate_fn(x)
            return r, r
        if mem is None or mem.shape != x.shape:
            state = self.initial_state(x)
        else:  # the previous step's spike, recomputed from its membrane, gives the reset
            s_prev = (mem - self.threshold > 0) if self.strict else (mem - self.threshold >= 0)
            state = self.after_fire(mem, s_prev.to(mem.dtype))
        s, m, _ = self.step(x, state)
        if self.probe is not None:
            self.probe.observe(x, m, s, self.threshold)
        return s, m

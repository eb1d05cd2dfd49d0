"""Per-neuron statistics of one multi-step spiking forward, for the rate-path estimators.

A :class:`NeuronProbe` set on a neuron's ``probe`` observes every step ``t`` of the next
forward and keeps running sums, in place, of what the estimators ask for:

- ``mean_current`` = (1/T) sum_t x(t) (RGA's mean input current, Bu et al. CVPR 2023);
- ``rate`` = (1/T) sum_t s(t) (BPTR's ``rate > 0``, Ding et al. NeurIPS 2022);
- ``mean_surrogate`` = (1/T) sum_t sigma'(m(t) - threshold) (HART's gain, Hao et al. ICLR 2024),
  for one or several surrogates in the same forward.

Every sum runs in the order of the steps, so each statistic is bitwise the same whichever
loop (reference, fused, single-step) fed the probe. A statistic nobody asked for can be left
out (``current=False``, ``rate=False``): it then costs nothing during the forward.
"""

from __future__ import annotations

import torch

from .surrogate import Surrogate, Triangle


class NeuronProbe:
    """Accumulates one neuron layer's statistics over a multi-step forward.

    After the forward: ``mean_current`` = (1/T) sum_t x(t) (when ``current``), ``rate`` =
    (1/T) sum_t s(t) (when ``rate``), ``mean_surrogate`` = (1/T) sum_t surrogate'(m(t) -
    threshold) (only when a ``surrogate`` was given), each of shape ``[B, ...]``. Several
    surrogates can be recorded in the same forward (``surrogates``, e.g. HART with several
    gammas); :meth:`view` gives the probe of one of them. Sums are accumulated in place; the
    triangles share one ``|m(t) - threshold|`` per step.
    """

    def __init__(self, surrogate: Surrogate | None = None, surrogates: tuple[Surrogate, ...] = (), *,
                 current: bool = True, rate: bool = True) -> None:
        for name, flag in (("current", current), ("rate", rate)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name}: expected a bool, got {flag!r}")
        self.surrogate = surrogate
        self.surrogates = tuple(dict.fromkeys(((surrogate,) if surrogate is not None else ()) + tuple(surrogates)))
        self.records_current, self.records_rate = current, rate
        self.steps = 0
        self._current: torch.Tensor | None = None
        self._spikes: torch.Tensor | None = None
        self._surrogate_sums: dict[Surrogate, torch.Tensor] = {}
        # HART's triangles share one |u| per step; any other surrogate gets u = m - threshold
        self._triangles = tuple(s for s in self.surrogates if type(s) is Triangle)
        self._others = tuple(s for s in self.surrogates if type(s) is not Triangle)
        self._u: torch.Tensor | None = None  # scratch: u, then |u|
        self._work: torch.Tensor | None = None  # scratch of all triangles but the last

    def observe(self, current: torch.Tensor, membrane: torch.Tensor, spikes: torch.Tensor, threshold: float) -> None:
        """Add step ``t``'s input current ``x(t)``, membrane ``m(t)`` and spikes ``s(t)``."""
        current, membrane, spikes = current.detach(), membrane.detach(), spikes.detach()
        first = self.steps == 0
        if self.records_current:
            self._current = current.clone() if first else self._current.add_(current)  # type: ignore[union-attr]
        if self.records_rate:
            self._spikes = spikes.clone() if first else self._spikes.add_(spikes)  # type: ignore[union-attr]
        if self.surrogates:
            if self._u is None or self._u.shape != membrane.shape:
                self._u = torch.empty_like(membrane)
            u = torch.sub(membrane, threshold, out=self._u)
            for s in self._others:
                d, total = s.derivative(u), self._surrogate_sums.get(s)
                self._surrogate_sums[s] = d if total is None else total.add_(d)
            if self._triangles:
                abs_u = u.abs_()  # one |m - threshold| for every triangle
                for i, s in enumerate(self._triangles):
                    last = i == len(self._triangles) - 1  # the last one may overwrite |u|
                    if not last and (self._work is None or self._work.shape != u.shape):
                        self._work = torch.empty_like(u)
                    self._surrogate_sums[s] = s.accumulate(self._surrogate_sums.get(s), abs_u,
                                                           abs_u if last else self._work)  # type: ignore[arg-type]
        self.steps += 1

    def view(self, surrogate: Surrogate | None) -> "NeuronProbe":
        """The statistics seen by a probe of ``surrogate`` alone (shares the sums)."""
        if surrogate is not None and surrogate not in self.surrogates:
            raise ValueError(f"surrogate: {surrogate} was not recorded by this probe")
        other = NeuronProbe(surrogate, current=self.records_current, rate=self.records_rate)
        other.steps, other._current, other._spikes = self.steps, self._current, self._spikes
        if surrogate is not None and surrogate in self._surrogate_sums:
            other._surrogate_sums = {surrogate: self._surrogate_sums[surrogate]}
        return other

    @property
    def _surrogate(self) -> torch.Tensor | None:
        return None if self.surrogate is None else self._surrogate_sums.get(self.surrogate)

    def _mean(self, total: torch.Tensor | None, what: str, recorded: bool = True) -> torch.Tensor:
        if not recorded:
            raise RuntimeError(f"NeuronProbe: {what} not recorded (the probe was made with {what.split()[0]}=False)")
        if total is None:
            raise RuntimeError(f"NeuronProbe: no {what} recorded (no forward observed, or no surrogate given)")
        return total / self.steps

    @property
    def mean_current(self) -> torch.Tensor:
        return self._mean(self._current, "current", self.records_current)

    @property
    def rate(self) -> torch.Tensor:
        return self._mean(self._spikes, "rate (spikes)", self.records_rate)

    @property
    def mean_surrogate(self) -> torch.Tensor:
        return self._mean(self._surrogate, "surrogate derivative")

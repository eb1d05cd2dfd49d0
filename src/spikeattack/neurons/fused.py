"""Fused multi-step LIF: one autograd node per layer with a hand-written BPTT backward.

The reference is :meth:`LIFNeuron.reference_forward` (one autograd node per step and
operation). Here the whole ``[T, B, ...]`` sequence is one :class:`torch.autograd.Function`
that saves only the membrane ``m(t)`` (spikes are recomputed as ``m(t) >= threshold``),
which cuts the tape and STBP's peak memory. With ``u = m - threshold`` the backward
unrolls, from ``t = T`` down to 1 (``du`` = dL/du(t), zero after the last step)::

    hard:  ds = g_s(t) + du * (v_reset - m(t)),   dm = ds * sigma'(u) + du * (1 - s(t))
    soft:  ds = g_s(t) - du * threshold,          dm = ds * sigma'(u) + du
    dL/dx(t) = dm,   dL/du(t-1) = decay * dm

— the chain rule through ``m(t) = decay u(t-1) + x(t)``, ``s(t) = H(u)`` and the reset
(Wu et al. 2018, eq. 5-8, with the reset path kept as in Bu et al. CVPR 2023, eq. 3-6).

The no-graph path (:func:`lif_sequence`) writes into a preallocated output and updates the
membrane in place. ``torch.compile`` of the per-step charge-fire-reset kernel is opt-in
(``set_compile("always")``) or automatic on CUDA tensors only (``"auto"``, the default):
on this project's CPUs it compiles for 40-180 s and gains about 1.2x on the LIF part only.
A compile failure falls back to eager, logged once.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Callable

import torch

from .surrogate import EXACT_SCALAR_DTYPES, Surrogate

if TYPE_CHECKING:  # pragma: no cover
    from .probe import NeuronProbe

log = logging.getLogger(__name__)

COMPILE_MODES = ("auto", "always", "never")
_compile_mode = os.environ.get("SPIKEATTACK_COMPILE", "auto")
_compiled: Callable | None = None
_compile_failed = False


def set_compile(mode: str) -> None:
    """``"auto"``: compile the LIF step for CUDA tensors only; ``"always"``; ``"never"``.

    The environment variable ``SPIKEATTACK_COMPILE`` sets the initial mode.
    """
    global _compile_mode
    if mode not in COMPILE_MODES:
        raise ValueError(f"mode: expected one of {COMPILE_MODES}, got {mode!r}")
    _compile_mode = mode


def _step(u: torch.Tensor, x: torch.Tensor, decay: float, threshold: float, hard: bool, v_reset: float
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One charge-fire-reset step: ``(m, s, u_next)``."""
    m = decay * u + x
    s = (m - threshold >= 0).to(m.dtype)
    u_next = m * (1 - s) + v_reset * s if hard else m - threshold * s
    return m, s, u_next


def _step_fn(device: torch.device) -> Callable:
    """The eager step, or its compiled form where the compile mode asks for it and it works."""
    global _compiled, _compile_failed
    wanted = _compile_mode == "always" or (_compile_mode == "auto" and device.type == "cuda")
    if not wanted or _compile_failed:
        return _step
    if _compiled is None:
        try:
            _compiled = torch.compile(_step, dynamic=True)
        except Exception as exc:  # noqa: BLE001 - any compiler failure means eager
            _compile_failed = True
            log.warning("torch.compile of the LIF step unavailable (%s); using the eager step", exc)
            return _step
    return _guarded


def _guarded(*args):
    global _compile_failed
    try:
        return _compiled(*args)  # type: ignore[misc]
    except Exception as exc:  # noqa: BLE001 - the first call compiles; a failure means eager
        _compile_failed = True
        log.warning("compiled LIF step failed (%s: %s); falling back to the eager step", type(exc).__name__, exc)
        return _step(*args)


def lif_sequence(x: torch.Tensor, decay: float, threshold: float, hard: bool, v_reset: float,
                 probe: "NeuronProbe | None" = None, membranes: torch.Tensor | None = None) -> torch.Tensor:
    """Spikes ``[T, B, ...]`` of the LIF dynamics without an autograd graph.

    The output is preallocated and every step writes into it; ``membranes`` (same shape),
    when given, receives ``m(t)``. ``probe`` observes every step. The eager loop keeps one
    state buffer and updates it in place (no temporaries), bitwise equal to the reference:

    - charge ``decay * u + x(t)``: ``mul_`` then ``add_`` (a fused multiply-add would round
      once and differ); at t = 0 with the zero state it is ``x(0) + 0``;
    - fire: ``m >= threshold`` (the same as ``m - threshold >= 0`` in IEEE arithmetic) written
      straight into the float output (on CPU a bool mask, its cast and ``masked_fill`` cost
      3-15x a multiplication);
    - hard reset ``m * (1 - s) + v_reset * s`` as ``m * [m < threshold]`` (``v_reset * s``
      added where nonzero: an exact product, so its fused addition rounds the same); with
      ``v_reset = 0`` and a leak, the reset and the next step's decay are one exact factor,
      ``u(t) * decay = m * (decay - decay * s)``; soft reset ``m - threshold * s``; no reset
      after the last step.

    Per step four passes over ``[B, ...]`` (hard reset to 0 or soft reset), none allocating.
    """
    out = torch.empty_like(x)
    step = _step_fn(x.device)
    if step is not _step:  # compiled kernel: returns fresh tensors
        u = torch.full_like(x[0], v_reset) if hard else torch.zeros_like(x[0])
        for t, x_t in enumerate(x.unbind(0)):
            m, s, u = step(u, x_t, decay, threshold, hard, v_reset)
            out[t] = s
            if membranes is not None:
                membranes[t] = m
            if probe is not None:
                probe.observe(x_t, m, out[t], threshold)
        return out
    last = x.shape[0] - 1
    # hard reset to 0 with a leak: the reset's (1 - s) and the next step's decay are one factor,
    # decay * (1 - s) = decay - decay * s (decay or +0, exact), so u(t) is stored already decayed
    # (float32/float64 only: float16/bfloat16 arithmetic takes a Python scalar at float32 precision)
    fold = hard and v_reset == 0.0 and decay != 1.0 and x.dtype in EXACT_SCALAR_DTYPES
    below = torch.empty_like(x[0]) if hard and last > 0 else None  # 1 - s(t), or decay * (1 - s(t))
    decay_t = x.new_full((), decay) if fold else None
    v: torch.Tensor | None = None  # the state u(t-1); without ``membranes`` also m(t), in place
    for t, x_t in enumerate(x.unbind(0)):
        into = membranes[t] if membranes is not None else None
        if t == 0:
            if hard and v_reset != 0.0:
                v = torch.full_like(x_t, v_reset)
                if decay != 1.0:
                    v.mul_(decay)
                m = torch.add(v, x_t, out=into) if into is not None else v.add_(x_t)
            else:  # decay * 0 + x(0): adding zero turns -0 into +0 as the reference does
                m = torch.add(x_t, 0.0, out=into)
                v = m if into is None else None
        else:
            assert v is not None
            if decay != 1.0 and not fold:
                v.mul_(decay)
            m = torch.add(v, x_t, out=into) if into is not None else v.add_(x_t)
        s = torch.ge(m, threshold, out=out[t])  # a float output: no bool tensor, no cast
        if probe is not None:
            probe.observe(x_t, m, s, threshold)
        if t == last:
            break
        if v is None:
            v = torch.empty_like(m)
        if fold:
            torch.mul(m, torch.add(decay_t, s, alpha=-decay, out=below), out=v)
        elif hard:
            torch.mul(m, torch.lt(m, threshold, out=below), out=v)  # m < threshold is 1 - s
            if v_reset != 0.0:
                v.add_(s, alpha=v_reset)
        else:
            torch.sub(m, s, alpha=threshold, out=v)
    return out


class FusedLIF(torch.autograd.Function):
    """Multi-step LIF with the hand-written BPTT backward of the module docstring."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, decay: float, threshold: float, hard: bool, v_reset: float,  # type: ignore[override]
                surrogate: Surrogate, probe: "NeuronProbe | None") -> torch.Tensor:
        membranes = torch.empty_like(x)
        out = lif_sequence(x, decay, threshold, hard, v_reset, probe, membranes)
        ctx.save_for_backward(membranes)
        ctx.params = (decay, threshold, hard, v_reset, surrogate)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (membranes,) = ctx.saved_tensors
        decay, threshold, hard, v_reset, surrogate = ctx.params
        grad_in = torch.empty_like(membranes)
        below = torch.empty_like(membranes[0])  # 1 - s(t), as floats
        du = None
        for t in range(membranes.shape[0] - 1, -1, -1):
            m, g = membranes[t], grad_out[t]
            sg = surrogate.derivative(m - threshold)
            if du is None:
                dm = torch.mul(g, sg, out=grad_in[t])
            else:
                if hard:  # ds = g + du (v_reset - m);  dm = ds sg + du (1 - s)
                    ds = torch.addcmul(g, du, v_reset - m)
                    carry = du.mul_(torch.lt(m, threshold, out=below))
                else:     # ds = g - du threshold;       dm = ds sg + du
                    ds = torch.sub(g, du, alpha=threshold)
                    carry = du
                dm = torch.addcmul(carry, ds, sg, out=grad_in[t])
            du = dm * decay if decay != 1.0 else dm.clone()
        return grad_in, None, None, None, None, None, None

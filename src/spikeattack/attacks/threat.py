"""Threat models for event inputs: ``L0`` (elements changed) and ``retime`` (events moved in time).

Event frames are binary spike frames (``{0, 1}``) or event-count frames (integers >= 0);
every function here takes them batch-first, ``[B, T, C, H, W]`` (an attack moves the
model's time-first layout to this one).

**L0.** The budget is the number of elements of the ``T*C*H*W`` frame tensor that may
differ from the clean input: an absolute count (``64``, ``"64"``) or a fraction of the
elements (``"1%"``: ``floor(0.01 * T*C*H*W)``). A binary element changes by a flip; a count
element by adding or removing events (it stays an integer >= 0). Metrics: ``flips``
(elements changed per input), ``flip_rate`` (flips / elements) and, for attacks that look
for the fewest flips (SDA), the per-input minimal flips that fool the model, summarised by
quantiles over the inputs fooled (as Boundary's minimal L2).

**retime** (Yu et al. 2026, arXiv 2602.03284): the adversary moves existing events in time
and changes nothing else, so every pixel ``(c, h, w)`` keeps its event count. A pixel's
events keep their order (timeline consistency), so its k-th event in the adversarial frames
is its k-th event in the clean ones; each event's shift ``d = t' - t`` (in bins) is read from
that matching, and three budgets bound it: per-event jitter ``max |d| <= jitter``, total
delay ``sum |d| <= delay``, tamper count ``#{d != 0} <= tamper`` (a count or ``"x%"`` of the
input's events). On binary frames a bin holds at most one event per pixel (capacity 1).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import torch

EVENT_NORMS = ("L0", "retime")
FRAMES = ("binary", "count")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")


def check_event_norm(norm: Any) -> str:
    """``norm`` spelled as in :data:`EVENT_NORMS` (case-insensitive), else a ``ValueError``."""
    if isinstance(norm, str):
        for name in EVENT_NORMS:
            if norm.lower() == name.lower():
                return name
    raise ValueError(f"norm: expected one of {EVENT_NORMS} for event inputs, got {norm!r}")


@dataclass(frozen=True)
class Budget:
    """A count budget: ``count`` elements (or events), or a ``fraction`` of them (``"1%"``)."""

    count: int | None = None
    fraction: float | None = None

    @classmethod
    def parse(cls, value: Any, name: str = "eps") -> "Budget":
        """``64`` / ``"64"`` (a count >= 0) or ``"1%"`` (a percentage in (0, 100])."""
        if isinstance(value, Budget):
            return value
        if isinstance(value, str):
            match = _PERCENT.match(value)
            if match:
                percent = float(match.group(1))
                if not 0 < percent <= 100:
                    raise ValueError(f"{name}: expected a percentage in (0, 100], got {value!r}")
                return cls(fraction=percent / 100)
            if value.strip().isdigit():
                return cls(count=int(value.strip()))
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return cls(count=value)
        raise ValueError(f"{name}: expected a count >= 0 (64) or a percentage ('1%'), got {value!r}")

    def resolve(self, total: int) -> int:
        """The budget as a count, for ``total`` elements (events): ``floor(fraction * total)``."""
        if self.count is not None:
            return self.count
        return math.floor(self.fraction * total + 1e-9)

    def describe(self) -> int | str:
        return self.count if self.count is not None else f"{self.fraction * 100:g}%"


def check_frames(x: torch.Tensor, frames: str, name: str = "x") -> None:
    """``ValueError`` unless ``x`` holds binary (``{0, 1}``) or count (integers >= 0) frames."""
    if frames == "binary":
        if not ((x == 0) | (x == 1)).all():
            raise ValueError(f"{name}: expected binary {{0,1}} event frames")
    elif frames == "count":
        if x.numel() and (x.min() < 0 or not (x == x.round()).all()):
            raise ValueError(f"{name}: expected event-count frames (integers >= 0)")
    else:
        raise ValueError(f"frames: expected one of {FRAMES}, got {frames!r}")


def frames_kind(x: torch.Tensor) -> str:
    """``"binary"`` when every element is 0 or 1, else ``"count"`` (checked by the caller)."""
    return "binary" if bool(((x == 0) | (x == 1)).all()) else "count"


# ---------------------------------------------------------------------------- L0
def flips(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Elements changed per input (L0), batch-first: ``int64 [B]``."""
    return (x_adv != x).flatten(1).sum(1)


def flip_rate(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Flips / elements per input: ``float64 [B]``."""
    return flips(x, x_adv).double() / max(1, x[0].numel())


def minimal_quantiles(minimal: torch.Tensor, fooled: torch.Tensor,
                      qs: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9)) -> dict[str, Any]:
    """Quantiles of the per-input minimal flips over the inputs ``fooled`` (lower interpolation:
    every quantile is a flip count some input needed); ``None`` entries when none was fooled."""
    values = minimal[fooled].double()
    out: dict[str, Any] = {"fooled": int(fooled.sum()), "n": int(fooled.numel())}
    for q in qs:
        out[f"q{round(q * 100)}"] = float(torch.quantile(values, q, interpolation="lower")) if len(values) else None
    out["mean"] = float(values.mean()) if len(values) else None
    return out


def _keep_top(changed: torch.Tensor, priority: torch.Tensor, budget: int) -> torch.Tensor:
    """Per row of ``changed`` ``[B, E]``: the ``budget`` changed elements of highest ``priority``
    (ties: the lower index first), as a mask."""
    if budget >= changed.shape[1]:
        return changed
    score = torch.where(changed, priority.double(), torch.full_like(priority, -math.inf, dtype=torch.float64))
    keep = torch.zeros_like(changed)
    if budget > 0:
        order = torch.sort(score, dim=1, descending=True, stable=True).indices[:, :budget]
        keep.scatter_(1, order, True)
    return keep & changed


def project_flips(x0: torch.Tensor, x: torch.Tensor, budget: int, priority: torch.Tensor | None = None) -> torch.Tensor:
    """Binary frames ``x`` with at most ``budget`` flips from ``x0`` per input: the flips of
    highest ``priority`` (same shape; default: the lowest indices) are kept, the others undone."""
    b = len(x0)
    changed = (x != x0).reshape(b, -1)
    prio = torch.zeros(changed.shape, dtype=torch.float64, device=x.device) if priority is None \
        else priority.reshape(b, -1)
    keep = _keep_top(changed, prio, budget)
    return torch.where(keep.view_as(x), x, x0)


def project_counts(x0: torch.Tensor, x: torch.Tensor, budget: int | None, priority: torch.Tensor | None = None,
                   max_change: int | None = None) -> torch.Tensor:
    """The count frames nearest ``x`` (Euclidean) within the L0 ball of ``budget`` elements
    around ``x0``: rounded to integers, clipped at 0 (and to ``|x - x0| <= max_change``), then
    per input only the ``budget`` elements with the largest ``|x - x0|`` keep their change
    (ties by ``priority``, then by index). Integers >= 0 and the L0 budget hold by construction."""
    delta = x.round() - x0
    if max_change is not None:
        delta = delta.clamp(-max_change, max_change)
    delta = (x0 + delta).clamp_min(0) - x0
    if budget is None:
        return x0 + delta
    b = len(x0)
    mag = delta.abs().reshape(b, -1).double()
    if priority is not None:  # a tie-break below one event
        p = priority.reshape(b, -1).double().abs()
        mag = mag + 0.5 * p / p.amax(1, keepdim=True).clamp_min(1e-300)
    keep = _keep_top(delta.reshape(b, -1) != 0, mag, budget)
    return x0 + torch.where(keep.view_as(delta), delta, torch.zeros_like(delta))


def spike_bim_eps(budget: int, elements: int) -> float:
    """Spike-BIM's ``eps`` (average perturbation per point ``||delta||_2 / N``, Liang et al.)
    that is an L0 budget on binary frames: its Algorithm 1 stops before ``sqrt(flips) / N``
    reaches ``eps``, so ``eps = sqrt(budget + 1/2) / N`` admits exactly ``flips <= budget``."""
    return math.sqrt(budget + 0.5) / elements


# ---------------------------------------------------------------------------- retime
@dataclass(frozen=True)
class RetimeCost:
    """Per input (``[B]`` tensors): whether every pixel kept its event count, the largest
    shift of one event, the total shift and the number of events moved."""

    counts_kept: torch.Tensor
    jitter: torch.Tensor
    delay: torch.Tensor
    tampered: torch.Tensor
    events: torch.Tensor


def event_times(x: torch.Tensor, k: int) -> torch.Tensor:
    """The bin of each pixel's ``k``-th event (1-based), ``[B, pixels]``, from batch-first frames:
    the number of bins whose cumulative count is still below ``k`` (``T`` when there is none)."""
    cum = x.flatten(2).cumsum(1)  # [B, T, pixels]
    return (cum < k).sum(1)


def retime_cost(x0: torch.Tensor, x: torch.Tensor) -> RetimeCost:
    """Shifts of ``x`` against ``x0`` under the order-keeping matching (the module docstring)."""
    c0, c1 = x0.flatten(2).sum(1), x.flatten(2).sum(1)  # [B, pixels]
    kept = (c0 == c1).all(1)
    b = len(x0)
    jitter = torch.zeros(b, dtype=torch.long, device=x0.device)
    delay, tampered = jitter.clone(), jitter.clone()
    top = int(torch.maximum(c0, c1).max()) if c0.numel() else 0
    for k in range(1, top + 1):
        present = (c0 >= k) & (c1 >= k)
        shift = (event_times(x, k) - event_times(x0, k)).abs() * present
        jitter = torch.maximum(jitter, shift.amax(1))
        delay += shift.sum(1)
        tampered += (shift != 0).sum(1)
    return RetimeCost(kept, jitter, delay, tampered, c0.sum(1).long())


@dataclass(frozen=True)
class RetimeBudget:
    """``jitter``: bins an event may move (>= 1); ``delay``: total bins moved (None: unbounded);
    ``tamper``: events moved, a count or ``"x%"`` of the input's events (None: unbounded)."""

    jitter: int = 1
    delay: int | None = None
    tamper: Budget | None = None

    @classmethod
    def make(cls, jitter: Any = 1, delay: Any = None, tamper: Any = None) -> "RetimeBudget":
        if isinstance(jitter, bool) or not isinstance(jitter, int) or jitter < 1:
            raise ValueError(f"jitter: expected an integer >= 1 (time bins), got {jitter!r}")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int) or delay < 0):
            raise ValueError(f"delay: expected None or an integer >= 0 (time bins), got {delay!r}")
        return cls(jitter, delay, None if tamper is None else Budget.parse(tamper, "tamper"))

    def limits(self, events: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per input: (total delay, tamper count) allowed, ``int64 [B]`` (a huge number when unbounded)."""
        big = torch.iinfo(torch.int64).max // 4
        delay = torch.full_like(events, big if self.delay is None else self.delay)
        if self.tamper is None:
            tamper = torch.full_like(events, big)
        else:
            tamper = torch.tensor([self.tamper.resolve(int(e)) for e in events.tolist()], dtype=torch.long,
                                  device=events.device)
        return delay, tamper

    def within(self, cost: RetimeCost) -> torch.Tensor:
        """Per input: counts kept and every budget respected."""
        delay, tamper = self.limits(cost.events)
        return cost.counts_kept & (cost.jitter <= self.jitter) & (cost.delay <= delay) & (cost.tampered <= tamper)

    def describe(self) -> dict[str, Any]:
        return {"jitter": self.jitter, "delay": self.delay,
                "tamper": None if self.tamper is None else self.tamper.describe()}

"""Spike retiming: a timing-only attack on binary event frames (the threat model of Yu et al.,
"Time Is All It Takes: Spike-Retiming Attacks on Event-Driven Spiking Neural Networks",
ICLR 2026, arXiv 2602.03284).

The adversary moves existing events in time and changes nothing else: every pixel keeps its
event count (the input's rate code is untouched), a bin holds at most one event per pixel
(capacity 1), a pixel's events keep their order, and three budgets bound the shifts ``d``
of the events (:class:`~spikeattack.attacks.threat.RetimeBudget`): per-event jitter
``|d| <= jitter``, total delay ``sum |d| <= delay``, tamper count ``#{d != 0} <= tamper``.

The paper optimises shift-probability logits with a strict projection in the loop; this
module is a simpler, greedy first-order search in the same threat model. Per iteration, on
batch-first frames ``x_k`` with the current shift ``s`` of each event and ``g = grad_x L(x_k)``
(cross-entropy, or minus the C&W margin with ``loss="cw"``):

1. every event at ``(t, p)`` may move one bin to ``t' = t - 1`` or ``t + 1`` when ``t'`` is
   inside the window, the pixel's bin ``t'`` is empty and ``|s + t' - t| <= jitter``; the
   first-order gain of the move is ``g[t', p] - g[t, p]``;
2. per pixel the best such move is a candidate (one move per pixel: moves to adjacent empty
   bins cannot cross, so events keep their order and ``s`` stays each event's shift);
3. candidates with a positive gain are taken in decreasing gain, at most ``moves`` (a
   fraction of the input's events, at least one) per iteration, as long as the running total
   delay and tamper count stay within their budgets.

Per input the attack stops at the first iterate that fools the model (its own forward) and
returns it; otherwise the last iterate. Every iterate satisfies the threat model. Per-call
results (CPU, one entry per input): ``jitter``, ``delay``, ``tampered`` (the realised
budgets) and ``success``.
"""

from __future__ import annotations

import math

import torch

from .base import GradientAttack, check_int, check_number
from .sda import CWOrCELoss
from .threat import RetimeBudget, check_frames



class Retime(CWOrCELoss, GradientAttack):
    """``jitter`` (bins, >= 1), ``delay`` (total bins), ``tamper`` (events moved: a count or
    ``"x%"`` of the input's events); ``steps`` (50); ``moves``: fraction of the input's events
    moved per iteration (0.05); ``loss``: ``"ce"`` or ``"cw"``."""

    name = "retime"
    parameters = GradientAttack.parameters + ("jitter", "delay", "tamper", "steps", "moves", "loss")
    image_domain = False
    threat = "retime"

    def __init__(self, model, *, jitter: int = 1, delay: int | None = None, tamper: int | str | None = None,
                 steps: int = 50, moves: float = 0.05, loss: str = "ce", **kwargs) -> None:
        super().__init__(model, **kwargs)
        if not model.takes_sequence:
            raise ValueError("model: retime attacks event frames; it needs a spike-input model (encoding='spikes')")
        self.budget = RetimeBudget.make(jitter, delay, tamper)
        self.steps = check_int("steps", steps)
        self.moves = check_number("moves", moves, low=0, low_open=True, high=1)
        self.set_loss(loss)
        self.jitter: torch.Tensor | None = None
        self.delay: torch.Tensor | None = None
        self.tampered: torch.Tensor | None = None
        self.success: torch.Tensor | None = None

    def check_inputs(self, x: torch.Tensor, y: torch.Tensor) -> None:
        super().check_inputs(x, y)
        check_frames(x, "binary")

    @staticmethod
    def best_moves(x: torch.Tensor, shift: torch.Tensor, g: torch.Tensor, jitter: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Steps 1-2 on ``[B, T, P]`` frames: per pixel the best move's gain, source bin and
        direction (+1 / -1); gain ``-inf`` where the pixel has no allowed move."""
        ninf = torch.full_like(g, -math.inf)
        gains = []
        for d in (-1, 1):
            dest_g = torch.roll(g, -d, dims=1)                   # g[t + d]
            dest_free = torch.roll(x, -d, dims=1) == 0
            inside = torch.ones_like(dest_free)
            if d == 1:
                inside[:, -1] = False
            else:
                inside[:, 0] = False
            ok = (x == 1) & dest_free & inside & ((shift + d).abs() <= jitter)
            gains.append(torch.where(ok, dest_g - g, ninf))
        both = torch.stack(gains)                                # [2, B, T, P]
        gain, which = both.max(0)
        best, src = gain.max(1)                                  # over t: [B, P]
        direction = which.gather(1, src.unsqueeze(1)).squeeze(1) * 2 - 1
        return best, src, direction

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        x0 = x.movedim(1, 0)
        b, steps_t = x0.shape[0], x0.shape[1]
        cur = x0.reshape(b, steps_t, -1).clone()                 # [B, T, P]
        shift = torch.zeros_like(cur, dtype=torch.long)
        events = cur.sum((1, 2)).round().long()
        delay_cap, tamper_cap = self.budget.limits(events)
        delay = torch.zeros(b, dtype=torch.long, device=x.device)
        tampered = torch.zeros_like(delay)
        per_step = torch.clamp((events.double() * self.moves).ceil().long(), min=1)

        def pick(t: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
            return None if t is None else t[idx]

        def to_model(frames: torch.Tensor) -> torch.Tensor:
            return frames.view(len(frames), *x0.shape[1:]).movedim(0, 1)

        with torch.no_grad():
            done = self.is_success(x, y, target)
        self.vanishing = None
        for k in range(self.steps):
            idx = torch.arange(b, device=x.device) if k == 0 else (~done).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            _, grad = self.value_and_grad(to_model(cur[idx]), y[idx], pick(target, idx))
            g = grad.movedim(1, 0).reshape(len(idx), steps_t, -1)
            if k == 0:
                self.vanishing = ((g.flatten(1).abs().amax(1) == 0) & ~done[idx]).cpu()  # fooled: no gradient
                live = ~done[idx]
                idx, g = idx[live], g[live]
                if idx.numel() == 0:
                    break
            gain, src, direction = self.best_moves(cur[idx], shift[idx], g, self.budget.jitter)
            old = shift[idx].gather(1, src.unsqueeze(1)).squeeze(1)        # [n, P]
            new = old + direction
            d_delay = new.abs() - old.abs()
            d_tamper = (new != 0).long() - (old != 0).long()
            order = gain.argsort(1, descending=True)
            sorted_gain = gain.gather(1, order)
            cum_delay = d_delay.gather(1, order).cumsum(1) + delay[idx].view(-1, 1)
            cum_tamper = d_tamper.gather(1, order).cumsum(1) + tampered[idx].view(-1, 1)
            fits = (cum_delay <= delay_cap[idx].view(-1, 1)) & (cum_tamper <= tamper_cap[idx].view(-1, 1))
            rank = torch.arange(order.shape[1], device=x.device).view(1, -1)
            take_sorted = (sorted_gain > 0) & (fits.long().cumprod(1) == 1) & (rank < per_step[idx].view(-1, 1))
            take = torch.zeros_like(take_sorted).scatter(1, order, take_sorted)  # [n, P]
            rows, pix = take.nonzero(as_tuple=True)
            t_from = src[rows, pix]
            t_to = t_from + direction[rows, pix]
            b_rows = idx[rows]
            cur[b_rows, t_from, pix] = 0
            cur[b_rows, t_to, pix] = 1
            shift[b_rows, t_to, pix] = new[rows, pix]
            shift[b_rows, t_from, pix] = 0
            delay[idx] += (d_delay * take).sum(1)
            tampered[idx] += (d_tamper * take).sum(1)
            with torch.no_grad():
                done[idx] = self.is_success(to_model(cur[idx]), y[idx], pick(target, idx))
        if self.vanishing is None:
            self.vanishing = torch.zeros(b, dtype=torch.bool)
        self.jitter = shift.abs().flatten(1).amax(1).cpu() if shift.numel() else torch.zeros(b, dtype=torch.long)
        self.delay, self.tampered, self.success = delay.cpu(), tampered.cpu(), done.cpu()
        return to_model(cur).contiguous()

    def describe(self) -> dict:
        return {**super().describe(), **self.budget.describe(), "steps": self.steps, "moves": self.moves,
                "loss": self.loss_name}

"""Count-frame PGD: a gradient-sign attack on event-count frames under an L0 budget.

Event-count frames hold integers >= 0 (events per pixel, polarity and time bin). The
attack adds or removes whole events. Per iteration, on batch-first inputs ``x_k``::

    x'      = x_k + alpha * sign(grad_x L(x_k))          (alpha: events per step, an integer)
    x_{k+1} = P(x')

with ``L`` the cross-entropy (or minus the C&W margin, ``loss="cw"``) and ``P`` the
projection of :func:`~spikeattack.attacks.threat.project_counts`: the change is clipped so
that counts stay >= 0 (and ``|x - x_0| <= max_change`` per element when given), then only
the ``eps`` elements with the largest change keep it (the Euclidean projection onto the L0
ball around ``x_0``; ties go to the larger ``|grad|``). Every iterate is an integer count
frame within the budget. Per input the attack stops at the first iterate that fools the
model (the model's own forward), which it returns; otherwise the last iterate. Inputs
already misclassified are returned unchanged.

Per-call results (CPU, one entry per input): ``flips`` (elements changed), ``events``
(events added plus removed, the L1 norm) and ``success``.
"""

from __future__ import annotations

import torch

from .base import GradientAttack, check_int
from .sda import CWOrCELoss
from .threat import Budget, check_frames, project_counts



class CountPGD(CWOrCELoss, GradientAttack):
    """``eps``: L0 budget (a count or ``"1%"``; None: unbounded); ``steps``: iterations (25);
    ``alpha``: events added or removed per element and step (1); ``max_change``: optional
    bound on an element's change in events; ``loss``: ``"ce"`` or ``"cw"``."""

    name = "count-pgd"
    parameters = GradientAttack.parameters + ("eps", "steps", "alpha", "max_change", "loss")
    image_domain = False
    threat = "L0"
    l0_eps = True

    def __init__(self, model, *, eps: int | str | None = None, steps: int = 25, alpha: int = 1,
                 max_change: int | None = None, loss: str = "ce", **kwargs) -> None:
        super().__init__(model, **kwargs)
        if not model.takes_sequence:
            raise ValueError("model: count-pgd attacks event frames; it needs a spike-input model (encoding='spikes')")
        self.budget = None if eps is None else Budget.parse(eps)
        self.steps = check_int("steps", steps)
        self.alpha = check_int("alpha", alpha)
        self.max_change = None if max_change is None else check_int("max_change", max_change)
        self.set_loss(loss)
        self.flips: torch.Tensor | None = None
        self.events: torch.Tensor | None = None
        self.success: torch.Tensor | None = None

    def check_inputs(self, x: torch.Tensor, y: torch.Tensor) -> None:
        super().check_inputs(x, y)
        check_frames(x, "count")

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        x0 = x.movedim(1, 0).contiguous()  # [B, T, C, H, W]
        b = len(y)
        budget = None if self.budget is None else self.budget.resolve(x0[0].numel())

        def pick(t: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
            return None if t is None else t[idx]

        cur = x0.clone()
        with torch.no_grad():
            done = self.is_success(x, y, target)
        self.vanishing = None
        for k in range(self.steps):
            idx = torch.arange(b, device=x.device) if k == 0 else (~done).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            _, grad = self.value_and_grad(cur[idx].movedim(0, 1), y[idx], pick(target, idx))
            grad = grad.movedim(1, 0)
            if k == 0:
                self.vanishing = ((grad.flatten(1).abs().amax(1) == 0) & ~done[idx]).cpu()  # fooled: no gradient
                live = ~done[idx]
                idx, grad = idx[live], grad[live]
                if idx.numel() == 0:
                    break
            step = cur[idx] + self.alpha * grad.sign()
            cur[idx] = project_counts(x0[idx], step, budget, priority=grad, max_change=self.max_change)
            with torch.no_grad():
                done[idx] = self.is_success(cur[idx].movedim(0, 1), y[idx], pick(target, idx))
        if self.vanishing is None:
            self.vanishing = torch.zeros(b, dtype=torch.bool)
        delta = (cur - x0).flatten(1)
        self.flips = (delta != 0).sum(1).cpu()
        self.events = delta.abs().sum(1).round().long().cpu()
        self.success = done.cpu()
        return cur.movedim(0, 1).contiguous()

    def describe(self) -> dict:
        return {**super().describe(), "eps": None if self.budget is None else self.budget.describe(),
                "steps": self.steps, "alpha": self.alpha, "max_change": self.max_change, "loss": self.loss_name}

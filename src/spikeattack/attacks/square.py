"""Square attack (Andriushchenko et al., ECCV 2020, "Square Attack: a query-efficient
black-box adversarial attack via random search"), Linf (Alg. 1) and L2 (Alg. 3).

Score-based and gradient-free: it only reads the logits, so it is the check against
masked or obfuscated gradients (AutoAttack's fourth attack; here against surrogate
gradients that vanish). Random search on the margin loss, minimised::

    L(x) = z_y(x) - max_{j != y} z_j(x)      (untargeted; success when L < 0)
    L(x) = max_{j != t} z_j(x) - z_t(x)      (targeted to t)

Each iteration proposes a change of the perturbation inside one random square window of
side ``h = max(round(sqrt(p * H * W)), 1)`` and keeps it when the loss decreases. The share
``p`` starts at ``p_init`` and halves at iterations 10, 50, 200, 500, 1000, 2000, 4000,
6000, 8000 of a 10,000-query run, rescaled to ``steps`` (the paper's schedule).

- Linf: start from vertical stripes of +-eps (random sign per column and channel); a
  proposal sets the window to +-eps, one random sign per channel, drawn again (up to
  ``RESAMPLE`` times) while it would leave the clipped image unchanged, as the authors' code
  does: on a one-channel image half the proposals would otherwise be wasted queries.
- L2: start from a grid of the centred pattern ``eta`` (values decaying with the ring
  index, ``eta(r) = sum_{k>=r} 1/(k+1)^2`` as in the paper) with random signs, rescaled to
  norm ``eps``. A proposal picks two windows W1, W2, takes the perturbation's mass in
  both (per channel) and puts it into W1 as ``delta_W1 + eta * s`` (random sign ``s``)
  rescaled to that mass, emptying W2 — the perturbation keeps norm ``eps`` (the paper's
  update, without its extra budget term).

The result is clipped to [0, 1] and projected onto the ball (so it is always inside it).
``eot > 1`` averages the margin over that many forwards (for stochastic encoders).
Inputs already fooled stop querying. Images ``[B, C, H, W]`` (or ``[B, D]``, treated as
``[B, 1, 1, D]``) only.
"""

from __future__ import annotations

import math

import torch

from .base import Attack, check_int, check_number
from .projection import check_budget, check_norm, project

SCHEDULE = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
RESAMPLE = 10  # Linf: redraws of a proposal's signs while it would leave the image unchanged


def margin_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """The margin to minimise: negative exactly when the attack has reached its goal."""
    if target is None:
        others = logits.scatter(1, y.view(-1, 1), float("-inf")).amax(1)
        return logits.gather(1, y.view(-1, 1)).squeeze(1) - others
    others = logits.scatter(1, target.view(-1, 1), float("-inf")).amax(1)
    return others - logits.gather(1, target.view(-1, 1)).squeeze(1)


def square_fraction(p_init: float, step: int, steps: int) -> float:
    """``p`` at iteration ``step`` (0-based) of ``steps``: halved at each rescaled schedule point."""
    scaled = int(step / steps * 10000)
    return p_init / 2 ** sum(scaled > s for s in SCHEDULE)


def ring_pattern(h: int, dtype=torch.float32) -> torch.Tensor:
    """The paper's centred ``h x h`` pattern: ``sum_{k >= r} 1/(k+1)^2`` at ring index ``r``."""
    c = (h - 1) / 2
    idx = torch.arange(h, dtype=dtype)
    ring = torch.maximum((idx.view(-1, 1) - c).abs(), (idx.view(1, -1) - c).abs()).floor().long()
    n = int(ring.max()) + 1
    tail = torch.tensor([sum(1.0 / (k + 1) ** 2 for k in range(r, n)) for r in range(n)], dtype=dtype)
    return tail[ring]


class Square(Attack):
    name = "square"
    parameters = Attack.parameters + ("eps", "steps", "norm", "p_init")

    def __init__(self, model, *, eps: float = 8 / 255, steps: int = 1000, norm: str = "linf",
                 p_init: float | None = None, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.norm = check_norm(norm)
        self.eps = check_budget("eps", eps, self.norm, model)
        self.steps = check_int("steps", steps)
        default = 0.05 if self.norm == "linf" else 0.1  # the paper's CIFAR/MNIST defaults
        self.p_init = default if p_init is None else check_number("p_init", p_init, low=0, low_open=True, high=1)

    def margin(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        return margin_loss(self.query(x), y, target)

    def perturb(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        shape = x.shape
        img = x if x.dim() == 4 else x.reshape(len(x), 1, 1, -1)
        B, C, H, W = img.shape
        g = self.generator
        if self.norm == "linf":
            stripes = (torch.randint(0, 2, (B, C, 1, W), generator=g) * 2 - 1).to(img)
            delta = self.eps * stripes.expand(B, C, H, W)
        else:
            delta = self._l2_init(B, C, H, W).to(img)
        x_adv = project(img + delta, img, self.eps, self.norm)
        loss = self.margin(x_adv.reshape(shape), y, target)
        for step in range(self.steps):
            active = (loss >= 0).nonzero().squeeze(1)
            if active.numel() == 0:
                break
            p = square_fraction(self.p_init, step, self.steps)
            h = min(max(int(round(math.sqrt(p * H * W))), 1), H, W)
            xa, xc = x_adv[active], img[active]
            cand = self._propose(xa, xc, h)
            ta = None if target is None else target[active]
            new_loss = self.margin(cand.reshape(len(active), *shape[1:]), y[active], ta)
            better = new_loss < loss[active]
            rows = active[better]
            x_adv[rows] = cand[better]
            loss[rows] = new_loss[better]
        return x_adv.reshape(shape)

    def _window(self, n: int, H: int, W: int, h: int) -> tuple[torch.Tensor, torch.Tensor]:
        r = torch.randint(0, H - h + 1, (n,), generator=self.generator)
        c = torch.randint(0, W - h + 1, (n,), generator=self.generator)
        return r, c

    def _mask(self, r: torch.Tensor, c: torch.Tensor, h: int, H: int, W: int) -> torch.Tensor:
        rows = torch.arange(H).view(1, H, 1)
        cols = torch.arange(W).view(1, 1, W)
        inside = ((rows >= r.view(-1, 1, 1)) & (rows < r.view(-1, 1, 1) + h)
                  & (cols >= c.view(-1, 1, 1)) & (cols < c.view(-1, 1, 1) + h))
        return inside.unsqueeze(1)  # [n, 1, H, W]

    def _propose(self, x_adv: torch.Tensor, x: torch.Tensor, h: int) -> torch.Tensor:
        n, C, H, W = x_adv.shape
        delta = x_adv - x
        r, c = self._window(n, H, W, h)
        w1 = self._mask(r, c, h, H, W).to(x.device)
        if self.norm == "linf":
            signs = (torch.randint(0, 2, (n, C, 1, 1), generator=self.generator) * 2 - 1).to(x)
            cand = project(x + torch.where(w1, self.eps * signs, delta), x, self.eps, self.norm)
            for _ in range(RESAMPLE):  # a proposal that changes nothing wastes a query: draw its signs again
                same = ((cand - x_adv).abs() < 1e-7).flatten(1).all(1)
                if not same.any():
                    break
                fresh = (torch.randint(0, 2, (n, C, 1, 1), generator=self.generator) * 2 - 1).to(x)
                signs = torch.where(same.view(-1, 1, 1, 1), fresh, signs)
                cand = project(x + torch.where(w1, self.eps * signs, delta), x, self.eps, self.norm)
            return cand
        r2, c2 = self._window(n, H, W, h)
        w2 = self._mask(r2, c2, h, H, W).to(x.device) & ~w1
        both = (w1 | w2).to(x.dtype)
        mass = (delta ** 2 * both).sum((2, 3), keepdim=True).sqrt()  # per channel
        eta = torch.zeros(n, 1, H, W, dtype=x.dtype)
        pattern = ring_pattern(h, x.dtype)
        for i in range(n):
            eta[i, 0, r[i]:r[i] + h, c[i]:c[i] + h] = pattern
        eta = eta.to(x.device)
        signs = (torch.randint(0, 2, (n, C, 1, 1), generator=self.generator) * 2 - 1).to(x)
        new = (delta + eta * signs) * w1
        new = new / (new ** 2).sum((2, 3), keepdim=True).sqrt().clamp_min(1e-12) * mass
        delta = torch.where(w1, new, torch.where(w2, torch.zeros_like(delta), delta))
        return project(x + delta, x, self.eps, self.norm)

    def _l2_init(self, B: int, C: int, H: int, W: int) -> torch.Tensor:
        h = max(min(H, W) // 5, 1)
        delta = torch.zeros(B, C, H, W)
        pattern = ring_pattern(h)
        for i in range(0, H - h + 1, h):
            for j in range(0, W - h + 1, h):
                signs = torch.randint(0, 2, (B, C, 1, 1), generator=self.generator) * 2 - 1
                delta[:, :, i:i + h, j:j + h] = pattern * signs
        norm = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        return delta / norm * self.eps

    def describe(self) -> dict:
        return {**super().describe(), "eps": self.eps, "steps": self.steps, "norm": self.norm, "p_init": self.p_init}

"""What both frameworks' loops share: seeded epochs over (a subset of) the training set, cosine
annealing, and PGD adversarial examples for adversarial training (Madry et al. 2018, as SNN
papers use it: crafted through the network's own surrogate gradient, i.e. BPTT/STBP)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import batches


def adversarial_batch(net: nn.Module, logits_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                      y: torch.Tensor, *,
                      eps: float, steps: int, alpha: float | None = None,
                      loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Linf PGD from a uniform random start: ``x <- clip(P(x + alpha sign(grad loss)))``, alpha
    ``2.5 eps / steps`` by default; crafted in eval mode (batch-norm running statistics)."""
    loss = loss or F.cross_entropy
    alpha = 2.5 * eps / steps if alpha is None else alpha
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    net.eval()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(logits_fn(x_adv), y), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def run_epochs(net: nn.Module, opt: torch.optim.Optimizer, step: Callable[[torch.Tensor, torch.Tensor], float],
               train_x: torch.Tensor, train_y: torch.Tensor, t: dict, seed: int) -> None:
    """``t["epochs"]`` seeded passes over the first ``t.get("subset")`` training inputs in batches of
    ``t["batch"]``, with cosine annealing of the learning rate over all steps."""
    n = t.get("subset") or len(train_y)
    x, y = train_x[:n], train_y[:n]
    g = torch.Generator().manual_seed(seed)
    total = t["epochs"] * -(-n // t["batch"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    for _ in range(t["epochs"]):
        for xb, yb in batches(x, y, t["batch"], g):
            step(xb, yb)
            sched.step()
    net.eval()

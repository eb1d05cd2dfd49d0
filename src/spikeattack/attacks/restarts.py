"""Per-input bookkeeping shared by the iterative attacks: row masks and the best point over restarts."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values`` of shape ``[B]`` viewed as ``[B, 1, ..., 1]`` to broadcast against ``like``."""
    return values.view(-1, *([1] * (like.dim() - 1)))


@dataclass
class BestPoint:
    """Per input, the best point found so far: a successful one beats an unsuccessful one, and
    among equals the higher loss wins (AutoAttack's rule for restarts)."""

    x: torch.Tensor
    loss: torch.Tensor
    success: torch.Tensor

    @classmethod
    def empty(cls, x: torch.Tensor) -> "BestPoint":
        """Nothing found yet: the clean input with loss ``-inf``."""
        n = x.shape[0]
        return cls(x.clone(), torch.full((n,), -torch.inf, dtype=x.dtype, device=x.device),
                   torch.zeros(n, dtype=torch.bool, device=x.device))

    def update(self, x: torch.Tensor, loss: torch.Tensor, success: torch.Tensor,
               rows: torch.Tensor | None = None) -> None:
        """Keep ``x`` where it is better; ``rows`` (indices) when the candidates cover some inputs only."""
        if rows is None:
            better = (success & ~self.success) | ((success == self.success) & (loss > self.loss))
            self.x = torch.where(per_row(better, x), x, self.x)
            self.loss = torch.where(better, loss, self.loss)
            self.success = self.success | success
            return
        held, held_loss = self.success[rows], self.loss[rows]
        better = (success & ~held) | ((success == held) & (loss > held_loss))
        take = rows[better]
        self.x[take] = x[better]
        self.loss[take] = loss[better]
        self.success[take] = held[better] | success[better]

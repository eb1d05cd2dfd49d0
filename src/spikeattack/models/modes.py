"""Switching a model's mode for a while: the mode it had is always put back."""

from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (frozen batch-norm statistics, no dropout) inside the block; the model's own
    training flag is restored on exit, also on error (torchattacks issue #21's trap)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)

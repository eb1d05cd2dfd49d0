"""The per-input worst case, computed in one place for every caller.

An input is **robust** when the model classifies it correctly on the clean input *and* after
every attack's adversarial example (AutoAttack's rule); the worst-case robust accuracy is the
share of robust inputs. The standard evaluation, the headline, the per-attack breakdown and
the hygiene flags all call these functions on per-input predictions (plain integer
sequences, so this module needs no torch).
"""

from __future__ import annotations

from typing import Iterable, Sequence


def _columns(labels: Sequence[int], predictions: Iterable[Sequence[int]], what: str) -> list[Sequence[int]]:
    columns = list(predictions)
    for c in columns:
        if len(c) != len(labels):
            raise ValueError(f"{what}: {len(c)} predictions for {len(labels)} labels; inputs are not aligned")
    return columns


def clean_correct(labels: Sequence[int], clean_preds: Iterable[Sequence[int]]) -> list[bool]:
    """Per input: every clean prediction equals the label."""
    columns = _columns(labels, clean_preds, "clean_pred")
    return [all(c[i] == y for c in columns) for i, y in enumerate(labels)]


def broken_mask(labels: Sequence[int], adv_preds: Iterable[Sequence[int]]) -> list[bool]:
    """Per input: some adversarial prediction differs from the label."""
    columns = _columns(labels, adv_preds, "adv_pred")
    return [any(c[i] != y for c in columns) for i, y in enumerate(labels)]


def robust_mask(labels: Sequence[int], clean_preds: Iterable[Sequence[int]],
                adv_preds: Iterable[Sequence[int]]) -> list[bool]:
    """Per input: correct on every clean prediction and on every adversarial one."""
    correct = clean_correct(labels, clean_preds)
    broken = broken_mask(labels, adv_preds)
    return [c and not b for c, b in zip(correct, broken)]


def robust_accuracy(robust: Sequence[bool]) -> float:
    return sum(robust) / len(robust) if robust else 0.0

"""Grid cells that differ only by gradient estimator share their spiking forwards.

Cells with the same target, source, scenario, attack (and variant), eps and parameters run
one after the other inside a :func:`~spikeattack.gradients.shared_forward` block: the first
gradient of every attack call (FGSM's only one, the first step of BIM/PGD/APGD) is
computed for all the group's estimators in one spiking forward and served to the others.
The results are identical to running the cells one by one (the cache serves only equal
requests and replays the encoder's noise stream).
"""

from __future__ import annotations

import contextlib
import json
from typing import ContextManager, Sequence, TypeVar

from ..gradients import make_estimator, shared_forward
from .experiment import Cell

T = TypeVar("T")


def group_key(cell: Cell) -> str:
    """Everything but the estimator that fixes what a cell's attack computes."""
    return json.dumps([cell.target, cell.source, cell.scenario, cell.label, cell.eps, cell.params, cell.amp],
                      sort_keys=True, default=repr)


def shared_groups(todo: Sequence[tuple[T, Cell]]) -> list[list[tuple[T, Cell]]]:
    """``(id, cell)`` pairs grouped by :func:`group_key`, groups in order of first appearance."""
    groups: dict[str, list[tuple[T, Cell]]] = {}
    for item in todo:
        groups.setdefault(group_key(item[1]), []).append(item)
    return list(groups.values())


def sharing(cells: Sequence[Cell]) -> ContextManager:
    """A shared-forward block for the distinct estimators of ``cells`` (a no-op for fewer than 2)."""
    estimators, seen = {}, set()
    for cell in cells:
        if cell.grad in ("exact", "none"):
            continue
        est = make_estimator(cell.grad, **(cell.grad_params or {}))
        desc = json.dumps(est.describe(), sort_keys=True)
        if desc not in seen:
            seen.add(desc)
            estimators[f"{len(estimators)}:{est.name}"] = est
    return shared_forward(estimators) if len(estimators) >= 2 else contextlib.nullcontext()

"""Grid cells that differ only by gradient estimator, or by an eps their first gradient
ignores, share their spiking forwards.

Cells with the same target, source, scenario, attack (and variant), eps and parameters run
one after the other inside a :func:`~spikeattack.gradients.shared_forward` block: the first
gradient of every attack call (FGSM's only one, the first step of BIM/PGD/APGD) is
computed for all the group's estimators in one spiking forward and served to the others,
and so is each batch's clean prediction. When the attack's first gradient does not read
eps (FGSM, BIM, PGD/APGD/SA-PGD without random start:
:meth:`~spikeattack.attacks.Attack.first_gradient_ignores`) the cells of every eps join one
group, so that gradient is computed once per batch for the whole grid, also for a single
estimator. The results are identical to running the cells one by one (the cache serves
only equal requests and replays the encoder's noise stream). A block lives for one group:
it holds one entry per batch and request (the estimators' first gradients, the clean
prediction) and is closed before the next group.
"""

from __future__ import annotations

import contextlib
import json
from typing import ContextManager, Sequence, TypeVar

from ..attacks import ATTACKS, attack_parameters
from ..gradients import make_estimator, shared_forward
from .cells import Cell

T = TypeVar("T")


def eps_shared(cell: Cell) -> bool:
    """Whether the first gradient of the cell's attack is the same for every eps."""
    takes = attack_parameters(cell.attack)
    params = {k: v for k, v in cell.params.items() if k in takes}
    cls = ATTACKS[cell.attack]
    return cls.uses_gradient and "eps" in cls.first_gradient_ignored(params)


def group_key(cell: Cell) -> str:
    """Everything but the estimator (and eps, when :func:`eps_shared`) that fixes what a
    cell's attack computes."""
    eps = "any" if eps_shared(cell) else cell.eps
    return json.dumps([cell.target, cell.source, cell.scenario, cell.label, eps, cell.params, cell.amp],
                      sort_keys=True, default=repr)


def shared_groups(todo: Sequence[tuple[T, Cell]]) -> list[list[tuple[T, Cell]]]:
    """``(id, cell)`` pairs grouped by :func:`group_key`, groups in order of first appearance."""
    groups: dict[str, list[tuple[T, Cell]]] = {}
    for item in todo:
        groups.setdefault(group_key(item[1]), []).append(item)
    return list(groups.values())


def sharing(cells: Sequence[Cell]) -> ContextManager:
    """A shared-forward block for the distinct estimators of ``cells``; a no-op for a single
    cell, or when no cell has an estimator the block can serve (exact ANN gradients, adaptive
    estimators)."""
    estimators, seen = {}, set()
    for cell in cells:
        if cell.grad in ("exact", "none"):
            continue
        est = make_estimator(cell.grad, **(cell.grad_params or {}))
        desc = json.dumps(est.describe(), sort_keys=True)
        if desc not in seen and not est.stateful:
            seen.add(desc)
            estimators[f"{len(estimators)}:{est.name}"] = est
    return shared_forward(estimators) if len(cells) >= 2 and estimators else contextlib.nullcontext()

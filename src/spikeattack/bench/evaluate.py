"""White-box, black-box (transfer) and cross evaluation of one attack against one target.

``evaluate(target, data, attack, source=None)``: the attack is crafted on ``source`` (or on
the target itself when ``source`` is None or the target: white-box) and the adversarial
examples are judged by the target. A separately trained source of the same architecture
(another seed) is the black-box setting of Hao et al. / Sharmin et al.; an ANN source
against an SNN target (or the reverse) is the cross setting of Liang et al. Sec. VI-D.
"""

from __future__ import annotations

import math
import sys
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..attacks import Attack
from ..data import ImageDataset, iterate_batches
from ..device import autocast, check_amp
from ..gradients import predict
from ..models import SpikingModel
from .metrics import PerInput, Summary, perturbation_norms, summarize
from .spike_metrics import spike_summary

AttackFactory = Callable[[SpikingModel], Attack]


def _check_pair(target: SpikingModel, source: SpikingModel) -> None:
    if not isinstance(source, SpikingModel):
        raise ValueError(f"source: expected a SpikingModel, got {type(source).__name__}")
    if source.input_shape != target.input_shape or source.takes_sequence != target.takes_sequence:
        raise ValueError(f"source: input shape {source.input_shape} differs from the target's {target.input_shape}")
    if source.num_classes != target.num_classes:
        raise ValueError(f"source: {source.num_classes} classes, but the target has {target.num_classes}")


def evaluate(
    target: SpikingModel,
    data: ImageDataset | tuple[torch.Tensor, torch.Tensor],
    attack: Attack | AttackFactory,
    source: SpikingModel | None = None,
    *,
    targets: torch.Tensor | None = None,
    batch_size: int = 128,
    limit: int | None = None,
    seed: int = 0,
    progress: bool = False,
    keep_examples: bool = False,
    amp: str | None = None,
) -> tuple[Summary, PerInput]:
    """Attack ``data`` (test split of a dataset, or ``(x, y)``) and score it on ``target``.

    ``attack`` is an :class:`Attack` built on the crafting model, or a factory
    ``model -> Attack``. ``targets`` are the classes for ``targeted="given"``.
    Stochastic encoders of both models are reseeded from ``seed`` first, so a run is
    reproducible; the attack keeps its own seed. Returns the summary and the per-input
    outcomes (with ``keep_examples`` the adversarial inputs are kept in ``summary.extra``).
    ``amp="bf16" | "fp16"`` crafts under ``torch.autocast`` (the crafting forward and
    backward in half precision); clean and adversarial predictions are always float32.
    """
    check_amp(amp)
    if not isinstance(target, SpikingModel):
        raise ValueError(f"target: expected a SpikingModel, got {type(target).__name__}")
    crafting = target if source is None else source
    _check_pair(target, crafting)
    if isinstance(attack, Attack):
        if attack.model is not crafting:
            raise ValueError("attack: it was built on another model than the crafting model "
                             "(pass a factory, or build it on the source)")
    elif callable(attack):
        attack = attack(crafting)
    else:
        raise ValueError(f"attack: expected an Attack or a factory, got {type(attack).__name__}")
    if isinstance(data, ImageDataset):
        x_all, y_all = data.test_x, data.test_y  # [N, ...]; iterate_batches makes sequences time-first
    else:
        x_all, y_all = data
        if target.takes_sequence:  # given time-first [T, N, ...]: batch along N
            x_all = x_all.transpose(0, 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    if len(y_all) == 0:
        raise ValueError("data: no inputs to attack (empty test split or labels)")
    if targets is not None and (not isinstance(targets, torch.Tensor) or targets.shape != y_all.shape):
        raise ValueError(f"targets: expected one class per input, shape {tuple(y_all.shape)}")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit: expected an integer >= 1, got {limit!r}")
        x_all, y_all = x_all[:limit], y_all[:limit]
        targets = None if targets is None else targets[:limit]
    for model in {id(target): target, id(crafting): crafting}.values():
        reseed = getattr(model.encoder, "reseed", None)
        if reseed is not None:
            reseed(seed)
    device = next(target.parameters()).device
    was_training = target.training
    target.eval()
    parts: list[PerInput] = []
    examples: list[torch.Tensor] = []
    spike_parts: list[dict] = []  # spike-domain metrics (flips, flip rate, RSF, iterations) per batch
    steps = math.ceil(len(y_all) / batch_size)
    batches = iterate_batches(x_all, y_all, batch_size, shuffle=False)
    start = 0
    for xb, yb in tqdm(batches, total=steps, desc=attack.name, disable=not progress, leave=False, file=sys.stderr):
        xb, yb = xb.to(device), yb.to(device)
        tb = None if targets is None else targets[start:start + len(yb)].to(device)
        start += len(yb)
        clean_pred = predict(target, xb)  # shared by the cells of a bench sharing group
        with autocast(device, amp):
            x_adv = attack(xb, yb, tb)
        with torch.no_grad():
            adv_pred = target(x_adv).argmax(-1)
        if attack.targeted is not None and tb is None:
            tb = attack.last_target
        norms = perturbation_norms(xb, x_adv, batch_dim=1 if target.takes_sequence else 0)
        vanishing = attack.vanishing if attack.vanishing is not None else torch.zeros(len(yb), dtype=torch.bool)
        parts.append(PerInput(label=yb.cpu(), clean_pred=clean_pred.cpu(), adv_pred=adv_pred.cpu(),
                              target=None if tb is None else tb.cpu(), vanishing=vanishing.cpu(),
                              **{k: v.cpu() for k, v in norms.items()}))
        if not attack.image_domain:
            spike_parts.append(spike_summary(xb, x_adv, attack))
        if keep_examples:
            examples.append(x_adv.cpu())  # batch along dim 1 for spike inputs
    target.train(was_training)
    per = PerInput.concat(parts)
    summary = summarize(per)
    summary.extra.update({"attack": attack.name, "grad": attack.estimator.name,
                          "scenario": "white-box" if crafting is target else "transfer",
                          "config": attack.describe()})
    if spike_parts:
        total = sum(p["n"] for p in spike_parts)
        for key in ("flips", "flip_rate", "rsf", "iterations"):
            values = [(p[key], p["n"]) for p in spike_parts if p[key] is not None]
            summary.extra[key] = sum(v * n for v, n in values) / total if values and total else None
    if keep_examples:
        summary.extra["examples"] = torch.cat(examples, dim=1 if target.takes_sequence else 0)
    return summary, per

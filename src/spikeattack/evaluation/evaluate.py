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
from dataclasses import dataclass
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from .._checks import check_int, check_seed
from ..attacks import Attack
from ..data import ImageDataset, iterate_batches
from ..device import autocast, check_amp
from ..gradients import predict
from ..models import SpikingModel, check_logits, evaluating
from ..results.statistics import clopper_pearson
from .metrics import PerInput, Summary, perturbation_norms, summarize
from .spike_metrics import spike_summary

AttackFactory = Callable[[SpikingModel], Attack]


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns: the summary, the per-input outcomes and the adversarial inputs."""

    summary: Summary
    per_input: PerInput
    #: the adversarial inputs in the model's layout (``[N, ...]`` images, ``[T, N, ...]`` frames);
    #: None when ``keep_examples=False``
    adversarial: torch.Tensor | None = None

    @property
    def clean_accuracy(self) -> float:
        return self.summary.clean_accuracy

    @property
    def robust_accuracy(self) -> float:
        return self.summary.robust_accuracy

    @property
    def asr(self) -> float | None:
        """Attack success rate over the clean-correct inputs (None when none is correct)."""
        return self.summary.asr

    @property
    def robust_accuracy_ci(self) -> tuple[float, float]:
        """95% Clopper-Pearson interval of the robust accuracy."""
        per = self.per_input
        robust = int((per.correct & (per.adv_pred == per.label)).sum())
        return clopper_pearson(robust, len(per.label))

    @property
    def asr_ci(self) -> tuple[float, float] | None:
        """95% Clopper-Pearson interval of the attack success rate (None when no input is correct)."""
        per = self.per_input
        correct = per.correct
        n = int(correct.sum())
        return clopper_pearson(int(per.success[correct].sum()), n) if n else None

    def to_dict(self) -> dict[str, Any]:
        """The summary's fields and the intervals, JSON-able (no tensors)."""
        out = self.summary.to_dict()
        out["robust_accuracy_ci"] = list(self.robust_accuracy_ci)
        out["asr_ci"] = None if self.asr_ci is None else list(self.asr_ci)
        return out


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
    keep_examples: bool = True,
    amp: str | None = None,
    skip_misclassified: bool = False,
) -> EvaluationResult:
    """Attack ``data`` (test split of a dataset, or ``(x, y)``) and score it on ``target``.

    ``attack`` is an :class:`Attack` built on the crafting model, or a factory
    ``model -> Attack``. ``targets`` are the classes for ``targeted="given"``.
    Stochastic encoders of both models are reseeded from ``seed`` first, so a run is
    reproducible; the attack keeps its own seed. Returns an :class:`EvaluationResult`: the
    summary, the per-input outcomes and (``keep_examples``) the adversarial inputs.
    ``skip_misclassified``: inputs the target misclassifies clean are not attacked (returned
    unchanged; AutoAttack's rule, and cheaper: their outcome cannot change the robust accuracy).
    ``amp="bf16" | "fp16"`` crafts under ``torch.autocast`` (the crafting forward and
    backward in half precision); clean and adversarial predictions are always float32.
    """
    check_amp(amp)
    seed = check_seed("seed", seed)
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
    batch_size = check_int("batch_size", batch_size)
    if len(y_all) == 0:
        raise ValueError("data: no inputs to attack (empty test split or labels)")
    if targets is not None and (not isinstance(targets, torch.Tensor) or targets.shape != y_all.shape):
        raise ValueError(f"targets: expected one class per input, shape {tuple(y_all.shape)}")
    if limit is not None:
        limit = check_int("limit", limit)
        x_all, y_all = x_all[:limit], y_all[:limit]
        targets = None if targets is None else targets[:limit]
    for model in {id(target): target, id(crafting): crafting}.values():
        model.encoder.reseed(seed)
    device = next(target.parameters()).device
    parts: list[PerInput] = []
    examples: list[torch.Tensor] = []
    spike_parts: list[dict] = []  # spike-domain metrics (flips, flip rate, RSF, iterations) per batch
    steps = math.ceil(len(y_all) / batch_size)
    batches = iterate_batches(x_all, y_all, batch_size, shuffle=False)
    start = 0
    with evaluating(target):
        for xb, yb in tqdm(batches, total=steps, desc=attack.name, disable=not progress, leave=False,
                           file=sys.stderr):
            _score_batch(target, attack, xb.to(device), yb.to(device),
                         None if targets is None else targets[start:start + len(yb)].to(device),
                         amp, parts, spike_parts, examples if keep_examples else None, skip_misclassified)
            start += len(yb)
    per = PerInput.concat(parts)
    summary = summarize(per)
    summary.extra.update({"attack": attack.name, "grad": attack.grad_name,
                          "scenario": "white-box" if crafting is target else "transfer",
                          "config": attack.describe()})
    if spike_parts:
        total = sum(p["n"] for p in spike_parts)
        for key in ("flips", "flip_rate", "rsf", "iterations"):
            values = [(p[key], p["n"]) for p in spike_parts if p[key] is not None]
            summary.extra[key] = sum(v * n for v, n in values) / total if values and total else None
    adversarial = torch.cat(examples, dim=1 if target.takes_sequence else 0) if keep_examples else None
    return EvaluationResult(summary, per, adversarial)


def _flips(x: torch.Tensor, x_adv: torch.Tensor, attack: Attack, batch_dim: int) -> torch.Tensor | None:
    """Elements changed per input (L0) by an event attack; None for an image attack."""
    if attack.image_domain:
        return None
    return (x_adv != x).movedim(batch_dim, 0).flatten(1).sum(1).cpu()


def _score_batch(target: SpikingModel, attack: Attack, xb: torch.Tensor, yb: torch.Tensor, tb: torch.Tensor | None,
                 amp: str | None, parts: list[PerInput], spike_parts: list[dict],
                 examples: list[torch.Tensor] | None, skip_misclassified: bool) -> None:
    """Attack one batch and append its per-input outcome (and spike metrics, examples)."""
    clean_pred = predict(target, xb, "target")  # shared by the cells of a bench sharing group
    if skip_misclassified and not bool((clean_pred == yb).all()):
        _score_subset(target, attack, xb, yb, tb, clean_pred, amp, parts, spike_parts, examples)
        return
    with autocast(xb.device, amp):
        x_adv = attack(xb, yb, tb)
    with torch.no_grad():
        adv_pred = check_logits(target(x_adv), "target").argmax(-1)
    if attack.targeted is not None and tb is None:
        tb = attack.last_target
    batch_dim = 1 if target.takes_sequence else 0
    norms = perturbation_norms(xb, x_adv, batch_dim=batch_dim)
    vanishing = attack.vanishing if attack.vanishing is not None else torch.zeros(len(yb), dtype=torch.bool)
    parts.append(PerInput(label=yb.cpu(), clean_pred=clean_pred.cpu(), adv_pred=adv_pred.cpu(),
                          target=None if tb is None else tb.cpu(), vanishing=vanishing.cpu(),
                          flips=_flips(xb, x_adv, attack, batch_dim), **{k: v.cpu() for k, v in norms.items()}))
    if not attack.image_domain:
        spike_parts.append(spike_summary(xb, x_adv, attack))
    if examples is not None:
        examples.append(x_adv.cpu())  # batch along dim 1 for spike inputs


def _score_subset(target: SpikingModel, attack: Attack, xb: torch.Tensor, yb: torch.Tensor, tb: torch.Tensor | None,
                  clean_pred: torch.Tensor, amp: str | None, parts: list[PerInput], spike_parts: list[dict],
                  examples: list[torch.Tensor] | None) -> None:
    """:func:`_score_batch` attacking only the clean-correct inputs; the others keep ``x``."""
    dim = 1 if target.takes_sequence else 0
    ok = (clean_pred == yb).nonzero().squeeze(1)
    x_adv, adv_pred = xb.clone(), clean_pred.clone()
    target_used = None if tb is None else tb.clone()
    vanishing = torch.zeros(len(yb), dtype=torch.bool)
    if ok.numel():
        x_ok = xb.index_select(dim, ok)
        with autocast(xb.device, amp):
            part = attack(x_ok, yb[ok], None if tb is None else tb[ok])
        x_adv.index_copy_(dim, ok, part)
        with torch.no_grad():
            adv_pred[ok] = check_logits(target(part), "target").argmax(-1)
        if attack.targeted is not None and tb is None:
            target_used = torch.full_like(yb, -1)
            target_used[ok] = attack.last_target
        if attack.vanishing is not None:
            vanishing[ok.cpu()] = attack.vanishing.cpu()
        if not attack.image_domain:
            spike_parts.append(spike_summary(x_ok, part, attack))
    norms = perturbation_norms(xb, x_adv, batch_dim=dim)
    parts.append(PerInput(label=yb.cpu(), clean_pred=clean_pred.cpu(), adv_pred=adv_pred.cpu(),
                          target=None if target_used is None else target_used.cpu(), vanishing=vanishing,
                          flips=_flips(xb, x_adv, attack, dim), **{k: v.cpu() for k, v in norms.items()}))
    if examples is not None:
        examples.append(x_adv.cpu())

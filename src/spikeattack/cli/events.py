"""The command line on event inputs: ``evaluate --norm L0`` (the event evaluation) and the budgets
and results of the event attacks in ``attack`` (spike-BIM, SDA, count-frame PGD, retiming).

Budgets: ``--eps`` is an L0 budget for SDA and count-frame PGD, a count of elements (``64``)
or a percentage of them (``1%``); spike-BIM's ``--eps`` is Liang et al.'s size per point
unless ``--norm L0`` makes it a count (translated exactly by
:func:`~spikeattack.attacks.threat.spike_bim_eps`); retiming has ``--jitter``, ``--delay`` and
``--tamper`` instead. The ``attack`` object of an L0 attack carries ``eps`` in elements (the
budget as given in ``budget``, the elements per input in ``elements``), the flips and, for SDA,
the quantiles of the flips on the inputs it fooled (``minimal_flips``).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch

from ..attacks.threat import Budget, minimal_quantiles, retime_cost, spike_bim_eps
from ..results.output import norm_name
from .common import emit, image_budget, info, l0_budget, naming

RETIME_FLAGS = ("jitter", "delay", "tamper")
#: attack parameters that are counts: given as --attack-param KEY=VALUE they arrive as floats
INTEGER_PARAMS = ("steps", "restarts", "search_steps", "rounds", "k_init", "chunk", "max_change", "jitter", "delay")


# ---------------------------------------------------------------------------------------------- evaluate
def check_event_norm_flags(args: argparse.Namespace, model) -> None:
    """``--norm`` of an evaluation against the model's inputs (default: L0 for event frames, Linf for
    images); ``--minimal`` only with L0."""
    events = model.takes_sequence
    if args.norm is None:
        args.norm = "l0" if events else "linf"
    if args.norm == "l0" and not events:
        raise ValueError("--norm: L0 budgets count the elements of event frames; the checkpoint takes images "
                         "(use Linf or L2)")
    if args.norm != "l0" and events:
        raise ValueError(f"--norm: the checkpoint takes event frames, whose evaluation measures L0 budgets "
                         f"(--norm L0), not {norm_name(args.norm)}")
    if args.minimal and args.norm != "l0":
        raise ValueError("--minimal: only used with the event evaluation (--norm L0)")
    if args.norm == "l0" and args.version not in (None, "standard", "plus"):
        raise ValueError(f"--version: the event evaluation has the versions standard and plus, got {args.version}")


def run_event_evaluation(args: argparse.Namespace, model, data, options: dict, x, y) -> int:
    """``evaluate --norm L0``: :func:`~spikeattack.evaluation.event_evaluation` on the (limited) test split."""
    from ..data.base import to_float
    from ..evaluation import event_evaluation
    from .evaluation_fields import evaluation_line, standard_fields

    if args.timesteps is not None and not args.factory:
        raise ValueError("--timesteps: not used by the event evaluation (the frames fix the time steps)")
    eps = l0_budget(args.eps)
    if eps is None:
        if not args.minimal:
            raise ValueError("--eps: the event evaluation needs an L0 budget, e.g. --eps 64 or --eps 1%")
        eps = "100%"  # --minimal alone: robust means "fooled by no stage at all"
    version = args.version or "standard"
    device = next(model.parameters()).device
    frames = to_float(x).transpose(0, 1).contiguous().to(device)  # [T, N, C, H, W]
    with naming({"eps": "--eps", "x": f"--dataset {data.name!r}"}):
        result = event_evaluation(model, frames, y.to(device), eps=eps, version=version, seed=args.seed,
                                  minimal=args.minimal, progress=lambda line: info(args, line))
    out = standard_fields(result, checkpoint=args.checkpoint, dataset=data.name, data_options=options)
    out.update(hart_gamma=None, hart_tuned=False)  # the image cascade's HART tuning has no event counterpart
    budget = f"{result.eps} of {result.elements} elements" + (
        f" = {result.budget}" if isinstance(result.budget, str) else "")
    text = evaluation_line(result, f"event evaluation ({version}, L0, eps={budget}, {result.frames} frames)",
                           f"{data.name} test inputs")
    if args.minimal:
        text += "\n" + minimal_line(result.minimal_flips)
    emit(args, "standard-evaluation", out, text)
    return 0


def minimal_line(q: dict[str, Any] | None) -> str:
    """``minimal flips on the 28 of 30 inputs fooled: 10% 3, 25% 5, median 8, 75% 12, 90% 20``."""
    if not q or not q.get("fooled"):
        return f"minimal flips: no input was fooled (of {0 if not q else q['n']})"
    parts = ", ".join(f"{'median' if k == 'q50' else k[1:] + '%'} {q[k]:g}" for k in ("q10", "q25", "q50", "q75", "q90")
                      if q.get(k) is not None)
    return f"minimal flips on the {q['fooled']} of {q['n']} inputs fooled: {parts}"


# ---------------------------------------------------------------------------------------------- attack
def elements_of(model) -> int:
    """Elements of one event input (``T*C*H*W``) of a spike-input model."""
    return model.timesteps * math.prod(model.input_shape)


def event_attack_params(args: argparse.Namespace, cls, params: dict, model) -> tuple[dict, dict]:
    """``params`` with the budget of event attack ``cls`` set from the flags, and what the ``attack``
    object says about it (``budget``, ``elements``, ``eps`` in elements); ``ValueError`` naming the flag."""
    norm = params.pop("norm", None)
    eps = params.pop("eps", None)
    report: dict[str, Any] = {}
    if not model.takes_sequence and (cls.l0_eps or cls.threat == "retime"):
        raise ValueError(f"--attack: {cls.name} attacks event frames; the model takes images")
    if cls.threat == "retime":
        if norm is not None:
            raise ValueError(f"--norm: {cls.name} moves events in time; its budgets are --jitter, --delay and --tamper")
        if eps is not None:
            raise ValueError(f"--eps: {cls.name} moves events in time; its budgets are --jitter, --delay and --tamper")
        for flag in RETIME_FLAGS:
            value = getattr(args, flag)
            if value is not None:
                params[flag] = value
        return params, report
    for flag in RETIME_FLAGS:
        if getattr(args, flag) is not None:
            raise ValueError(f"--{flag}: only used with --attack retime (a retiming budget)")
    if norm not in (None, "l0"):
        raise ValueError(f"--norm: {cls.name} changes elements of event frames (L0), not {norm_name(norm)}")
    if not model.takes_sequence and norm == "l0":
        raise ValueError("--norm: L0 budgets count the elements of event frames; the model takes images")
    if cls.l0_eps and isinstance(params.get("alpha"), float) and params["alpha"].is_integer():
        params["alpha"] = int(params["alpha"])  # count-frame PGD's step: whole events (--alpha 2)
    elements = elements_of(model) if model.takes_sequence else None
    if cls.l0_eps or norm == "l0":
        given = l0_budget(eps)
        if given is not None:
            count = Budget.parse(given).resolve(elements)
            report = {"eps": count, "budget": given, "elements": elements}
            params["eps"] = given if cls.l0_eps else spike_bim_eps(count, elements)
        else:
            report = {"eps": None, "budget": None, "elements": elements}
    else:  # spike-BIM's own eps: Liang et al.'s size per point
        if isinstance(eps, str):
            raise ValueError(f"--eps: {eps} is an L0 budget; {cls.name} takes it with --norm L0")
        given = image_budget(eps)
        if given is not None:
            params["eps"] = given
    return params, report


def integer_params(params: dict) -> dict:
    """Counts given as ``--attack-param KEY=VALUE`` (parsed as floats) back to integers."""
    return {k: int(v) if k in INTEGER_PARAMS and isinstance(v, float) and v.is_integer() else v
            for k, v in params.items()}


def event_fields(attack, outcome, x: torch.Tensor, report: dict) -> dict[str, Any]:
    """What an event attack adds to the ``attack`` object: its budget in elements, the quantiles
    of SDA's flips on the inputs it fooled, retiming's realised budgets (checked from the frames)."""
    out = dict(report)
    per = outcome.per_input
    if attack.name == "sda" and per.flips is not None:
        correct = per.correct
        out["minimal_flips"] = minimal_quantiles(per.flips[correct], per.success[correct])
    if attack.threat == "retime" and outcome.adversarial is not None:
        cost = retime_cost(x.movedim(1, 0).cpu(), outcome.adversarial.movedim(1, 0).cpu())
        out["retime"] = {**attack.budget.describe(), "counts_kept": bool(cost.counts_kept.all()),
                         "max_jitter": int(cost.jitter.max()), "mean_delay": float(cost.delay.double().mean()),
                         "mean_tampered": float(cost.tampered.double().mean()),
                         "mean_events": float(cost.events.double().mean())}
    return out


def event_budget_text(r: dict) -> str:
    """The budget of an event attack for the one-line summary."""
    if "retime" in r:
        b = r["retime"]
        return f"retime jitter={b['jitter']} delay={b['delay']} tamper={b['tamper']}"
    if r.get("elements") is None:
        return "no budget" if r["eps"] is None else f"{norm_name(r['norm'])} eps={r['eps']:g} per point"
    if r["eps"] is None:
        return "L0, no budget"
    given = f" = {r['budget']}" if isinstance(r.get("budget"), str) else ""
    return f"L0 eps={r['eps']} of {r['elements']} elements{given}"


def event_measures_text(r: dict) -> str:
    """Flips, flip rate and (SDA) the median flips of the fooled inputs, for the one-line summary."""
    text = (f"flips {r['flips']:.1f} per input (flip rate {r['flip_rate']:.4f})" if r.get("flips") is not None
            else "flips n/a")
    q = r.get("minimal_flips")
    if q and q.get("q50") is not None:
        text += f", median flips of the {q['fooled']} fooled {q['q50']:g}"
    if "retime" in r:
        b = r["retime"]
        text += (f", events moved {b['mean_tampered']:.1f} of {b['mean_events']:.1f} per input (max jitter "
                 f"{b['max_jitter']}, counts kept: {'yes' if b['counts_kept'] else 'NO'})")
    return text

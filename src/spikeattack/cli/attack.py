"""``spikeattack attack``: run one attack with one gradient estimator against a checkpoint."""

from __future__ import annotations

import argparse

import torch

from ..attacks import ATTACKS, TARGET_MODES, make_attack
from ..evaluation import evaluate
from ..gradients import ESTIMATORS
from ..training import load_checkpoint
from .common import (add_data_args, add_factory_args, add_output_args, budget, check_memory, emit, error_line,
                     image_budget, naming)
from ..results.output import norm_name
from .loading import load_model_and_data, load_user_model
from .schemas import accuracy_fields


def _grad_param(text: str) -> tuple[str, float | str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, float(value)
    except ValueError:
        return key, value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attack", help="attack a checkpoint and report ASR, robust accuracy and perturbation sizes",
        description="Craft adversarial examples with one attack and one gradient estimator, on the target itself "
                    "(white-box) or on --source (black-box transfer / cross), and score them on the target. "
                    "Example: spikeattack attack model.pt --attack pgd --grad rga --eps 0.1 --steps 10 --json; "
                    "event frames: spikeattack attack ev.pt --attack sda --eps 1% --json",
    )
    p.add_argument("checkpoint", help="the target model (from 'spikeattack train'; with --factory: its weights file)")
    add_data_args(p, default=None)
    p.add_argument("--attack", default="pgd", choices=sorted(ATTACKS), help="attack (default: pgd)")
    p.add_argument("--grad", default=None, choices=tuple(ESTIMATORS),
                   help="gradient estimator of a spiking crafting model (default: stbp; sda: pdsg); an ANN always "
                        "uses its exact gradient")
    p.add_argument("--grad-param", type=_grad_param, action="append", default=[], metavar="KEY=VALUE",
                   help="estimator parameter, e.g. gamma=0.5 for hart, beta=2 for rga (repeatable)")
    p.add_argument("--attack-param", type=_grad_param, action="append", default=[], metavar="KEY=VALUE",
                   help="attack-specific parameter, e.g. loss=dlr for apgd, c=0.1 for cw/cw-liang (repeatable)")
    p.add_argument("--gamma", type=float, default=None, help="RSF flip probability of spike-bim (default: 0.05)")
    p.add_argument("--eps", type=budget, default=None,
                   help="perturbation budget: in pixel units, a number or a fraction such as 8/255; for sda and "
                        "count-pgd (and spike-bim with --norm L0) an L0 budget, a count of elements such as 64 or a "
                        "percentage such as 1%%; spike-bim alone: Liang et al.'s size per point (default: attack's)")
    p.add_argument("--alpha", type=float, default=None, help="step size (default: attack's rule)")
    p.add_argument("--steps", type=int, default=None, help="iterations of iterative attacks")
    p.add_argument("--norm", default=None, type=str.lower, choices=("linf", "l2", "l0"),
                   help="threat model of pgd/apgd/sapgd/square/boundary: Linf or L2 (default: linf; boundary: l2); "
                        "L0 for the event attacks (sda, count-pgd: always; spike-bim: --eps counts elements)")
    g = p.add_argument_group("retiming budget (--attack retime)")
    g.add_argument("--jitter", type=int, default=None, help="bins an event may move (default: 1)")
    g.add_argument("--delay", type=int, default=None, help="total bins all events of an input may move (default: "
                                                            "unbounded)")
    g.add_argument("--tamper", default=None, metavar="N|P%",
                   help="events an input may move: a count or a percentage of its events (default: unbounded)")
    p.add_argument("--restarts", type=int, default=None, help="random restarts of pgd")
    p.add_argument("--targeted", default=None, choices=TARGET_MODES, help="targeted attack mode (default: untargeted)")
    p.add_argument("--target-class", type=int, default=None, help="the class for --targeted given")
    p.add_argument("--source", default=None, help="checkpoint to craft on (black-box transfer or ANN/SNN cross)")
    p.add_argument("--source-factory", default=None, metavar="FILE.py:FUNCTION",
                   help="--source is a weights file for this factory's network (runs that code; see --factory)")
    p.add_argument("--eot", type=int, default=1, help="expectation over transformation: samplings per gradient")
    p.add_argument("--time-extend", type=int, default=1, help="craft with k*T time steps, evaluate with T")
    p.add_argument("--penultimate-threshold", type=float, default=None,
                   help="threshold of the last spiking layer during crafting only (Liang et al. V-B)")
    p.add_argument("--early-stop", action="store_true", help="stop iterating on inputs already adversarial")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="attack the first N test inputs")
    p.add_argument("--batch-size", type=int, default=128, help="inputs per attack batch (default: 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of random starts, targets and encoder noise")
    add_factory_args(p)
    p.add_argument("--amp", default=None, choices=("bf16", "fp16"),
                   help="craft under mixed precision (judged in float32); see README 'Scaling out' for the tolerance")
    add_output_args(p)
    p.set_defaults(func=run)


def attack_params(args: argparse.Namespace, model=None) -> tuple[dict, dict]:
    """Keyword arguments for the attack, only what the user set, so nothing is silently dropped; and
    what the ``attack`` object reports about an event attack's budget (:mod:`.events`)."""
    from .events import event_attack_params, integer_params

    cls = ATTACKS[args.attack]
    params = {k: v for k, v in {"eps": args.eps, "alpha": args.alpha, "steps": args.steps, "norm": args.norm,
                                "restarts": args.restarts, "gamma": args.gamma}.items() if v is not None}
    for key, value in args.attack_param:
        if key in params:
            raise ValueError(f"--attack-param: {key} has its own flag; use it instead")
        params[key] = value
    params = integer_params(params)
    report: dict = {}
    if cls.threat is not None:
        params, report = event_attack_params(args, cls, params, model)
    else:
        from .events import RETIME_FLAGS

        for flag in RETIME_FLAGS:
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag}: only used with --attack retime (a retiming budget)")
        if params.get("norm") == "l0":
            raise ValueError(f"--norm: L0 is the threat model of the event attacks (spike-bim, sda, count-pgd); "
                             f"{args.attack} takes Linf or L2")
        if "eps" in params:
            params["eps"] = image_budget(params["eps"])
    params.update(targeted=args.targeted, eot=args.eot, early_stop=args.early_stop, seed=args.seed)
    gradient = {"--grad": args.grad is not None, "--grad-param": bool(args.grad_param),
                "--time-extend": args.time_extend != 1, "--penultimate-threshold": args.penultimate_threshold is not None}
    if cls.uses_gradient:
        if args.grad is not None:  # else the attack's own default (stbp; sda: pdsg, Lun et al.'s pairing)
            params["grad"] = args.grad
        params.update(grad_params=dict(args.grad_param), time_extend=args.time_extend,
                      penultimate_threshold=args.penultimate_threshold)
    elif any(gradient.values()):
        flag = next(f for f, given in gradient.items() if given)
        raise ValueError(f"{flag}: {args.attack} is gradient-free; it takes no gradient options")
    return params, report


def minimal_perturbation(per) -> dict:
    """Median and quantiles of the smallest L2 / Linf perturbation found per fooled input (Liang et al. Fig. 16)."""
    fooled = per.correct & per.success
    out: dict = {"n": int(fooled.sum())}
    for norm in ("l2", "linf"):
        values = getattr(per, norm)[fooled].double()
        qs = (0.1, 0.25, 0.5, 0.75, 0.9)
        out[norm] = ({"median": float(values.quantile(0.5)), "mean": float(values.mean()),
                      "quantiles": {str(q): float(values.quantile(q)) for q in qs}} if len(values) else None)
    return out


def load_source(args: argparse.Namespace, data, device: torch.device):
    """The ``--source`` model (a checkpoint, or with ``--source-factory`` a user network); every
    error about it says it is the source."""
    try:
        if args.source_factory is not None:
            return load_user_model(args, args.source_factory, args.source, data, device), {}
        return load_checkpoint(args.source, map_location=device)
    except (ValueError, OSError) as exc:
        message = error_line(exc)
        raise ValueError(message if message.startswith("--source") else f"--source: {message}") from exc


def run(args: argparse.Namespace) -> int:
    if args.timesteps is not None and not (args.factory or args.source_factory):
        raise ValueError("--timesteps: only used with --factory or --source-factory (a checkpoint carries its own)")
    if args.source_factory is not None and args.source is None:
        raise ValueError("--source-factory: give the source's weights file with --source")
    target, data, device, options = load_model_and_data(args)
    source = None
    if args.source is not None:
        source, source_meta = load_source(args, data, device)
        other = source_meta.get("dataset")
        if other is not None and other != data.name and not args.other_dataset:
            raise ValueError(f"--source: {args.source!r} was trained on {other}, the attacked data is {data.name}; "
                             "pass --other-dataset to craft on it anyway")
    crafting = source or target
    params, report = attack_params(args, crafting)
    if not crafting.is_spiking and (args.grad not in (None, "stbp") or args.grad_param):
        raise ValueError(f"--grad: the crafting model is an ANN, whose exact gradient is used; drop --grad {args.grad}")
    if crafting.is_spiking and not crafting.takes_sequence:
        check_memory(crafting.config, device, batch=args.batch_size, timesteps=crafting.timesteps * args.time_extend,
                     gradient=True,
                     flags={"--time-extend": args.time_extend != 1, "--batch-size": args.batch_size != 128},
                     origin=f"--source {args.source!r}" if source is not None else f"checkpoint {args.checkpoint!r}")
    with naming({"tamper": "--tamper", "jitter": "--jitter", "delay": "--delay"}):
        attack = make_attack(args.attack, crafting, **params)
    x, y = data.split("test")
    batch_dim = 1 if data.is_sequence else 0  # spike frames are time-first [T, N, ...]
    if args.limit is not None:
        x, y = x.narrow(batch_dim, 0, min(args.limit, len(y))), y[: args.limit]
    targets, excluded = None, 0
    if args.targeted == "given":
        if args.target_class is None or not 0 <= args.target_class < target.num_classes:
            raise ValueError(f"--target-class: expected a class in [0, {target.num_classes}) with --targeted given")
        keep = (y != args.target_class).nonzero().squeeze(1)
        excluded = len(y) - len(keep)
        x, y = x.index_select(batch_dim, keep), y[keep]
        targets = torch.full_like(y, args.target_class)
    elif args.target_class is not None:
        raise ValueError("--target-class: only used with --targeted given")
    crafting = f"--source {args.source!r}" if source is not None else f"checkpoint {args.checkpoint!r}"
    with naming({"target": f"checkpoint {args.checkpoint!r}", "model": crafting}):  # the file, not the argument
        outcome = evaluate(target, (x, y), attack, source, targets=targets, batch_size=args.batch_size,
                           seed=args.seed, progress=not args.quiet, amp=args.amp,
                           keep_examples=attack.threat == "retime")  # retiming's budgets are checked on the frames
    per = outcome.per_input
    result = attack_fields(args, attack, outcome, data, options, excluded)
    if args.attack == "boundary":
        result["minimal_perturbation"] = minimal_perturbation(per)
    if attack.threat is not None:
        from .events import event_fields

        result.update(event_fields(attack, outcome, x, report))
    emit(args, "attack", result, summary_line(args, result))
    return 0


def attack_fields(args: argparse.Namespace, attack, outcome, data, options: dict, excluded: int) -> dict:
    """The ``attack`` object: what ran (attack, estimator, budget and its norm, targeting, models, data),
    the numbers with their intervals, the attack's settings."""
    from ..results.rows import threat_model

    summary = outcome.summary
    config = summary.extra.pop("config")
    grad = attack.grad_name  # "none" for a gradient-free attack, "exact" when an ANN crafts
    if grad == "exact" and isinstance(config.get("grad"), dict):
        config["grad"] = {"name": "exact"}  # the estimator is not used on an ANN
    norm = threat_model({"attack": args.attack, "config": {"attack_config": config}})
    head = {"attack": args.attack, "grad": grad, "eps": config.get("eps"), "norm": norm,
            "targeted": args.targeted, "target_class": args.target_class if args.targeted == "given" else None,
            "scenario": summary.extra["scenario"], "checkpoint": args.checkpoint, "source": args.source,
            "dataset": data.name, "data_options": options}
    body = outcome.to_dict()
    body.update(accuracy_fields(summary.clean_accuracy, summary.n))
    order = ("n", "clean_accuracy", "clean_accuracy_ci", "asr", "asr_ci", "robust_accuracy", "robust_accuracy_ci")
    metrics = {k: body.pop(k) for k in order}
    rest = {k: v for k, v in body.items() if k not in head}
    return head | metrics | rest | {"excluded_target_class": excluded, "config": config}


def summary_line(args: argparse.Namespace, r: dict) -> str:
    """``pgd (stbp, Linf eps=0.1, untargeted) on 40 inputs, white-box: clean accuracy 0.9750, ASR ...``."""
    def rate(value, ci) -> str:
        return "n/a" if value is None else f"{value:.4f} [95% CI {ci[0]:.4f}, {ci[1]:.4f}]"

    if norm_name(r["norm"]) in ("L0", "retime"):
        from .events import event_budget_text

        budget = event_budget_text(r)
    else:
        budget = "no budget" if r["eps"] is None else f"{norm_name(r['norm'])} eps={r['eps']:g}"
    goal = "untargeted" if r["targeted"] is None else f"targeted ({r['targeted']}" + (
        f" class {r['target_class']}" if r["target_class"] is not None else "") + ")"
    where = "white-box" if r["source"] is None else f"black-box transfer from {r['source']} (crafted there)"
    asr = "ASR (share of clean-correct inputs sent to their target class)" if r["targeted"] else "ASR"
    size = f"Linf {r['linf']:.4f}, L2 {r['l2']:.4f}"
    if norm_name(r["norm"]) in ("L0", "retime"):
        from .events import event_measures_text

        size = event_measures_text(r)
    return (f"{r['attack']} ({r['grad']}, {budget}, {goal}) on {r['n']} inputs, {where}: clean accuracy "
            f"{r['clean_accuracy']:.4f}, {asr} {rate(r['asr'], r['asr_ci'])}, robust accuracy "
            f"{rate(r['robust_accuracy'], r['robust_accuracy_ci'])}, {size}, vanishing gradients {r['vanishing']}")

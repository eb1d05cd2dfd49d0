"""``spikeattack eval`` (alias ``evaluate``): clean accuracy of a checkpoint, or with ``--version`` the standard
evaluation (images) / with ``--norm L0`` the event evaluation (event frames, :mod:`.events`)."""

from __future__ import annotations

import argparse

from ..evaluation import accuracy
from .common import add_data_args, add_factory_args, add_output_args, budget, check_memory, emit, image_budget, naming
from ..results.output import norm_name
from .loading import load_model_and_data
from .evaluation_fields import evaluation_line, standard_fields
from .schemas import accuracy_fields

EVAL_BATCH = 256  # accuracy()'s batch size


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", aliases=["evaluate"],
                       help="clean accuracy of a checkpoint, or with --version the standard robustness evaluation "
                            "(event frames: --norm L0)",
                       description="Print the clean test accuracy of a checkpoint; with --version, run the standard "
                                   "evaluation (a fixed cascade of attacks x gradient estimators, per-input worst "
                                   "case, 95% Clopper-Pearson interval); on event frames with --norm L0, the event "
                                   "evaluation (SDA and spike-BIM under an L0 budget, the same output). "
                                   "Examples: spikeattack eval runs/models/digits-small_cnn-lif-seed0.pt; "
                                   "spikeattack evaluate model.pt --eps 0.1 --version standard --json; "
                                   "spikeattack evaluate ev.pt --norm L0 --eps 1% --json")
    p.add_argument("checkpoint", help="path written by 'spikeattack train' (with --factory: the weights file)")
    add_data_args(p, default=None)
    p.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate the first N test images only")
    p.add_argument("--timesteps", "-T", type=int, default=None,
                   help="evaluate with another number of time steps (with --factory: the model's own)")
    add_factory_args(p)
    p.add_argument("--version", default=None, choices=("standard", "plus", "rand"),
                   help="run the standard robustness evaluation (plus: more iterations, restarts and targets; "
                        "rand: EOT for stochastic models); without it, clean accuracy only")
    p.add_argument("--eps", type=budget, default=None,
                   help="budget of the evaluation: in pixel units for Linf/L2, e.g. 0.1 or 8/255; under L0 a count of "
                        "elements, e.g. 64, or a percentage of them, e.g. 1%%")
    p.add_argument("--norm", default=None, type=str.lower, choices=("linf", "l2", "l0"),
                   help="threat model: Linf or L2 for images (default: Linf); L0 (elements changed) for event frames, "
                        "which runs the event evaluation (SDA and spike-BIM cascade; the default for event models "
                        "with --version)")
    p.add_argument("--minimal", action="store_true",
                   help="event evaluation: run every stage without a budget and report each input's minimal flips "
                        "(robust accuracy still at --eps; without --eps at 100%% of the elements)")
    p.add_argument("--seed", type=int, default=0, help="seed of random starts, targets and encoder noise")
    add_output_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    evaluation = args.version is not None or args.norm == "l0" or args.minimal
    if not evaluation and args.eps is not None:
        raise ValueError("--eps: only used with --version (the standard evaluation) or --norm L0 (the event "
                         "evaluation)")
    if not evaluation and args.norm is not None:
        raise ValueError("--norm: only used with --version (the standard evaluation) or L0 (the event evaluation)")
    model, data, device, options = load_model_and_data(args)
    if args.timesteps is not None and not model.is_spiking:
        raise ValueError("--timesteps: the checkpoint holds an ANN, which has no time steps")
    if evaluation:
        from .events import check_event_norm_flags

        check_event_norm_flags(args, model)  # --norm / --minimal against the model's inputs
    if not args.factory:
        check_memory(model.config, device, batch=EVAL_BATCH, timesteps=args.timesteps, gradient=False,
                     flags={"--timesteps": args.timesteps is not None}, origin=f"checkpoint {args.checkpoint!r}")
    x, y = data.test_x, data.test_y
    if args.limit is not None:
        x, y = x[: args.limit], y[: args.limit]
    with naming({"model": f"checkpoint {args.checkpoint!r}", "target": f"checkpoint {args.checkpoint!r}"}):
        if evaluation and args.norm == "l0":
            from .events import run_event_evaluation

            return run_event_evaluation(args, model, data, options, x, y)
        if evaluation:
            return run_standard(args, model, data, options, x, y)
        if args.timesteps is not None and not args.factory:
            with model.override_timesteps(args.timesteps):
                acc = accuracy(model, x, y, progress=not args.quiet)
        else:
            acc = accuracy(model, x, y, progress=not args.quiet)
    result = {"checkpoint": args.checkpoint, "dataset": data.name, "data_options": options,
              "timesteps": model.timesteps if args.timesteps is None else args.timesteps, "n": len(y),
              **accuracy_fields(acc, len(y))}
    emit(args, "eval", result, f"clean accuracy {acc:.4f} on {len(y)} {data.name} test images")
    return 0


def run_standard(args: argparse.Namespace, model, data, options: dict, x, y) -> int:
    """``evaluate --version``: the standard evaluation on the (limited) test split."""
    from ..data.base import to_float
    from ..evaluation import standard_evaluation
    from .common import info

    eps = image_budget(args.eps)
    if eps is None:
        raise ValueError("--eps: the standard evaluation needs a budget, e.g. --eps 0.1")
    if args.timesteps is not None and not args.factory:
        raise ValueError("--timesteps: not supported with --version (evaluate the model as trained; with --factory "
                         "it gives the model's own time steps)")
    device = next(model.parameters()).device
    x = to_float(x).to(device)
    result = standard_evaluation(model, x, y.to(device), eps=eps, norm=args.norm, version=args.version,
                                 seed=args.seed, train_data=data, progress=lambda line: info(args, line))
    out = standard_fields(result, checkpoint=args.checkpoint, dataset=data.name, data_options=options)
    text = evaluation_line(result, f"standard evaluation ({result.version}, {norm_name(result.norm)}, "
                                   f"eps={result.eps:g})", f"{data.name} test images")
    emit(args, "standard-evaluation", out, text)
    return 0

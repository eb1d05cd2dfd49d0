"""The loop both scripts share: models x eps x recipes, resumable, one line per finished record."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import torch

from .execute import run
from .models import WEIGHTS, paths
from .recipes import WARM_BASES, order
from .runner import RESULTS, Context
from .suite import SUITE

DEFAULT_EPS = ("8/255", "4/255")


def parse_eps(text: str) -> float:
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number or a fraction like 8/255, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a value in (0, 1], got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser, catalog: dict) -> None:
    parser.add_argument("--models", nargs="*", default=None, help="suite models (default: every built one)")
    parser.add_argument("--eps", nargs="*", type=parse_eps, default=[parse_eps(e) for e in DEFAULT_EPS],
                        help="Linf budgets (default: 8/255 4/255)")
    parser.add_argument("--n", type=int, default=300, help="first N test inputs (default 300)")
    parser.add_argument("--smoke", action="store_true", help="N = 24 into results-smoke/ (a quick check)")
    parser.add_argument("--recipes", nargs="*", default=None, help=f"subset of: {', '.join(catalog)}")
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)


def settings(args: argparse.Namespace, parser: argparse.ArgumentParser, catalog: dict) -> tuple[list, int, Path]:
    models = args.models or [m for m in SUITE if paths(m, args.weights)[0].exists()]
    bad = [m for m in models if m not in SUITE]
    if bad:
        parser.error(f"--models: unknown {bad}; expected names from {list(SUITE)}")
    missing = [m for m in models if not paths(m, args.weights)[0].exists()]
    if missing:
        parser.error(f"--models: not built yet: {missing} (python perf/peers/build.py)")
    unknown = [r for r in (args.recipes or []) if r not in catalog]
    if unknown:
        parser.error(f"--recipes: unknown {unknown}")
    if args.n < 1:
        parser.error("--n: expected an integer >= 1")
    n = 24 if args.smoke else args.n
    results = args.results or (RESULTS.with_name("results-smoke") if args.smoke else RESULTS)
    return models, n, results


def run_grid(models: list[str], eps_list: list[float], n: int, names: list[str], catalog: dict, results: Path,
             weights: Path, seed: int = 0) -> None:
    torch.set_num_threads(1)
    names = order(names, catalog)
    for eps in eps_list:
        for model in models:
            ctx = Context(model, eps, n, seed=seed, weights=weights, results=results)
            for name in names:
                fresh = ctx.cached(name) is None
                rec = run(ctx, name, catalog, save_adv=name in WARM_BASES)
                if fresh:
                    print(f"{model} eps={eps * 255:g}/255 {name}: robust {rec.robust}/{n} "
                          f"(clean {sum(rec.clean_correct)}), CPU {rec.cpu_s:.1f} s, wall {rec.wall_s:.1f} s",
                          flush=True)

"""``spikeattack bench``: run an experiment file into a run folder (resumable, shardable)."""

from __future__ import annotations

import argparse
import os

from ..bench.experiment import load_experiment
from ..bench.runner import STORE_NAME, Runner
from ..io import check_output_dir
from .common import add_output_args, emit, info


def parse_shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N, e.g. 0/4, got {text!r}") from None
    if not sep or not 0 <= shard[0] < shard[1]:
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return shard


def add_run_args(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--out", default=default_out, help=f"run folder: results store, models, report (default: {default_out})")
    p.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="I/N",
                   help="run only the cells of shard I of N (processes share the store); default: all")
    p.add_argument("--no-report", action="store_true", help="do not write the report after the run")
    add_output_args(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run an experiment grid (resumable) and write its report",
                       description="Train or load the experiment's models, run every cell (target, source, attack, "
                                   "estimator, eps) not yet in the results store, then write the report. Killed runs "
                                   "resume where they stopped. Example: spikeattack bench my.toml --out runs/my")
    p.add_argument("experiment", help="experiment file (TOML); see spikeattack/bench/presets/ for examples")
    add_run_args(p, "runs/bench")
    p.set_defaults(func=run)


def execute(experiment, args: argparse.Namespace) -> dict:
    """Run ``experiment`` into ``args.out`` and (unless --no-report) write the report."""
    check_output_dir(args.out, "--out")
    runner = Runner(experiment, args.out, device=args.device, progress=not args.quiet,
                    log=lambda m: info(args, m))
    try:
        report = runner.run(args.shard)
    finally:
        runner.store.close()
    result = {"experiment": experiment.name, "out": args.out, "store": os.path.join(args.out, STORE_NAME),
              "computed": report.computed, "skipped": report.skipped, "seconds": round(report.seconds, 1),
              "models_trained": report.models_trained}
    if not args.no_report and args.shard[0] == 0:
        from ..bench.report import write_report

        paths = write_report(os.path.join(args.out, STORE_NAME), args.out, experiment=experiment.name)
        result["report"] = {k: str(v) for k, v in paths.items()} if isinstance(paths, dict) else str(paths)
    return result


def run(args: argparse.Namespace) -> int:
    experiment = load_experiment(args.experiment)
    result = execute(experiment, args)
    where = result.get("report", {})
    where = where.get("markdown", where) if isinstance(where, dict) else where
    emit(args, result, f"{result['computed']} cells computed, {result['skipped']} already finished "
                       f"({result['seconds']} s); results in {result['store']}" + (f"; report: {where}" if where else ""))
    return 0

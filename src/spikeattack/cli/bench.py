"""``spikeattack bench``: run an experiment file into a run folder (resumable, shardable)."""

from __future__ import annotations

import argparse
import os

from ..bench.experiment import load_experiment
from ..bench.runner import Runner
from ..results.store import STORE_NAME
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
                   help="run only the cells of shard I of N (processes on this machine share the store, which "
                        "must be on a local disk); default: all")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run cells (and model trainings) as Ray tasks: a local Ray instance without ADDRESS, else "
                        "join the cluster at ADDRESS ('auto' or host:port); needs spikeattack[distributed]")
    p.add_argument("--ray-cpus", type=int, default=None, metavar="N",
                   help="with --ray and no ADDRESS: CPUs (parallel workers) of the local instance (default: all)")
    p.add_argument("--chunk", type=int, default=None, metavar="N",
                   help="with --ray: split each cell into tasks of N test inputs (whole batches), merged before "
                        "writing (default: one task per cell)")
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
    if getattr(args, "ray", None) is not None:
        from ..bench.distributed import RayRunner

        try:
            runner = RayRunner(experiment, args.out, address=None if args.ray == "local" else args.ray,
                               num_cpus=args.ray_cpus, device=args.device, chunk=args.chunk, progress=not args.quiet,
                               log=lambda m: info(args, m))
        except ValueError as exc:  # name the flag, not the Python argument
            name, sep, rest = str(exc).partition(":")
            flag = {"address": "--ray", "num_cpus": "--ray-cpus", "chunk": "--chunk", "device": "--device"}.get(name)
            raise ValueError(f"{flag}:{rest}" if sep and flag else str(exc)) from exc
    elif args.ray_cpus is not None or args.chunk is not None:
        raise ValueError("--ray-cpus/--chunk: only with --ray")
    else:
        runner = Runner(experiment, args.out, device=args.device, progress=not args.quiet,
                        log=lambda m: info(args, m))
    store = runner.store if isinstance(runner, Runner) else runner.runner.store
    try:
        report = runner.run(args.shard)
    finally:
        store.close()
    result = {"experiment": experiment.name, "out": args.out, "store": os.path.join(args.out, STORE_NAME),
              "computed": report.computed, "skipped": report.skipped, "seconds": round(report.seconds, 1),
              "models_trained": report.models_trained}
    if getattr(args, "ray", None) is not None:
        result["ray_startup_seconds"] = round(runner.startup_seconds, 1)
    if not args.no_report and args.shard[0] == 0:
        from ..results.report import write_report

        paths = write_report(os.path.join(args.out, STORE_NAME), args.out, experiment=experiment.name)
        result["report"] = {k: str(v) for k, v in paths.items()}
    return result


def run(args: argparse.Namespace) -> int:
    experiment = load_experiment(args.experiment)
    result = execute(experiment, args)
    where = result.get("report", {}).get("markdown")
    emit(args, "bench", result, f"{result['computed']} cells computed, {result['skipped']} already finished "
                       f"({result['seconds']} s); results in {result['store']}" + (f"; report: {where}" if where else ""))
    return 0

"""``spikeattack reproduce``: a paper's experiment grid, small (embedded data, CPU minutes) or full."""

from __future__ import annotations

import argparse
import os

from ..bench.experiment import parse_experiment
from ..results.papers import comparison_markdown, sda_comparison_markdown
from ..bench.presets import PAPERS, SCALES, preset_text
from ..results.store import STORE_NAME, ResultsStore
from ..io import write_text
from .bench import add_run_args, execute
from .common import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run a paper's experiment grid and compare with its numbers",
                       description="Reproduce the experiment grid of Liang et al. (liang; with Lun et al.'s SDA beside "
                                   "spike-BIM), Bu et al. (rga), Hao et al. "
                                   "(hart) or Sharmin et al. (sharmin). --scale small runs on the embedded data in "
                                   "minutes on a CPU; --scale full uses the paper's datasets and architectures (data "
                                   "from --data-root; GPU recommended). Example: spikeattack reproduce hart --out runs/hart")
    p.add_argument("paper", choices=PAPERS, help="which paper")
    p.add_argument("--scale", default="small", choices=SCALES, help="small (embedded data) or full (default: small)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder of the paper's dataset (full scale)")
    add_run_args(p, "runs/reproduce")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    name = f"{args.paper}-{args.scale}"
    experiment = parse_experiment(preset_text(name), f"{name}.toml")
    if args.data_root is not None:
        experiment.data["root"] = args.data_root
    if args.out == "runs/reproduce":
        args.out = os.path.join("runs", name)
    result = execute(experiment, args)
    with ResultsStore(os.path.join(args.out, STORE_NAME), readonly=True) as store:
        rows = store.rows(experiment=experiment.name)
        table = comparison_markdown(args.paper, rows, store.analyses(experiment=experiment.name))
        sda = sda_comparison_markdown(rows) if args.paper == "liang" else ""
    path = os.path.join(args.out, "comparison.md")
    write_text(path, f"# {name}: our numbers beside the paper's\n\n"
                     f"At small scale the targets are small networks on the embedded {experiment.data['dataset']} "
                     "data: compare orderings and "
                     "trends (strongest estimator, white- vs black-box, robust vs plain target), not absolute values."
                     f"\n\n{table}\n" + (f"\n{sda}\n" if sda else ""))
    result.update(paper=args.paper, scale=args.scale, comparison=path)
    emit(args, "reproduce", result, f"{result['computed']} cells computed, {result['skipped']} already finished; "
                       f"report in {args.out}; paper comparison: {path}")
    return 0

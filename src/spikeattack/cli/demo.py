"""``spikeattack demo``: the README's first command, the ``demo`` preset on embedded digits.

Trains a LIF spiking CNN, its black-box twin (another seed), the ANN of the same
architecture and an adversarially trained SNN; attacks with FGSM and PGD under every
gradient estimator, white-box, black-box and cross (ANN vs SNN both ways); runs the
spike-shuffle test; writes the results store and the report, and prints the headline.
"""

from __future__ import annotations

import argparse
import os

from ..bench.experiment import parse_experiment
from ..bench.presets import preset_text
from ..results.report import report_headline, report_quotes
from ..results.store import STORE_NAME
from .bench import add_run_args, execute
from .common import emit
from .report import headline_line, quote_line


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train embedded models, run a compact attack grid, write the report",
                       description="The main job on the embedded digits data: trains the models, runs every "
                                   "estimator with FGSM and PGD, white-box, black-box and SNN/ANN cross, and writes "
                                   "a Markdown + HTML report. Example: spikeattack demo --out runs/demo")
    add_run_args(p, "runs/demo")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    experiment = parse_experiment(preset_text("demo"), "demo.toml")
    result = execute(experiment, args)
    report = result.get("report", {})
    where = report.get("html") or report.get("markdown")
    headline = report_headline(os.path.join(args.out, STORE_NAME), experiment.name)
    quoted = [q for q in report_quotes(os.path.join(args.out, STORE_NAME), experiment.name) if q["source"] != "grid worst case"]
    result["headline"], result["quote"] = headline, quoted
    lines = [f"{result['computed']} cells computed, {result['skipped']} already finished ({result['seconds']} s)."]
    if quoted:
        lines.append("the number to quote: the standard evaluation [95% CI]:")
        lines += [f"  {quote_line(q)}" for q in quoted]
    lines.append("grid: robust accuracy, per-input worst case over every white-box attack and estimator [95% CI]:")
    lines += [f"  {headline_line(h)}" for h in headline]
    lines.append(f"Report: {where}")
    emit(args, "demo", result, "\n".join(lines))
    return 0

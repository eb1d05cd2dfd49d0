"""Every candidate stage of a cascade run alone on all clean-correct inputs of each suite model:
per input, broken or not and the CPU seconds spent on it (the evidence ``cascade_sim.py`` reads).

    OMP_NUM_THREADS=1 python perf/peers/stages.py --smoke            # N = 24, every model, both eps
    OMP_NUM_THREADS=1 nohup nice -n 5 python perf/peers/stages.py --n 300 &

Stages (``recipes.STAGES``): APGD-CE (25 steps) and APGD-T (DLR, 3 targets, 25 steps) with each of
stbp, bptr, rga, hart, cba, assg; SA-PGD + ASSG at 25/50/100/200 steps, at 50/100 with a restart;
PGD-100 with each fixed estimator; APGD-CE + MDSE at 25 and 100 steps; Square at 500/1000/5000
queries; SA-PGD warm-started from APGD-CE (stbp)'s or SA-PGD's kept point.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "peers"

from .grid import add_arguments, run_grid, settings  # noqa: E402
from .recipes import STAGES  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, STAGES)
    args = parser.parse_args(argv)
    models, n, results = settings(args, parser, STAGES)
    run_grid(models, args.eps, n, args.recipes or list(STAGES), STAGES, results, args.weights, args.seed)


if __name__ == "__main__":
    main()

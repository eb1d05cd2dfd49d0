"""The standard evaluation side by side with the published recipes, each alone at its published
budget, on every model of the peer suite (``perf/peers/``; build it first with
``python perf/peers/build.py``).

    OMP_NUM_THREADS=1 python perf/vs_peers.py --smoke                   # N = 24: a quick check
    OMP_NUM_THREADS=1 nohup nice -n 5 python perf/vs_peers.py --n 300 &  # the table's runs
    python perf/vs_peers.py --table --n 300                              # docs/peers.md from the records

Recipes (``peers.recipes.PEERS``): SA-PGD + ASSG 100 steps; torchattacks AutoAttack standard at
its original budget on the raw network's own autograd; PGD-100 with each fixed estimator; APGD-CE
+ MDSE 100 steps; ``standard_evaluation`` (version standard). Per input and recipe: broken or
not, CPU seconds; one JSON record per model x eps x recipe under ``perf/peers/results/``.
Default eps: 8/255 and 4/255.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers.grid import add_arguments, run_grid, settings  # noqa: E402
from peers.recipes import PEERS  # noqa: E402
from peers.report import markdown  # noqa: E402
from peers.runner import RESULTS  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "peers.md"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, PEERS)
    parser.add_argument("--table", action="store_true", help="write docs/peers.md from the saved records, run nothing")
    parser.add_argument("--out", type=Path, default=DOCS, help="where --table writes (default docs/peers.md)")
    args = parser.parse_args(argv)
    models, n, results = settings(args, parser, PEERS)
    if args.table:
        command = "OMP_NUM_THREADS=1 python perf/vs_peers.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])
                                                                          if a != "--table")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown(results or RESULTS, args.weights, models, args.eps, n, command.strip()))
        print(f"wrote {args.out}")
        return
    run_grid(models, args.eps, n, args.recipes or list(PEERS), PEERS, results, args.weights, args.seed)


if __name__ == "__main__":
    main()

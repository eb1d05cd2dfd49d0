"""Shard race: two ``spikeattack bench --shard I/2`` processes started together on an empty run
folder, repeated; every cell must be in the results store exactly once each time.

Both shards need the same model (nothing is cached yet), so they race to train it: the
model-cache lock makes one train it while the other waits and loads it, and the unique
temporary names of the atomic checkpoint write keep the two from clobbering each other.

    python perf/shard_race.py                 # 20 repetitions
    python perf/shard_race.py --repeats 5 --keep /tmp/race

Prints one line per repetition and a summary; exits 1 if any repetition lost or doubled a
cell, or if a process failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXPERIMENT = """\
name = "shard-race"
seed = 0

[data]
dataset = "digits"
limit = 16

[train]
epochs = 1
lr = 5e-3

[models.snn]
arch = "small_cnn"
timesteps = 2
arch_options = { channels = [4, 8], hidden = 16 }

[[grid]]
targets = ["snn"]
attacks = ["fgsm", "pgd"]
estimators = ["stbp", "bptr", "rga"]
eps = [0.1, 0.2]
scenarios = ["white-box"]
params = { steps = 2 }
"""


def race(run: Path, experiment: Path) -> tuple[bool, str]:
    from spikeattack.bench.experiment import parse_experiment
    from spikeattack.results.store import ResultsStore

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-m", "spikeattack.cli.main", "bench", str(experiment), "--out",
                               str(run), "--shard", f"{i}/2", "--quiet", "--no-report"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    errors = []
    for i, p in enumerate(procs):
        _, err = p.communicate()
        if p.returncode != 0:
            errors.append(f"shard {i}/2 exit {p.returncode}: {err.strip().splitlines()[-1] if err.strip() else ''}")
    exp = parse_experiment(experiment.read_text())
    expected = {c.id(exp) for c in exp.cells}
    with ResultsStore(run / "results.sqlite", readonly=True) as store:
        ids = [r["id"] for r in store.rows()]
        counts = store.computation_counts()
    missing = expected - set(ids)
    doubled = [i for i in ids if counts.get(i, 0) != 1]
    leftovers = [p.name for p in (run / "models").iterdir() if p.name.endswith(".tmp")]
    ok = not (errors or missing or doubled or leftovers) and len(ids) == len(expected)
    detail = (f"{len(ids)}/{len(expected)} cells, missing {len(missing)}, computed twice {len(doubled)}, "
              f"temporary files left {len(leftovers)}" + (f"; {'; '.join(errors)}" if errors else ""))
    return ok, detail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--keep", default=None, metavar="DIR", help="keep the run folders here (default: a temp dir)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="shard-race-"))
    base.mkdir(parents=True, exist_ok=True)
    experiment = base / "race.toml"
    experiment.write_text(EXPERIMENT)
    failures = 0
    start = time.perf_counter()
    for k in range(args.repeats):
        t0 = time.perf_counter()
        ok, detail = race(base / f"run{k}", experiment)
        failures += not ok
        print(f"repetition {k + 1:2d}: {'ok  ' if ok else 'FAIL'} {detail} ({time.perf_counter() - t0:.1f} s)",
              flush=True)
    print(f"{args.repeats - failures}/{args.repeats} repetitions with every cell exactly once "
          f"({time.perf_counter() - start:.0f} s)")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of one experiment grid: one process vs local Ray with N workers.

Each run goes into a fresh folder (models trained, every cell computed), through the
command line, so both sides pay the same start-up; the Ray side also reports how long
``ray.init`` took (``ray_startup_seconds``).

    python perf/ray_scaling.py                                # the demo preset, 2 workers
    python perf/ray_scaling.py my.toml --workers 4 --out /tmp/scaling

Prints one JSON object (the README's "Scaling out" numbers come from this script).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def timed_bench(experiment: str, out: Path, extra: list[str]) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "spikeattack.cli.main", "bench", experiment, "--out", str(out),
                           "--quiet", "--no-report", "--json", *extra], capture_output=True, text=True,
                          env=os.environ | {"OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench failed ({' '.join(extra)}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_seconds": round(wall, 1), "cells": result["computed"], "models": len(result["models_trained"]),
            **({"ray_startup_seconds": result["ray_startup_seconds"]} if "ray_startup_seconds" in result else {})}


def main() -> None:
    default = str(Path(__file__).resolve().parents[1] / "src/spikeattack/bench/presets/demo.toml")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default=default)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="/tmp/spikeattack-scaling")
    args = parser.parse_args()
    out = Path(args.out)
    single = timed_bench(args.experiment, out / "single", [])
    ray = timed_bench(args.experiment, out / "ray", ["--ray", "--ray-cpus", str(args.workers)])
    print(json.dumps({"experiment": args.experiment, "workers": args.workers, "cpus": os.cpu_count(),
                      "single_process": single, "ray": ray,
                      "speedup": round(single["wall_seconds"] / ray["wall_seconds"], 2)}, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The test suite under other torch releases than the lock's, each in its own venv:
# the evidence behind pyproject.toml's torch range. Usage: perf/torch_range.sh 2.9.1 2.14.1
# (pip must find those torch wheels; on the project's machines they lie on local disk).
set -euo pipefail
cd "$(dirname "$0")/.."
for version in "$@"; do
    venv="${TMPDIR:-/tmp}/spikeattack-torch-$version"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "torch==$version"
    grep -v '^torch==' requirements/dev.lock > "$venv/lock.txt"
    "$venv/bin/pip" install --quiet --no-deps -r "$venv/lock.txt"
    "$venv/bin/pip" install --quiet --no-deps --no-build-isolation -e .
    echo "== torch $version"
    OMP_NUM_THREADS=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider | tail -n 1
done

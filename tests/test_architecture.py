"""The package's shape: the layer contract, module sizes, the front door, a torch-free results layer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import spikeattack

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "spikeattack"
MAX_MODULE_LINES = 500


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_layer_contract_holds():
    """pyproject.toml's [tool.importlinter] contracts: layers point down, results/ imports no torch,
    no import cycles inside a package."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "BROKEN" not in out.stdout


def test_no_module_over_the_size_limit():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    too_long = {k: v for k, v in sizes.items() if v > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_results_layer_imports_without_torch():
    code = ("import sys, spikeattack.results.report, spikeattack.results.headline, spikeattack.results.hygiene, "
            "spikeattack.results.store; print('torch' in sys.modules)")
    assert _run("-c", code).stdout.split() == ["False"]


def test_front_door_names_resolve():
    for name in spikeattack.__all__:
        assert getattr(spikeattack, name) is not None, name
    assert set(dir(spikeattack)) >= set(spikeattack.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(spikeattack, "nope")


def test_python_dash_m_runs_the_command():
    out = _run("-m", "spikeattack", "--version")
    assert out.returncode == 0 and out.stdout.strip() == f"spikeattack {spikeattack.__version__}"

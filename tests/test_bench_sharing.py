"""A bench grid whose cells share forwards across estimators gives the same rows as one
computed cell by cell."""

import contextlib
import shutil

import pytest

import spikeattack.bench.runner as runner_module
from spikeattack.bench.experiment import parse_experiment
from spikeattack.bench.runner import run_experiment
from spikeattack.bench.sharing import group_key, shared_groups
from spikeattack.results.store import ResultsStore

from helpers import sharing_grid



def rows(path):
    with ResultsStore(path / "results.sqlite") as store:
        return {(r["attack"], r["grad"]): (r["per_input"], r["metrics"]["asr"]) for r in store.rows()}


@pytest.mark.parametrize("encoding", ["direct", "poisson"])
def test_shared_grid_equals_cell_by_cell(tmp_path, monkeypatch, encoding):
    exp = parse_experiment(sharing_grid(encoding, ["fgsm", "pgd"], ["stbp", "bptr", "rga", "hart", "cba"], [0.1]))
    groups = shared_groups([(i, c) for i, c in enumerate(exp.cells)])
    assert sorted(len(g) for g in groups) == [5, 5]
    assert all(len({group_key(c) for _, c in g}) == 1 for g in groups)
    real, caches = runner_module.sharing, []

    @contextlib.contextmanager
    def recording(cells):
        with real(cells) as cache:
            caches.append(cache)
            yield cache

    monkeypatch.setattr(runner_module, "sharing", recording)
    shared = run_experiment(exp, tmp_path / "shared", progress=False, log=lambda m: None)
    # per group (FGSM; PGD) and batch: one clean prediction and one first gradient computed,
    # each served to the four other estimators' cells
    assert sum(c.served for c in caches) == 2 * 2 * 4 and sum(c.computed for c in caches) == 2 * 2
    shutil.copytree(tmp_path / "shared" / "models", tmp_path / "alone" / "models")  # the same trained model
    monkeypatch.setattr(runner_module, "sharing", lambda cells: contextlib.nullcontext())
    alone = run_experiment(exp, tmp_path / "alone", progress=False, log=lambda m: None)
    assert shared.computed == alone.computed == len(exp.cells)
    assert rows(tmp_path / "shared") == rows(tmp_path / "alone")

"""The Ray runner: same store as one process, chunked cells, killed workers and drivers.

One local Ray session (2 CPUs) is shared by the module; Ray's start-up takes seconds.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ray = pytest.importorskip("ray")

from spikeattack.bench.distributed import RayRunner, chunk_ranges, merge_parts  # noqa: E402
from spikeattack.bench.experiment import parse_experiment  # noqa: E402
from spikeattack.evaluation.metrics import PerInput, Summary, summarize  # noqa: E402
from spikeattack.bench.runner import run_experiment  # noqa: E402
from spikeattack.results.store import ResultsStore  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")

TINY = """
name = "tiny"
seed = 0
[data]
dataset = "digits"
limit = 40
batch_size = 16
[train]
epochs = 1
lr = 5e-3
[models.snn]
arch = "small_cnn"
timesteps = 4
arch_options = { channels = [8, 16], hidden = 32 }
[models.ann]
neuron = "relu"
arch_options = { channels = [8, 16], hidden = 32 }
[[grid]]
targets = ["snn"]
attacks = ["fgsm", "pgd"]
estimators = ["stbp", "rga"]
eps = [0.1]
scenarios = ["white-box", "black-box"]
cross = ["ann"]
params = { steps = 3 }
"""
# the same models, more cells (for the kill tests: cells still pending when the kill comes)
LONGER = TINY.replace("eps = [0.1]", "eps = [0.05, 0.1, 0.15, 0.2, 0.25]")


def quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def ray_session():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """The plain single-process run of TINY: its folder (store and trained models)."""
    out = tmp_path_factory.mktemp("plain")
    run_experiment(parse_experiment(TINY), out, progress=False, log=quiet)
    return out


def with_models_of(plain: Path, out: Path) -> Path:
    """A fresh run folder holding the plain run's trained models (so nothing trains again)."""
    shutil.copytree(plain / "models", out / "models")
    return out


def cells_by_id(path: Path) -> dict[str, dict]:
    with ResultsStore(path / "results.sqlite") as store:
        return {r["id"]: r for r in store.rows()}


def computations(path: Path) -> dict[str, int]:
    with ResultsStore(path / "results.sqlite") as store:
        return store.computation_counts()


def test_ray_run_gives_the_single_process_store(ray_session, plain_run, tmp_path):
    exp = parse_experiment(TINY)
    report = RayRunner(exp, tmp_path, progress=False, log=quiet).run()
    ours, theirs = cells_by_id(tmp_path), cells_by_id(plain_run)
    assert set(ours) == set(theirs) == {c.id(exp) for c in exp.cells}
    for cid, row in theirs.items():
        for key in ("target", "source", "scenario", "attack", "grad", "eps", "config", "metrics", "per_input"):
            assert ours[cid][key] == row[key], (cid, key)
    assert computations(tmp_path) == {cid: 1 for cid in theirs}
    # every model trained once (a task per config hash), and recorded like the plain run records it
    assert sorted(report.models_trained) == sorted(exp.models)
    with ResultsStore(tmp_path / "results.sqlite") as a, ResultsStore(plain_run / "results.sqlite") as b:
        assert [(m["key"], m["clean_accuracy"]) for m in a.models()] == [(m["key"], m["clean_accuracy"]) for m in b.models()]
    # the computation log names the Ray workers, not the driver
    with ResultsStore(tmp_path / "results.sqlite") as store:
        workers = {w for (w,) in store.conn.execute("SELECT worker FROM computations")}
    assert workers and f":{os.getpid()}" not in "".join(workers)


def test_chunked_cells_merge_to_the_unchunked_metrics(ray_session, plain_run, tmp_path):
    exp = parse_experiment(TINY)
    out = with_models_of(plain_run, tmp_path)
    assert chunk_ranges(40, 16, 16) == [(0, 16), (16, 32), (32, 40)]
    runner = RayRunner(exp, out, chunk=16, progress=False, log=quiet)
    report = runner.run()
    assert runner.cell_tasks == 3 * len(exp.cells)
    assert report.models_trained == []  # the run folder's models are shared, not trained again
    ours, theirs = cells_by_id(out), cells_by_id(plain_run)
    assert set(ours) == set(theirs)
    for cid, row in theirs.items():
        assert ours[cid]["metrics"] == row["metrics"], cid
        assert ours[cid]["per_input"] == row["per_input"], cid


def test_merge_parts_summarises_the_concatenated_inputs():
    gen = torch.Generator().manual_seed(3)
    n = 50
    label = torch.randint(0, 10, (n,), generator=gen)
    per = PerInput(label=label, clean_pred=torch.where(torch.rand(n, generator=gen) < 0.8, label, (label + 1) % 10),
                   adv_pred=torch.randint(0, 10, (n,), generator=gen), target=None,
                   linf=torch.rand(n, generator=gen, dtype=torch.float64),
                   l2=torch.rand(n, generator=gen, dtype=torch.float64),
                   l2_per_point=torch.rand(n, generator=gen, dtype=torch.float64),
                   vanishing=torch.rand(n, generator=gen) < 0.1)
    flips = torch.rand(n, generator=gen, dtype=torch.float64)
    pieces = [(0, 7), (7, 30), (30, 50)]
    parts = []
    for a, b in pieces:
        chunk = PerInput(**{k: getattr(per, k)[a:b] if getattr(per, k) is not None else None
                            for k in PerInput.__dataclass_fields__})
        summary = summarize(chunk)
        summary.extra = {"config": {"attack": "x"}, "flips": float(flips[a:b].mean())}
        parts.append((summary, chunk, 1.5))
    summary, merged, seconds = merge_parts(parts)
    whole = summarize(per)
    for key in ("n", "clean_accuracy", "asr", "robust_accuracy", "accuracy_loss", "linf", "l2", "l2_per_point",
                "vanishing"):
        assert getattr(summary, key) == getattr(whole, key), key
    assert torch.equal(merged.adv_pred, per.adv_pred)
    assert summary.extra["flips"] == pytest.approx(float(flips.mean()), rel=1e-12)
    assert summary.extra["config"] == {"attack": "x"} and seconds == 4.5
    assert isinstance(summary, Summary)


def test_killed_worker_has_its_cell_retried_and_written_once(ray_session, plain_run, tmp_path):
    exp = parse_experiment(LONGER)
    out = with_models_of(plain_run, tmp_path)
    written, killed, busy = [], [], []

    def cpu_ticks(pid: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def kill_a_busy_worker(cell_id: str, worker: str) -> None:
        written.append(cell_id)
        if not killed:  # the worker that just returned a cell is already on the next queued one
            pid = int(worker.rsplit(":", 1)[1])
            before = cpu_ticks(pid)
            time.sleep(0.5)
            busy.append(cpu_ticks(pid) > before)  # it was computing when it died
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    report = RayRunner(exp, out, max_retries=3, progress=False, log=quiet, on_written=kill_a_busy_worker).run()
    ids = {c.id(exp) for c in exp.cells}
    assert killed and busy == [True]
    assert sorted(written) == sorted(ids)  # each cell reached the driver and was written exactly once
    assert report.computed == len(ids)
    assert computations(out) == {cid: 1 for cid in ids}
    # and the store holds what one process computes for the cells both runs have
    theirs, ours = cells_by_id(plain_run), cells_by_id(out)
    for cid in theirs:
        assert ours[cid]["metrics"] == theirs[cid]["metrics"]


def test_sigkilled_driver_resumes_without_losing_or_redoing_cells(ray_session, plain_run, tmp_path):
    exp_file = tmp_path / "exp.toml"
    exp_file.write_text(LONGER)
    out = with_models_of(plain_run, tmp_path / "run")
    env = os.environ | {"PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1",
                        "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.Popen([sys.executable, "-m", "spikeattack.cli.main", "bench", str(exp_file), "--out", str(out),
                             "--ray", "--ray-cpus", "2", "--quiet", "--no-report"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    store_path = out / "results.sqlite"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if store_path.exists():
                try:
                    with sqlite3.connect(store_path, timeout=30) as conn:
                        if conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0] >= 2:
                            break
                except sqlite3.OperationalError:
                    pass  # the schema is being created
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        try:  # Ray's own processes of that run (its process group) end with their driver
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    before = cells_by_id(out)
    exp = parse_experiment(LONGER)
    ids = {c.id(exp) for c in exp.cells}
    assert 2 <= len(before) < len(ids)
    report = RayRunner(exp, out, progress=False, log=quiet).run()
    after = cells_by_id(out)
    assert report.skipped == len(before) and report.computed == len(ids) - len(before)
    assert set(after) == ids
    for cid, row in before.items():  # finished cells kept as they were, never recomputed
        assert after[cid]["finished_at"] == row["finished_at"]
    assert computations(out) == {cid: 1 for cid in ids}


def test_cli_chunk_needs_ray(tmp_path, capsys):
    from spikeattack.cli.main import main

    exp_file = tmp_path / "exp.toml"
    exp_file.write_text(TINY)
    assert main(["bench", str(exp_file), "--out", str(tmp_path / "run"), "--chunk", "8", "--quiet"]) != 0
    assert "--chunk" in capsys.readouterr().err


@pytest.mark.parametrize("chunk", [0, -3, 2.5, True])
def test_chunk_must_be_a_positive_integer(chunk):
    with pytest.raises(ValueError, match="chunk"):
        chunk_ranges(40, chunk, 16)


USER_NET = '''
import torch
from torch import nn
from spikingjelly.activation_based import layer, neuron, surrogate

def csnn():
    torch.manual_seed(0)
    return nn.Sequential(
        layer.Conv2d(1, 4, 3, padding=1, step_mode="m"),
        neuron.LIFNode(tau=2.0, detach_reset=True, surrogate_function=surrogate.ATan(), step_mode="m"),
        layer.Flatten(step_mode="m"), layer.Linear(4 * 64, 10, step_mode="m"))
'''

USER_EXPERIMENT = """
name = "user"
seed = 0
[data]
dataset = "digits"
limit = 24
[models.mine]
factory = "nets.py:csnn"
weights = "csnn.pth"
timesteps = 4
[[grid]]
targets = ["mine"]
attacks = ["fgsm"]
estimators = ["stbp", "rga"]
eps = [0.1]
"""


def test_a_user_model_runs_on_ray_as_in_one_process(ray_session, tmp_path):
    """A ``factory`` model is never trained: each Ray worker loads it from its files."""
    pytest.importorskip("spikingjelly.activation_based.neuron")
    (tmp_path / "nets.py").write_text(USER_NET)
    ns: dict = {}
    exec(USER_NET, ns)
    torch.save(ns["csnn"]().state_dict(), tmp_path / "csnn.pth")
    (tmp_path / "exp.toml").write_text(USER_EXPERIMENT)
    exp = parse_experiment(USER_EXPERIMENT, str(tmp_path / "exp.toml"))
    run_experiment(exp, tmp_path / "plain", progress=False, log=quiet)
    report = RayRunner(exp, tmp_path / "ray", progress=False, log=quiet).run()
    assert report.models_trained == []
    ours, theirs = cells_by_id(tmp_path / "ray"), cells_by_id(tmp_path / "plain")
    assert set(ours) == set(theirs) and len(ours) == 2
    for cid, row in theirs.items():
        assert ours[cid]["metrics"] == row["metrics"] and ours[cid]["per_input"] == row["per_input"]

"""Issue 18, the second bad-input and fault campaign, through the command line.

Every case runs in-process through ``spikeattack.cli.main.main`` and asserts the exit code, the
flag / key / file named in one stderr line, no traceback, and (``inside``) that every file of
the workspace is byte-identical afterwards. Each kind has one root fix; the tests name the case
of the campaign they stand for.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import spikeattack.io as sio
from spikeattack.bench.experiment import parse_experiment
from spikeattack.cli.main import main
from spikeattack.results.store import ResultsStore
from spikeattack.training import load_checkpoint, save_checkpoint

from helpers import assert_one_line_error, run_cli, snapshot

SRC = str(Path(__file__).resolve().parents[1] / "src")
TRAIN = ["--dataset", "digits", "--epochs", "1", "--timesteps", "2", "--width", "0.5", "--limit-train", "100", "--quiet"]

EXPERIMENT = """\
name = "{name}"
seed = 0
[data]
dataset = "digits"
limit = 8
[train]
epochs = 1
lr = 5e-3
[models.snn]
arch = "small_cnn"
timesteps = 2
arch_options = {{ channels = [4, 8], hidden = 16 }}
{extra}
[[grid]]
targets = ["snn"]
attacks = {attacks}
estimators = ["stbp"]
eps = [0.1]
"""


def experiment(name: str = "alpha", extra: str = "", attacks: str = '["fgsm"]') -> str:
    return EXPERIMENT.format(name=name, extra=extra, attacks=attacks)


def edited(source: Path, target: Path, *, state: dict | None = None, config: dict | None = None) -> Path:
    """A copy of checkpoint ``source`` with some state_dict entries or config keys replaced (its
    checksum left as written: the specific check must fire before the checksum's)."""
    payload = torch.load(source, weights_only=True)
    if state:
        payload["state_dict"] = dict(payload["state_dict"]) | state
    if config:
        payload["config"] = dict(payload["config"]) | config
    torch.save(payload, target)
    return target


def make_null_device(path: Path) -> None:
    """A character device node like /dev/null inside the test folder (never the system's own: a
    regression would replace it); where this user may not make device nodes, a FIFO stands in."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        os.mkfifo(path)


# ---------------------------------------------------------------------------------------------- workspace
@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("issue18")
    assert main(["train", *TRAIN, "--out", str(root / "snn.pt")]) == 0
    snn = root / "snn.pt"
    state = torch.load(snn, weights_only=True)["state_dict"]
    weight = next(k for k, v in state.items() if v.is_floating_point() and v.dim() > 1)
    variance = next(k for k in state if k.endswith("running_var"))
    edited(snn, root / "string.pt", state={weight: "hello"})
    edited(snn, root / "nan-weight.pt", state={weight: torch.full_like(state[weight], float("nan"))})
    edited(snn, root / "inf-bn.pt", state={variance: torch.full_like(state[variance], float("inf"))})
    edited(snn, root / "int-weight.pt", state={weight: state[weight].round().long()})
    edited(snn, root / "bool-weight.pt", state={weight: state[weight] > 0})
    edited(snn, root / "huge-T.pt", config={"timesteps": 10 ** 8})
    edited(snn, root / "huge-width.pt", config={"arch_options": {"channels": [100000, 100000], "hidden": 16}})
    edited(snn, root / "huge-ann.pt", config={"neuron": "relu", "arch_options": {"channels": [100000, 100000],
                                                                                  "hidden": 16}})
    edited(snn, root / "nan-mean.pt", config={"mean": [float("nan")], "std": [1.0]})
    edited(snn, root / "string-seed.pt", config={"encoder_seed": "0"})
    # a bit flipped in a stored weight: the file still unpickles, its checksum does not match
    raw = bytearray(snn.read_bytes())
    at = bytes(raw).index(state[weight].numpy().tobytes()) + 5
    raw[at] ^= 0x04
    (root / "bit-flip.pt").write_bytes(bytes(raw))
    # finite weights whose output overflows to inf: a model that cannot be scored
    model, meta = load_checkpoint(snn)
    with torch.no_grad():
        model.body[-1].module.bias[0] = 3e38
    save_checkpoint(model, root / "overflow.pt", meta)
    os.mkfifo(root / "fifo")
    make_null_device(root / "null")
    (root / "old.pt").write_bytes(b"the previous checkpoint")
    (root / "alpha.toml").write_text(experiment("alpha"))
    assert main(["bench", str(root / "alpha.toml"), "--out", str(root / "run"), "--quiet", "--no-report"]) == 0
    yield root


@pytest.fixture
def inside(workspace, monkeypatch):
    """Run from inside the workspace and check afterwards that nothing in it changed."""
    monkeypatch.chdir(workspace)
    before = snapshot(workspace)
    yield workspace
    assert snapshot(workspace) == before, "a refused command wrote or changed a file"


# ---------------------------------------------------------------------------------------------- one-line refusals
CASES = [
    # one output-path policy: regular files only, never a device, FIFO, the input, or ''
    (["train", *TRAIN, "--out", "fifo"], "--out"),
    (["train", *TRAIN, "--out", "null"], "--out"),
    (["convert", "snn.pt", "--out", "null"], "--out"),
    (["train", *TRAIN, "--out", ""], "--out"),
    (["convert", "snn.pt", "--out", ""], "--out"),
    (["bench", "alpha.toml", "--out", ""], "--out"),
    (["bench", "alpha.toml", "--out", "null"], "--out"),
    (["report", "run", "--out", ""], "--out"),
    (["report", "run", "--out", "fifo"], "--out"),
    # one checkpoint validator for every loader
    (["eval", "string.pt"], "string.pt"),
    (["eval", "nan-weight.pt"], "NaN or infinite"),
    (["eval", "inf-bn.pt"], "running_var"),
    (["eval", "int-weight.pt"], "torch.int64"),
    (["eval", "bool-weight.pt"], "torch.bool"),
    (["eval", "bit-flip.pt"], "checksum"),
    (["eval", "nan-mean.pt"], "mean"),
    (["eval", "string-seed.pt"], "encoder_seed"),
    (["attack", "snn.pt", "--source", "string.pt", "--limit", "4"], "--source"),
    (["attack", "snn.pt", "--source", "nan-weight.pt", "--limit", "4"], "--source"),
    (["attack", "snn.pt", "--source", "missing.pt", "--limit", "4"], "--source"),
    # the memory estimate before the model is built, naming what is large (not --batch-size)
    (["eval", "huge-T.pt"], "checkpoint 'huge-T.pt'"),
    (["eval", "huge-width.pt"], "checkpoint 'huge-width.pt'"),
    (["attack", "snn.pt", "--source", "huge-T.pt", "--limit", "4"], "--source"),
    (["convert", "huge-ann.pt", "--out", "x.pt"], "checkpoint 'huge-ann.pt'"),
    # a NaN/inf output is an error naming the model, never a robust input nor "NaN inputs"
    (["eval", "overflow.pt"], "checkpoint 'overflow.pt'"),
    (["attack", "overflow.pt", "--attack", "fgsm", "--eps", "0.1", "--limit", "4"], "checkpoint 'overflow.pt'"),
    (["attack", "snn.pt", "--source", "overflow.pt", "--attack", "fgsm", "--eps", "0.1", "--limit", "4"],
     "--source 'overflow.pt'"),
    (["attack", "overflow.pt", "--attack", "square", "--eps", "0.1", "--steps", "2", "--limit", "4"], "overflow.pt"),
    (["evaluate", "overflow.pt", "--version", "standard", "--eps", "0.1", "--limit", "4"], "NaN or infinite"),
    # bad values
    (["attack", "snn.pt", "--eps", "1e308", "--limit", "4"], "eps"),
    (["attack", "snn.pt", "--alpha", "1e308", "--limit", "4"], "alpha"),
    (["attack", "snn.pt", "--device", "cpu:99", "--limit", "4"], "--device"),
    (["eval", "snn.pt", "--device", "cpu:1"], "--device"),
    (["bench", "alpha.toml", "--out", "new-run", "--ray", "--chunk", "0"], "--chunk"),
    (["bench", "alpha.toml", "--out", "new-run", "--ray", "127.0.0.1:1"], "--ray"),
    (["bench", "alpha.toml", "--out", "new-run", "--ray", "nohost"], "--ray"),
    (["train", *TRAIN, "--seed", "-1"], "--seed"),
]


@pytest.mark.parametrize("argv, named", CASES, ids=[" ".join(a[:1] + a[-3:]) for a, _ in CASES])
def test_refused_in_one_line_with_exit_2_and_nothing_written(argv, named, inside, capsys):
    code, out, err = run_cli(argv + ["--quiet"], capsys)
    line = assert_one_line_error(code, err, argv[0], named)
    assert out == ""
    assert "x: holds NaN" not in line  # a model's NaN output is never reported as NaN inputs


def test_a_fifo_stays_a_fifo(inside, capsys):
    code, _, err = run_cli(["train", *TRAIN, "--out", "fifo"], capsys)
    assert "FIFO" in assert_one_line_error(code, err, "train", "--out")
    assert Path("fifo").is_fifo()


def test_a_huge_stored_T_is_not_blamed_on_batch_size(inside, capsys):
    for argv in (["eval", "huge-T.pt"], ["attack", "huge-T.pt", "--limit", "4"]):
        code, _, err = run_cli(argv + ["--quiet"], capsys)
        line = assert_one_line_error(code, err, argv[0], "timesteps=100000000")
        assert not line.split("error: ")[1].startswith("--batch-size"), line


def test_seeds_that_are_not_integers_are_refused_by_argparse(inside, capsys):
    for seed in ("1.5", "0x"):
        code, _, err = run_cli(["attack", "snn.pt", "--seed", seed, "--limit", "4", "--quiet"], capsys)
        assert code == 2 and "--seed" in err and "Traceback" not in err


def test_results_eps_nan_is_refused_not_ignored(workspace, capsys):
    code, out, err = run_cli(["results", str(workspace / "run"), "--eps", "nan"], capsys)
    assert code == 2 and "--eps" in err and "Traceback" not in err and out == ""
    code, out, err = run_cli(["results", str(workspace / "run"), "--eps", "0.3"], capsys)
    assert code == 0 and out.strip() == "no cells match"


def test_a_dead_ray_address_is_an_error_in_seconds(inside, capsys):
    start = time.perf_counter()
    code, _, err = run_cli(["bench", "alpha.toml", "--out", "new-run", "--ray", "127.0.0.1:1", "--quiet"], capsys)
    assert "no Ray cluster answers" in assert_one_line_error(code, err, "bench", "--ray")
    assert time.perf_counter() - start < 60  # Ray itself waited minutes
    assert not Path("new-run").exists()


# ---------------------------------------------------------------------------------------------- --traceback
def test_traceback_flag_and_variable_show_the_chained_trace(inside, capsys, monkeypatch):
    code, _, err = run_cli(["eval", "string.pt", "--quiet", "--traceback"], capsys)
    assert code == 2 and "Traceback (most recent call last)" in err and "check_state_dict" in err
    assert err.strip().splitlines()[-1].startswith("spikeattack eval: error: checkpoint 'string.pt'")
    code, _, err = run_cli(["--traceback", "attack", "snn.pt", "--source", "missing.pt", "--quiet"], capsys)
    assert code == 2 and "FileNotFoundError" in err and "The above exception was the direct cause" in err
    monkeypatch.setenv("SPIKEATTACK_TRACEBACK", "1")
    code, _, err = run_cli(["eval", "nan-weight.pt", "--quiet"], capsys)
    assert code == 2 and "Traceback" in err
    monkeypatch.setenv("SPIKEATTACK_TRACEBACK", "0")
    code, _, err = run_cli(["eval", "nan-weight.pt", "--quiet"], capsys)
    assert_one_line_error(code, err, "eval", "nan-weight.pt")


# ---------------------------------------------------------------------------------------------- faults
def full_disk_after(limit: int):
    """A stand-in for io's temporary file whose writes fail with ENOSPC past ``limit`` bytes."""
    real = sio._temporary

    def temporary(folder, name, mode, encoding):
        handle = real(folder, name, mode, encoding)
        written = [0]
        write = handle.write

        def limited(data):
            if written[0] + len(data) > limit:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written[0] += len(data)
            return write(data)

        handle.write = limited
        return handle

    return temporary


def test_a_full_disk_during_a_checkpoint_write_leaves_the_old_file_and_no_temporary(inside, capsys, monkeypatch):
    monkeypatch.setattr(sio, "_temporary", full_disk_after(1000))
    code, _, err = run_cli(["train", *TRAIN, "--out", "old.pt"], capsys)
    line = assert_one_line_error(code, err, "train", "old.pt")
    assert "No space left on device" in line and "nothing was written" in line
    # inside: old.pt byte-identical, no .old.pt.*.tmp left


def test_ctrl_c_is_exit_130_in_one_line(inside, capsys, monkeypatch):
    import spikeattack.cli.train as train_cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "train_model", interrupted)
    code, out, err = run_cli(["train", *TRAIN, "--out", "new.pt"], capsys)
    assert code == 130 and out == "" and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and "interrupted" in err


def test_ctrl_c_during_a_write_leaves_no_temporary(inside, capsys, monkeypatch):
    def interrupted_write(folder, name, mode, encoding):
        handle = sio.tempfile.NamedTemporaryFile(mode, dir=folder, prefix=f".{name}.", suffix=".tmp", delete=False)

        def write(data):
            raise KeyboardInterrupt

        handle.write = write
        return handle

    monkeypatch.setattr(sio, "_temporary", interrupted_write)
    code, _, err = run_cli(["train", *TRAIN, "--out", "old.pt"], capsys)
    assert code == 130 and "Traceback" not in err


def test_ctrl_c_in_bench_keeps_finished_cells_and_the_next_run_resumes(workspace, tmp_path, capsys, monkeypatch):
    from spikeattack.bench.runner import Runner

    (tmp_path / "two.toml").write_text(experiment("two", attacks='["fgsm", "noise"]'))
    real, calls = Runner.run_cell, []

    def once_then_interrupt(self, cell):
        calls.append(cell)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(self, cell)

    monkeypatch.setattr(Runner, "run_cell", once_then_interrupt)
    argv = ["bench", str(tmp_path / "two.toml"), "--out", str(tmp_path / "run"), "--quiet", "--no-report"]
    code, _, err = run_cli(argv, capsys)
    assert code == 130 and "Traceback" not in err and "resumes" in err
    with ResultsStore(tmp_path / "run" / "results.sqlite", readonly=True) as store:
        assert len(store.rows()) == 1
    monkeypatch.setattr(Runner, "run_cell", real)
    code, out, err = run_cli(argv + ["--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["computed"] == 1 and json.loads(out)["skipped"] == 1


def test_a_closed_pipe_ends_quietly(workspace, capsys, monkeypatch):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code = main(["results", str(workspace / "run")])
    monkeypatch.undo()
    assert code == 141
    assert capsys.readouterr().err == ""


def test_results_piped_into_head_prints_no_broken_pipe(workspace, tmp_path):
    """The real thing: a reader that stops after one line, with more output than a pipe buffer holds."""
    store = tmp_path / "results.sqlite"
    store.write_bytes((workspace / "run" / "results.sqlite").read_bytes())
    conn = sqlite3.connect(store)
    row = conn.execute("SELECT * FROM cells").fetchone()
    for i in range(1500):  # distinct cells (another seed in the config), so not duplicates
        config = json.loads(row[8]) | {"seed": 1000 + i}
        conn.execute("INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (f"extra{i}", *row[1:8], json.dumps(config), *row[9:]))
    conn.commit()
    conn.close()
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "spikeattack", "results", str(store)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline().startswith(b"target")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Broken pipe" not in err and "Traceback" not in err, err


# ---------------------------------------------------------------------------------------------- experiments and stores
MODEL_TABLE = "timesteps = 2\narch_options = { channels = [4, 8], hidden = 16 }\n"


@pytest.mark.parametrize("table, named", [
    ("timesteps = 100000000\narch_options = { channels = [4, 8], hidden = 16 }\n", "models.snn"),
    ("timesteps = 2\narch_options = { channels = [4, 8], hidden = 16, width = 100000 }\n", "models.snn"),
    ("timesteps = 2\narch_options = { channels = [4, 8], hidden = -1 }\n", "models.snn"),
    (MODEL_TABLE + 'mean = ["abc"]\n', "models.snn.mean"),
    (MODEL_TABLE + "mean = [nan]\n", "models.snn.mean"),
    (MODEL_TABLE + '[models.ann]\nneuron = "relu"\nconvert_from = "ann2"\n[models.ann2]\nneuron = "relu"\n'
     'convert_from = "ann"\n', "models.ann.convert_from"),
], ids=["huge-T", "huge-width", "negative-hidden", "string-mean", "nan-mean", "convert-from-cycle"])
def test_experiment_models_are_checked_before_anything_is_built(table, named, inside, capsys):
    Path("bad.toml").write_text(experiment("bad").replace(MODEL_TABLE, table, 1))
    try:
        code, _, err = run_cli(["bench", "bad.toml", "--out", "bad-run", "--quiet"], capsys)
    finally:
        Path("bad.toml").unlink()
    assert_one_line_error(code, err, "bench", named)
    assert not Path("bad-run").exists()


def test_two_experiments_with_one_grid_in_one_run_folder_keep_their_own_cells(workspace, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "models").mkdir()
    for entry in (workspace / "run" / "models").iterdir():  # the trained model: shared by both (same config)
        (run / "models" / entry.name).write_bytes(entry.read_bytes())
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.toml").write_text(experiment(name))
        code, out, err = run_cli(["bench", str(tmp_path / f"{name}.toml"), "--out", str(run), "--json", "--quiet",
                                  "--no-report"], capsys)
        assert code == 0, err
        assert json.loads(out)["computed"] == 1 and json.loads(out)["models_trained"] == []
    code, out, err = run_cli(["results", str(run), "--experiment", "beta", "--format", "json"], capsys)
    assert code == 0 and [r["experiment"] for r in json.loads(out)["cells"]] == ["beta"]
    with ResultsStore(run / "results.sqlite", readonly=True) as store:
        assert {r["experiment"] for r in store.rows()} == {"alpha", "beta"}
        assert [m["name"] for m in store.models("alpha")] == ["snn"] == [m["name"] for m in store.models("beta")]


def test_a_store_written_by_0_1_0_is_adopted_not_recomputed(workspace, tmp_path, capsys):
    """Before, cell ids lacked the experiment's name and model records were keyed by config hash
    alone: the next run of the same experiment renames its cells and migrates the table."""
    run = tmp_path / "run"
    run.mkdir()
    for path in (workspace / "run").rglob("*"):
        if path.is_file() and not path.name.endswith(("-wal", "-shm", ".lock")):
            (run / path.relative_to(workspace / "run")).parent.mkdir(parents=True, exist_ok=True)
            (run / path.relative_to(workspace / "run")).write_bytes(path.read_bytes())
    exp = parse_experiment(experiment("alpha"))
    conn = sqlite3.connect(run / "results.sqlite")
    for cell in exp.cells:
        conn.execute("UPDATE cells SET id = ? WHERE id = ?", (cell.legacy_id(exp), cell.id(exp)))
    conn.executescript("ALTER TABLE models RENAME TO m; CREATE TABLE models (key TEXT PRIMARY KEY, experiment TEXT "
                       "NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL, config TEXT NOT NULL, clean_accuracy REAL, "
                       "info TEXT NOT NULL); INSERT INTO models SELECT * FROM m; DROP TABLE m;")
    conn.commit()
    conn.close()
    code, out, err = run_cli(["bench", str(workspace / "alpha.toml"), "--out", str(run), "--json", "--quiet",
                              "--no-report"], capsys)
    assert code == 0, err
    assert json.loads(out)["computed"] == 0 and json.loads(out)["skipped"] == len(exp.cells)
    with ResultsStore(run / "results.sqlite", readonly=True) as store:
        assert store.finished_ids() == {cell.id(exp) for cell in exp.cells}
        keys = [r[1] for r in store.conn.execute("PRAGMA table_info(models)") if r[5]]
        assert keys == ["key", "experiment"] and [m["name"] for m in store.models("alpha")] == ["snn"]


def _damaged_store(workspace: Path, folder: Path, sql: str) -> Path:
    folder.mkdir()
    (folder / "results.sqlite").write_bytes((workspace / "run" / "results.sqlite").read_bytes())
    conn = sqlite3.connect(folder / "results.sqlite")
    conn.execute(sql)
    conn.commit()
    conn.close()
    return folder


@pytest.mark.parametrize("sql, problem", [
    ("UPDATE cells SET metrics = '{}'", "metrics lack n"),
    ("UPDATE cells SET per_input = '{\"label\": [1, 2'", "not valid JSON"),
    ("UPDATE cells SET metrics = json_set(metrics, '$.n', 3)", "per_input lists of lengths"),
    ("INSERT INTO cells SELECT id || 'x', experiment, target, source, scenario, attack, grad, eps, config, metrics, "
     "per_input, seconds, finished_at FROM cells", "duplicates cell"),
], ids=["empty-metrics", "damaged-json", "wrong-n", "duplicated-row"])
def test_a_damaged_store_row_is_named_not_a_decoder_message(sql, problem, workspace, tmp_path, capsys):
    run = _damaged_store(workspace, tmp_path / "damaged", sql)
    before = (run / "results.sqlite").read_bytes()
    for argv in (["results", str(run)], ["report", str(run), "--out", str(tmp_path / "rep"), "--quiet"]):
        code, out, err = run_cli(argv, capsys)
        line = assert_one_line_error(code, err, argv[0], "cell ")
        assert problem in line and "DELETE FROM cells WHERE id" in line and "Expecting" not in line
    assert (run / "results.sqlite").read_bytes() == before  # read-only: SQLite's -shm file aside, nothing written


# ---------------------------------------------------------------------------------------------- documented workflows
def test_every_command_works_on_a_poisson_model(workspace, tmp_path, capsys):
    """README's workflow on ``train --encoding poisson``: train, eval, attack with EOT, the model as a
    --source, the standard evaluation's rand version, and a bench grid of a Poisson model."""
    poisson = str(tmp_path / "poisson.pt")
    code, _, err = run_cli(["train", *TRAIN, "--encoding", "poisson", "--out", poisson], capsys)
    assert code == 0, err
    for argv in (["eval", poisson, "--limit", "16"],
                 ["attack", poisson, "--attack", "fgsm", "--eps", "0.1", "--eot", "2", "--limit", "8"],
                 ["attack", str(workspace / "snn.pt"), "--source", poisson, "--attack", "fgsm", "--eps", "0.1",
                  "--limit", "8"],
                 ["evaluate", poisson, "--version", "rand", "--eps", "0.1", "--limit", "4"]):
        code, out, err = run_cli(argv + ["--json", "--quiet"], capsys)
        assert code == 0, err
        assert json.loads(out)
    (tmp_path / "poisson.toml").write_text(experiment("poisson", 'encoding = "poisson"'))
    code, out, err = run_cli(["bench", str(tmp_path / "poisson.toml"), "--out", str(tmp_path / "run"), "--json",
                              "--quiet", "--no-report"], capsys)
    assert code == 0, err
    assert json.loads(out)["computed"] == 1


def test_vgg_on_small_images_trains_without_batch_norm_internals(tmp_path, capsys):
    """The memory estimate ran batch-norm in training mode on one sample; a last mini-batch of one
    input is skipped for a batch-norm model (65 = 64 + 1)."""
    code, _, err = run_cli(["train", "--dataset", "digits", "--arch", "vgg11", "--width", "0.125", "--ann",
                            "--epochs", "1", "--limit-train", "65", "--batch-size", "64", "--quiet",
                            "--out", str(tmp_path / "vgg.pt")], capsys)
    assert code == 0, err


USER_NET = """\
import torch
from torch import nn
from spikingjelly.activation_based import layer, neuron


def net():  # multi-step: [T, B, C, H, W] -> [T, B, K]
    torch.manual_seed(0)
    return nn.Sequential(layer.Flatten(step_mode="m"), layer.Linear(64, 16, step_mode="m"),
                         neuron.LIFNode(tau=2.0, step_mode="m"), layer.Linear(16, 10, step_mode="m"))
"""


@pytest.fixture
def user_net(tmp_path):
    pytest.importorskip("spikingjelly.activation_based.neuron")
    (tmp_path / "nets.py").write_text(USER_NET)
    namespace: dict = {}
    exec(USER_NET, namespace)
    state = namespace["net"]().state_dict()
    torch.save(state, tmp_path / "net.pth")
    torch.save({k: torch.full_like(v, float("nan")) for k, v in state.items()}, tmp_path / "nan.pth")
    return tmp_path


def test_attack_gives_a_factory_source_its_time_steps(workspace, user_net, capsys):
    def argv(weights: str) -> list[str]:
        return ["attack", str(workspace / "snn.pt"), "--source", str(user_net / weights), "--source-factory",
                f"{user_net}/nets.py:net", "--attack", "fgsm", "--eps", "0.1", "--limit", "8", "--quiet"]

    code, _, err = run_cli(argv("net.pth"), capsys)
    assert "timesteps" in assert_one_line_error(code, err, "attack", "--source")  # the source's, named
    code, out, err = run_cli(argv("net.pth") + ["--timesteps", "2", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["scenario"] != "white-box"
    code, _, err = run_cli(argv("nan.pth") + ["--timesteps", "2"], capsys)
    assert "NaN or infinite" in assert_one_line_error(code, err, "attack", "--source")


def test_a_factory_model_is_evaluated_with_its_time_steps_and_time_is_checked(user_net, capsys):
    base = ["evaluate", str(user_net / "net.pth"), "--factory", f"{user_net}/nets.py:net", "--dataset", "digits",
            "--timesteps", "2", "--limit", "4", "--quiet"]
    code, out, err = run_cli(base + ["--version", "standard", "--eps", "0.05", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["n"] == 4
    code, _, err = run_cli(base + ["--time", "step"], capsys)
    assert "'step'" in assert_one_line_error(code, err, "evaluate", "time")


REQUIRED = {"convert": ["a.pt"], "eval": ["a.pt"], "evaluate": ["a.pt"], "attack": ["a.pt"], "bench": ["e.toml"],
            "reproduce": ["hart"], "report": ["run"], "results": ["run"]}


def test_every_command_takes_traceback_before_or_after_it():
    from spikeattack.cli.main import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"train", "convert", "eval", "evaluate", "attack", "bench", "reproduce", "report", "results",
            "demo"} <= set(commands)
    for name in commands:
        argv = [name, *REQUIRED.get(name, [])]
        assert parser.parse_args(["--traceback", *argv]).traceback, name
        assert parser.parse_args([*argv, "--traceback"]).traceback, name
        assert not parser.parse_args(argv).traceback, name

"""Issue 8: every bad input is one clear line and exit code 2, and nothing is written or changed.

Each case runs in-process through ``spikeattack.cli.main.main`` inside a workspace folder
whose every file (bytes and mtime) is compared before and after. The library cases below
them check the ``ValueError`` raised by the layer that owns the argument; the shard-race
test runs two real ``bench --shard`` processes at once.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikeattack.bench.experiment import parse_experiment
from spikeattack.results.store import ResultsStore
from spikeattack.cli.common import apply_threads
from spikeattack.cli.main import main
from spikeattack.models import ModelConfig, build_model
from spikeattack.training import save_checkpoint

from helpers import assert_one_line_error, run_cli, snapshot

SRC = str(Path(__file__).resolve().parents[1] / "src")

EXPERIMENT = """\
name = "tiny"
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
estimators = ["stbp", "rga"]
eps = [0.1, 0.2]
scenarios = ["white-box"]
params = { steps = 2 }

[analyses]
spike_shuffle = false
"""


def tiny_model(neuron: str = "lif") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10, neuron=neuron,
                                   timesteps=2, arch_options={"channels": (4, 8), "hidden": 16}))


# ---------------------------------------------------------------------------------------------- workspace
@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Trained checkpoints (one epoch on digits), a finished tiny bench run and broken files."""
    root = tmp_path_factory.mktemp("issue8")
    common = ["--dataset", "digits", "--epochs", "1", "--timesteps", "2", "--width", "0.5", "--limit-train", "300",
              "--quiet"]
    assert main(["train", *common, "--out", str(root / "snn.pt")]) == 0
    assert main(["train", *common, "--ann", "--out", str(root / "ann.pt")]) == 0
    (root / "exp.toml").write_text(EXPERIMENT)
    assert main(["bench", str(root / "exp.toml"), "--out", str(root / "run"), "--quiet", "--no-report"]) == 0
    (root / "folder").mkdir()
    (root / "readonly.pt").write_bytes(b"keep")
    (root / "readonly.pt").chmod(0o444)
    (root / "locked").mkdir()
    (root / "locked").chmod(0o555)
    (root / "damaged.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x07" * 200)
    other = sqlite3.connect(root / "other.sqlite")
    other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    other.execute("INSERT INTO invoices VALUES (1, 9.5)")
    other.commit()
    other.close()
    (root / "notes.txt").write_text("not a checkpoint\n")
    for name, source in (("foreign-run", "other.sqlite"), ("damaged-run", "damaged.sqlite")):
        (root / name).mkdir()
        (root / name / "results.sqlite").write_bytes((root / source).read_bytes())
    model = tiny_model()
    save_checkpoint(model, root / "string-meta.pt", {})
    payload = torch.load(root / "string-meta.pt", weights_only=True)
    for name, metadata in (("string-meta.pt", "trained on digits"), ("int-dataset.pt", {"dataset": 5}),
                           ("bad-resize.pt", {"dataset": "digits", "resize": "8"})):
        torch.save(payload | {"metadata": metadata}, root / name)
    yield root
    (root / "locked").chmod(0o755)


@pytest.fixture
def inside(workspace, monkeypatch):
    """Run from inside the workspace (default output paths land there) and compare it after."""
    monkeypatch.chdir(workspace)
    before = snapshot(workspace)
    yield workspace
    assert snapshot(workspace) == before, "a refused command wrote or changed a file"


# ---------------------------------------------------------------------------------------------- CLI flags and files
FLAG_CASES = [
    # output paths checked before any training / conversion
    (["convert", "ann.pt", "--out", "ann.pt"], "--out"),
    (["convert", "ann.pt", "--out", "./ann.pt"], "--out"),
    (["convert", "ann.pt", "--out", "folder"], "--out"),
    (["convert", "ann.pt", "--out", "readonly.pt"], "--out"),
    (["train", "--epochs", "1", "--out", "folder"], "--out"),
    (["train", "--epochs", "1", "--out", "readonly.pt"], "--out"),
    (["train", "--epochs", "1", "--out", "locked/new.pt"], "--out"),
    (["train", "--epochs", "1", "--out", "notes.txt/new.pt"], "--out"),
    (["report", "run", "--out", "notes.txt"], "--out"),
    # plain user errors that used to be tracebacks
    (["train", "--epochs", "1", "--batch-size", "0"], "--batch-size"),
    (["attack", "snn.pt", "--batch-size", "0"], "--batch-size"),
    (["train", "--epochs", "1", "--seed", str(2 ** 64)], "--seed"),
    (["attack", "snn.pt", "--seed", "-1"], "--seed"),
    (["convert", "ann.pt", "--seed", str(2 ** 70)], "--seed"),
    (["eval", "snn.pt", "--timesteps", "100000000"], "--timesteps"),
    (["convert", "ann.pt", "--timesteps", "100000000", "--out", "x.pt"], "--timesteps"),
    (["attack", "snn.pt", "--time-extend", "1000000", "--limit", "4"], "--time-extend"),
    (["train", "--epochs", "1", "--width", "100000"], "--width"),
    (["train", "--epochs", "1", "--width", "nan"], "--width"),
    (["train", "--epochs", "1", "--threads", "0"], "--threads"),
    (["eval", "snn.pt", "--limit", "0"], "--limit"),
    (["eval", "ann.pt", "--timesteps", "4"], "--timesteps"),
    (["eval", "snn.pt", "--device", "tpu"], "--device"),
    # checkpoints: missing, not a checkpoint, wrong-typed metadata
    (["eval", "missing.pt"], "missing.pt"),
    (["eval", "notes.txt"], "checkpoint"),
    (["eval", "string-meta.pt", "--dataset", "digits"], "metadata"),
    (["eval", "int-dataset.pt"], "dataset=5"),
    (["attack", "bad-resize.pt", "--limit", "4"], "resize"),
    # a model used on a dataset it was not trained on
    (["attack", "snn.pt", "--dataset", "fashion-mnist", "--resize", "8", "--limit", "4"], "--dataset"),
    (["eval", "snn.pt", "--dataset", "fashion-mnist", "--resize", "8"], "--dataset"),
    (["attack", "snn.pt", "--source", "int-dataset.pt", "--limit", "4"], "metadata"),
    # results store: damaged or unrelated files are refused, never written
    (["results", "damaged.sqlite"], "damaged.sqlite"),
    (["report", "damaged.sqlite", "--out", "rep"], "damaged.sqlite"),
    (["results", "other.sqlite"], "not a spikeattack results store"),
    (["report", "other.sqlite", "--out", "rep"], "not a spikeattack results store"),
    (["results", "folder"], "RUN"),
    # experiment files
    (["bench", "missing.toml", "--out", "newrun"], "missing.toml"),
    (["bench", "notes.txt", "--out", "newrun"], "notes.txt"),
    (["bench", "exp.toml", "--out", "notes.txt"], "--out"),
    (["bench", "exp.toml", "--out", "foreign-run"], "not a spikeattack results store"),
    (["bench", "exp.toml", "--out", "damaged-run"], "not a readable results store"),
]


@pytest.mark.parametrize("argv, named", FLAG_CASES, ids=[" ".join(a) for a, _ in FLAG_CASES])
def test_bad_flag_or_file_is_one_line_exit_2_and_writes_nothing(argv, named, inside, capsys):
    code, out, err = run_cli(argv + ["--quiet"], capsys)
    assert_one_line_error(code, err, argv[0], named)
    assert out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("argv", [["train", "--epochs", "1"], ["eval", "snn.pt"], ["attack", "snn.pt"],
                                  ["bench", "exp.toml", "--out", "newrun"]])
def test_cuda_device_without_cuda_is_refused(argv, inside, capsys):
    code, _, err = run_cli(argv + ["--device", "cuda", "--quiet"], capsys)
    assert_one_line_error(code, err, argv[0], "--device")


def test_convert_onto_its_input_leaves_the_ann_intact(workspace, capsys):
    before = (workspace / "ann.pt").read_bytes()
    code, _, err = run_cli(["convert", str(workspace / "ann.pt"), "--out", str(workspace / "ann.pt"), "--quiet"],
                           capsys)
    assert "input file" in assert_one_line_error(code, err, "convert", "--out")
    assert (workspace / "ann.pt").read_bytes() == before


def test_results_and_report_work_on_a_read_only_archive(workspace, tmp_path, capsys):
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "results.sqlite").write_bytes((workspace / "run" / "results.sqlite").read_bytes())
    (archive / "results.sqlite").chmod(0o444)
    archive.chmod(0o555)
    try:
        before = snapshot(archive)
        code, out, err = run_cli(["results", str(archive), "--format", "json"], capsys)
        assert code == 0, err
        rows = json.loads(out)["cells"]
        assert len(rows) == 8 and {r["attack"] for r in rows} == {"fgsm", "pgd"}
        code, out, err = run_cli(["report", str(archive), "--out", str(tmp_path / "rep"), "--quiet"], capsys)
        assert code == 0, err
        assert (tmp_path / "rep" / "report.md").is_file()
        assert snapshot(archive) == before
    finally:
        archive.chmod(0o755)


def test_report_on_an_unrelated_sqlite_file_leaves_it_byte_identical(workspace, capsys):
    path = workspace / "other.sqlite"
    before = path.read_bytes()
    code, _, err = run_cli(["report", str(path), "--out", str(workspace / "rep2"), "--quiet"], capsys)
    assert_one_line_error(code, err, "report", "not a spikeattack results store")
    assert path.read_bytes() == before and not (workspace / "rep2").exists()
    tables = sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [("invoices",)]


def test_attack_json_records_the_attacked_dataset(workspace, capsys):
    code, out, err = run_cli(["attack", str(workspace / "snn.pt"), "--attack", "fgsm", "--eps", "0.1", "--limit", "8",
                              "--json", "--quiet"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["dataset"] == "digits" and "data_options" in result


def test_other_dataset_is_an_explicit_opt_in(workspace, capsys):
    if not Path("/usr/share/datasets/fashion-mnist").is_dir() and not os.environ.get("SPIKEATTACK_DATA"):
        pytest.skip("Fashion-MNIST files not installed")
    code, out, err = run_cli(["eval", str(workspace / "snn.pt"), "--dataset", "fashion-mnist", "--resize", "8",
                              "--other-dataset", "--limit", "8", "--json", "--quiet"], capsys)
    assert code == 0, err
    assert json.loads(out)["dataset"] == "fashion-mnist"


# ---------------------------------------------------------------------------------------------- model cache
def test_a_foreign_file_in_the_model_cache_is_refused_not_used(workspace, tmp_path, capsys):
    run = tmp_path / "run"
    exp = parse_experiment(EXPERIMENT)
    stray = run / "models" / f"{exp.model_key('snn')}.pt"
    save_checkpoint(tiny_model(), stray, {"name": "snn"})  # right name and shape, but not this config's entry
    before = snapshot(run)
    code, _, err = run_cli(["bench", str(workspace / "exp.toml"), "--out", str(run), "--quiet"], capsys)
    message = assert_one_line_error(code, err, "bench", "model cache")
    assert str(stray) in message
    after = snapshot(run)
    assert after[f"models/{stray.name}"] == before[f"models/{stray.name}"]
    with ResultsStore(run / "results.sqlite", readonly=True) as store:
        assert store.rows() == []


def test_the_model_cache_entry_of_a_finished_run_is_reused(workspace, capsys):
    before = snapshot(workspace / "run" / "models")
    code, out, err = run_cli(["bench", str(workspace / "exp.toml"), "--out", str(workspace / "run"), "--json",
                              "--quiet", "--no-report"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["computed"] == 0 and result["skipped"] == 8 and result["models_trained"] == []
    assert snapshot(workspace / "run" / "models") == before


# ---------------------------------------------------------------------------------------------- experiment files
def _mutate(old: str, new: str):
    assert old in EXPERIMENT, old
    return EXPERIMENT.replace(old, new, 1)


GRID_LINE = 'targets = ["snn"]'
EXPERIMENT_CASES = [
    # (id, text, key named, marker on the line the message must name)
    ("data-is-a-number", _mutate('[data]\ndataset = "digits"\nlimit = 16\n', "data = 5\n"), "data", "data = 5"),
    ("params-is-a-list", _mutate("params = { steps = 2 }", "params = [1, 2]"), "grid.params", "params = [1, 2]"),
    ("attacks-is-a-table", _mutate('attacks = ["fgsm", "pgd"]', "attacks = { fgsm = 1 }"), "grid.attacks",
     "attacks = {"),
    ("eps-nan", _mutate("eps = [0.1, 0.2]", "eps = [nan]"), "grid.eps", "eps = [nan]"),
    ("eps-negative", _mutate("eps = [0.1, 0.2]", "eps = [0.1, -0.2]"), "grid.eps", "eps = [0.1, -0.2]"),
    ("eps-string", _mutate("eps = [0.1, 0.2]", 'eps = ["0.1"]'), "grid.eps", 'eps = ["0.1"]'),
    ("steps-negative", _mutate("params = { steps = 2 }", "params = { steps = -1 }"), "grid.params.steps",
     "steps = -1"),
    ("unknown-param", _mutate("params = { steps = 2 }", "params = { stepz = 2 }"), "grid.params.stepz", "stepz"),
    ("grad-params-unknown-key", _mutate("params = { steps = 2 }", "params = { steps = 2 }\n"
                                        'grad_params = { rga = { foo = 1 } }'), "grid.grad_params.rga", "foo = 1"),
    ("grad-params-not-a-table", _mutate("params = { steps = 2 }", "params = { steps = 2 }\n"
                                        "grad_params = { rga = 5 }"), "grid.grad_params.rga", "rga = 5"),
    ("grad-params-unused-estimator", _mutate("params = { steps = 2 }", "params = { steps = 2 }\n"
                                             "grad_params = { hart = { gamma = 0.5 } }"), "grid.grad_params.hart",
     "hart = {"),
    ("grad-params-bad-value", _mutate("params = { steps = 2 }", "params = { steps = 2 }\n"
                                      "grad_params = { rga = { beta = -3 } }"), "grid.grad_params.rga.beta",
     "beta = -3"),
    ("hart-gamma-string", _mutate("spike_shuffle = false", 'spike_shuffle = false\nhart_gamma = "x"'),
     "analyses.hart_gamma", 'hart_gamma = "x"'),
    ("hart-gamma-zero", _mutate("spike_shuffle = false", "spike_shuffle = false\nhart_gamma = [0.5, 0]"),
     "analyses.hart_gamma", "hart_gamma = [0.5, 0]"),
    ("spike-shuffle-string", _mutate("spike_shuffle = false", 'spike_shuffle = "yes"'), "analyses.spike_shuffle",
     'spike_shuffle = "yes"'),
    ("limit-true", _mutate("limit = 16", "limit = true"), "data.limit", "limit = true"),
    ("limit-zero", _mutate("limit = 16", "limit = 0"), "data.limit", "limit = 0"),
    ("data-batch-size-zero", _mutate("limit = 16", "limit = 16\nbatch_size = 0"), "data.batch_size",
     "batch_size = 0"),
    ("train-batch-size-zero", _mutate("epochs = 1", "epochs = 1\nbatch_size = 0"), "train.batch_size",
     "batch_size = 0"),
    ("model-epochs-float", _mutate("timesteps = 2", "timesteps = 2\nepochs = 1.5"), "models.snn.epochs",
     "epochs = 1.5"),
    ("model-timesteps-negative", _mutate("timesteps = 2", "timesteps = -2"), "models.snn.timesteps",
     "timesteps = -2"),
    ("model-seed-string", _mutate("timesteps = 2", 'timesteps = 2\nseed = "one"'), "models.snn.seed", 'seed = "one"'),
    ("model-adv-bad-eps", _mutate("timesteps = 2", 'timesteps = 2\nadv = { attack = "pgd", eps = 3 }'),
     "models.snn.adv.eps", "adv = {"),
    ("empty-sweep", _mutate("timesteps = 2", "timesteps = []"), "models.snn.timesteps", "timesteps = []"),
    ("seed-too-big", _mutate("seed = 0", f"seed = {2 ** 63}"), "seed", "seed = 9"),
    ("unknown-top-key", _mutate("seed = 0", "seed = 0\ncolour = 1"), "colour", "colour = 1"),
    ("empty-targets", _mutate(GRID_LINE, "targets = []"), "grid.targets", "targets = []"),
    ("empty-attacks", _mutate('attacks = ["fgsm", "pgd"]', "attacks = []"), "grid.attacks", "attacks = []"),
    ("empty-estimators", _mutate('estimators = ["stbp", "rga"]', "estimators = []"), "grid.estimators",
     "estimators = []"),
    ("empty-eps", _mutate("eps = [0.1, 0.2]", "eps = []"), "grid.eps", "eps = []"),
    ("no-grid", EXPERIMENT.split("[[grid]]")[0], "grid", None),
    ("huge-grid", _mutate("eps = [0.1, 0.2]", "eps = [" + ", ".join(f"{i / 10 ** 5:.5f}" for i in range(1, 2502))
                          + "]"), "grid", "[[grid]]"),
    # names: generated names live in their own namespace
    ("user-name-with-seed-mark", _mutate("[[grid]]", '[models."snn#seed1"]\narch = "small_cnn"\ntimesteps = 2\n'
                                         'arch_options = { channels = [4, 8], hidden = 16 }\nseed = 5\n\n[[grid]]'),
     "models.snn#seed1", '[models."snn#seed1"]'),
    ("explicit-sweep-member", _mutate("[[grid]]", '[models."snn@timesteps=4"]\ntimesteps = 4\n\n[[grid]]'),
     "models.snn@timesteps=4", '[models."snn@timesteps=4"]'),
    ("same-config-twice", _mutate("[[grid]]", "[models.copy]\narch = \"small_cnn\"\ntimesteps = 2\n"
                                  "arch_options = { channels = [4, 8], hidden = 16 }\n\n[[grid]]"),
     "models.copy", "[models.copy]"),
    ("sweep-duplicates-a-model", _mutate("[[grid]]", "[models.sweep]\narch = \"small_cnn\"\ntimesteps = [2, 3]\n"
                                         "arch_options = { channels = [4, 8], hidden = 16 }\n\n[[grid]]"),
     "models.sweep", "[models.sweep]"),
    ("unknown-target", _mutate(GRID_LINE, 'targets = ["snn#seed1"]'), "grid.targets", 'targets = ["snn#seed1"]'),
    ("spike-attack-on-images", _mutate('attacks = ["fgsm", "pgd"]', 'attacks = ["spike-bim"]'), "grid.attacks",
     'attacks = ["spike-bim"]'),
]


@pytest.mark.parametrize("text, key, marker", [c[1:] for c in EXPERIMENT_CASES], ids=[c[0] for c in EXPERIMENT_CASES])
def test_bad_experiment_file_is_refused_before_any_training(text, key, marker, inside, capsys):
    path = inside / "bad.toml"
    path.write_text(text)
    try:
        before = snapshot(inside)
        code, _, err = run_cli(["bench", str(path), "--out", str(inside / "newrun"), "--quiet"], capsys)
        message = assert_one_line_error(code, err, "bench", repr(key))
        if marker is not None:
            line = next(i for i, t in enumerate(text.splitlines(), 1) if marker in t)
            assert f"{path}:{line}:" in message, (line, message)
        assert snapshot(inside) == before and not (inside / "newrun").exists()
    finally:
        path.unlink()


def test_a_large_grid_runs_with_an_explicit_opt_in():
    eps = ", ".join(f"{i / 10 ** 5:.5f}" for i in range(1, 2502))
    exp = parse_experiment("max_cells = 10004\n" + _mutate("eps = [0.1, 0.2]", f"eps = [{eps}]"))
    assert len(exp.cells) == 2 * 2 * 2501


def test_sweep_members_and_seed_twins_keep_their_generated_names():
    exp = parse_experiment(_mutate("timesteps = 2", "timesteps = [2, 3]").replace(
        'scenarios = ["white-box"]', 'scenarios = ["white-box", "black-box"]'))
    assert set(exp.models) == {"snn@timesteps=2", "snn@timesteps=3", "snn@timesteps=2#seed1", "snn@timesteps=3#seed1"}
    sources = {(c.target, c.source) for c in exp.cells if c.scenario == "black-box"}
    assert sources == {("snn@timesteps=2", "snn@timesteps=2#seed1"), ("snn@timesteps=3", "snn@timesteps=3#seed1")}


def test_every_shipped_preset_passes_full_validation():
    from spikeattack.bench.presets import preset_text

    for name in ("demo", "hart-small", "hart-full", "rga-small", "rga-full", "sharmin-small", "sharmin-full",
                 "liang-small", "liang-full"):
        assert parse_experiment(preset_text(name), f"{name}.toml").cells


# ---------------------------------------------------------------------------------------------- threads
def test_threads_flag_and_one_thread_per_shard(monkeypatch):
    import argparse

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    apply_threads(argparse.Namespace(threads=3, shard=(0, 1)))
    apply_threads(argparse.Namespace(threads=None, shard=(1, 4)))
    apply_threads(argparse.Namespace(threads=None, shard=(0, 1)))
    apply_threads(argparse.Namespace(threads=2, shard=(1, 4)))
    assert calls == [3, 1, 2]


def test_every_compute_command_has_threads(capsys):
    for command in ("train", "convert", "eval", "attack", "bench", "reproduce", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--threads" in capsys.readouterr().out, command


# ---------------------------------------------------------------------------------------------- atomic writes
def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    from spikeattack.io import atomic_write

    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_write(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    with atomic_write(target) as f, atomic_write(target) as g:  # two writers: distinct temporaries
        assert f.name != g.name and Path(f.name).parent == tmp_path
        f.write(b"first")
        g.write(b"second")
    assert target.read_bytes() == b"first" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


# ---------------------------------------------------------------------------------------------- library
@pytest.fixture(scope="module")
def model():
    return tiny_model().eval()


def _images(n=4):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(n) % 10


@pytest.mark.parametrize("poison", [math.nan, math.inf, -math.inf])
def test_non_finite_images_are_refused_everywhere(model, poison):
    from spikeattack.attacks import make_attack
    from spikeattack.evaluation import evaluate
    from spikeattack.evaluation import accuracy

    x, y = _images()
    x[1, 0, 3, 3] = poison
    for call in (lambda: model(x), lambda: make_attack("pgd", model, eps=0.1, steps=2)(x, y),
                 lambda: make_attack("fgsm", model, eps=0.1, grad="rga")(x, y),
                 lambda: evaluate(model, (x, y), lambda m: make_attack("fgsm", m, eps=0.1)),
                 lambda: accuracy(model, x, y)):
        with pytest.raises(ValueError, match="x: holds NaN or infinite"):
            call()


def test_float64_input_is_refused_with_the_fix_named(model):
    from spikeattack.attacks import make_attack

    x, y = _images()
    with pytest.raises(ValueError, match=r"x: expected dtype torch.float32 .* got torch.float64"):
        make_attack("pgd", model, eps=0.1, steps=2)(x.double(), y)
    with pytest.raises(ValueError, match=r"x: expected dtype torch.float32"):
        model(x.double())
    double = tiny_model().double().eval()  # a float64 model takes float64 inputs
    assert double(x.double()).dtype == torch.float64


def test_empty_batches_and_zero_batch_size_are_refused(model):
    from spikeattack.attacks import make_attack
    from spikeattack.evaluation import evaluate
    from spikeattack.evaluation import accuracy

    x, y = _images()
    with pytest.raises(ValueError, match="x: empty batch"):
        make_attack("fgsm", model, eps=0.1)(x[:0], y[:0])
    with pytest.raises(ValueError, match="data: no inputs"):
        evaluate(model, (x[:0], y[:0]), lambda m: make_attack("fgsm", m, eps=0.1))
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(model, (x, y), lambda m: make_attack("fgsm", m, eps=0.1), batch_size=0)
    with pytest.raises(ValueError, match="y: no inputs"):
        accuracy(model, x[:0], y[:0])
    with pytest.raises(ValueError, match="batch_size"):
        accuracy(model, x, y, batch_size=0)


# ---------------------------------------------------------------------------------------------- shard race
def race_once(run: Path, experiment: Path, timeout: float = 240) -> dict[str, int]:
    """Start ``bench --shard 0/2`` and ``--shard 1/2`` together on an empty run folder; return
    how many times each cell id is in the store (the computation log counts duplicates)."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-m", "spikeattack.cli.main", "bench", str(experiment), "--out",
                               str(run), "--shard", f"{i}/2", "--quiet", "--no-report"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err
    with ResultsStore(run / "results.sqlite", readonly=True) as store:
        rows = store.rows()
        counts = store.computation_counts()
        workers = {w for (w,) in store.conn.execute("SELECT DISTINCT worker FROM computations")}
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) and len(workers) == 2  # both shards computed cells
    return {i: counts.get(i, 0) for i in ids}


def test_two_shards_started_together_lose_no_cell(tmp_path):
    experiment = tmp_path / "race.toml"
    experiment.write_text(EXPERIMENT)  # 8 cells, split 2 / 6 between the shards: both need the model
    exp = parse_experiment(EXPERIMENT)
    expected = {c.id(exp) for c in exp.cells}
    for attempt in range(2):
        run = tmp_path / f"run{attempt}"
        counts = race_once(run, experiment)
        assert set(counts) == expected and set(counts.values()) == {1}
        models = sorted(p.name for p in (run / "models").iterdir() if p.suffix == ".pt")
        assert len(models) == 1 and not [p for p in (run / "models").iterdir() if p.name.endswith(".tmp")]

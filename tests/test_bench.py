"""Experiment files, the results store and the resumable runner."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from spikeattack.bench.experiment import ExperimentError, parse_experiment
from spikeattack.bench.runner import run_experiment
from spikeattack.results.store import ResultsStore, export_rows

TINY = """
name = "tiny"
seed = 0
[data]
dataset = "digits"
limit = 40
[train]
epochs = 2
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
estimators = ["stbp", "bptr", "rga", "hart", "cba"]
eps = [0.05, 0.1, 0.2, 0.3]
scenarios = ["white-box", "black-box"]
cross = ["ann"]
params = { steps = 3 }
"""


def test_grid_expands_to_cells():
    exp = parse_experiment(TINY)
    # (white + black) x 2 attacks x 4 eps x 5 estimators + cross ann x 2 attacks x 4 eps x 1 (exact)
    assert len(exp.cells) == 2 * 2 * 4 * 5 + 2 * 4
    assert len({c.id(exp) for c in exp.cells}) == len(exp.cells)
    assert set(exp.models) == {"snn", "ann", "snn#seed1"}
    assert {c.grad for c in exp.cells if c.source == "ann"} == {"exact"}


def test_sweeps_and_variants():
    text = TINY.replace("timesteps = 4", "timesteps = 4\ndecay = [0.5, 1.0]").replace(
        'params = { steps = 3 }', 'params = { steps = 3 }\nvariant = "short"')
    exp = parse_experiment(text)
    assert {"snn@decay=0.5", "snn@decay=1.0"} <= set(exp.models)
    assert all(c.label.endswith("@short") for c in exp.cells)


@pytest.mark.parametrize("mutation, line, key", [
    (lambda t: t.replace("epochs = 2", "epochs = 2\nepoch = 3"), 9, "train.epoch"),
    (lambda t: t.replace('attacks = ["fgsm", "pgd"]', 'attacks = ["fgsm", "deepfool"]'), 19, "grid.attacks"),
    (lambda t: t.replace('estimators = ["stbp"', 'estimators = ["bptt"'), 20, "grid.estimators"),
    (lambda t: t.replace("timesteps = 4", "timesteps = 0"), 12, "models.snn.timesteps"),
    (lambda t: t.replace('dataset = "digits"', 'dataset = "imagenet"'), 5, "data.dataset"),
    (lambda t: t.replace('targets = ["snn"]', 'targets = ["snn", "vgg"]'), 18, "grid.targets"),
])
def test_malformed_experiment_names_line_and_key(mutation, line, key):
    with pytest.raises(ExperimentError) as info:
        parse_experiment(mutation(TINY), "exp.toml")
    message = str(info.value)
    assert f"exp.toml:{line}:" in message and repr(key) in message


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ExperimentError, match="valid: .*fgsm.*pgd"):
        parse_experiment(TINY.replace('"fgsm", "pgd"', '"fgsm", "pdg"'))


def test_toml_syntax_error_has_a_line():
    with pytest.raises(ExperimentError, match=r"line 3"):
        parse_experiment('name = "x"\nseed = 0\n[data\n')


def test_rerun_skips_finished_cells_and_exports(tmp_path):
    text = TINY.replace('estimators = ["stbp", "bptr", "rga", "hart", "cba"]', 'estimators = ["stbp", "rga"]') \
               .replace("eps = [0.05, 0.1, 0.2, 0.3]", "eps = [0.1]")
    exp = parse_experiment(text)
    first = run_experiment(exp, tmp_path, progress=False, log=lambda m: None)
    assert first.computed == len(exp.cells) and first.skipped == 0
    second = run_experiment(exp, tmp_path, progress=False, log=lambda m: None)
    assert second.computed == 0 and second.skipped == len(exp.cells) and second.models_trained == []
    with ResultsStore(tmp_path / "results.sqlite") as store:
        rows = store.rows()
        assert len(rows) == len(exp.cells)
        assert all(0.0 <= r["metrics"]["asr"] <= 1.0 for r in rows)
        assert len(rows[0]["per_input"]["label"]) == 40
        csv_text = export_rows(rows, "csv")
        assert csv_text.splitlines()[0].startswith("id,experiment,target") and len(csv_text.splitlines()) == len(rows) + 1
        assert len(store.rows(grad="rga")) == len([c for c in exp.cells if c.grad == "rga"])
        with pytest.raises(ValueError, match="filter"):
            store.rows(colour="red")


def test_sharded_runs_cover_every_cell_once(tmp_path):
    text = TINY.replace("eps = [0.05, 0.1, 0.2, 0.3]", "eps = [0.1]").replace('cross = ["ann"]', "cross = []")
    exp = parse_experiment(text)
    reports = [run_experiment(exp, tmp_path, shard=(i, 3), progress=False, log=lambda m: None) for i in range(3)]
    assert sum(r.computed for r in reports) == len(exp.cells)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        assert set(store.computation_counts().values()) == {1}


def test_sigkill_mid_run_then_resume_keeps_every_finished_cell(tmp_path):
    exp_path = tmp_path / "exp.toml"
    exp_path.write_text(TINY)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "spikeattack.cli.main", "bench", str(exp_path), "--out", str(out), "--no-report",
           "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / "results.sqlite"
    deadline = time.time() + 240
    done_before_kill = 0
    try:
        while time.time() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=5) as conn:
                        done_before_kill = conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
                if done_before_kill >= 5:
                    break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    exp = parse_experiment(TINY)
    with ResultsStore(db) as store:
        kept = {r["id"]: r["finished_at"] for r in store.rows()}
    assert 5 <= len(kept) < len(exp.cells), "the run must be killed mid-way"
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    with ResultsStore(db) as store:
        rows = {r["id"]: r["finished_at"] for r in store.rows()}
        counts = store.computation_counts()
    assert set(rows) == {c.id(exp) for c in exp.cells}
    assert all(rows[i] == t for i, t in kept.items())      # finished cells kept, untouched
    assert set(counts.values()) == {1}                     # none computed twice


def test_black_box_source_of_a_converted_snn_is_converted_from_another_ann():
    text = TINY.replace('[[grid]]', '[models.snn-i]\nneuron = "if"\nreset = "soft"\nconvert_from = "ann"\n'
                        'arch_options = { channels = [8, 16], hidden = 32 }\n\n[[grid]]', 1) \
               .replace('targets = ["snn"]', 'targets = ["snn-i"]')
    exp = parse_experiment(text)
    assert exp.models["snn-i#seed1"].convert_from == "ann#seed1"
    assert exp.models["ann#seed1"].seed == exp.models["ann"].seed + 1
    assert exp.model_key("snn-i#seed1") != exp.model_key("snn-i")


def test_grid_params_reach_the_attack_and_unknown_ones_are_refused(tmp_path):
    text = TINY.replace("eps = [0.05, 0.1, 0.2, 0.3]", "eps = [0.2]").replace('cross = ["ann"]', "cross = []") \
               .replace('estimators = ["stbp", "bptr", "rga", "hart", "cba"]', 'estimators = ["stbp"]') \
               .replace('scenarios = ["white-box", "black-box"]', 'scenarios = ["white-box"]') \
               .replace("params = { steps = 3 }", 'params = { steps = 3, targeted = "least-likely", eot = 2 }')
    exp = parse_experiment(text)
    run_experiment(exp, tmp_path, progress=False, log=lambda m: None)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        for row in store.rows():
            config = row["config"]["attack_config"]
            assert config["targeted"] == "least-likely" and config["eot"] == 2
            assert row["per_input"]["target"] is not None
            if row["attack"] == "pgd":
                assert config["steps"] == 3
    with pytest.raises(ExperimentError, match="grid.params.colour"):
        parse_experiment(TINY.replace("params = { steps = 3 }", "params = { steps = 3, colour = 1 }"))


@pytest.mark.parametrize("name", ["demo", "hart-small", "hart-full", "rga-small", "rga-full", "sharmin-small",
                                  "sharmin-full", "liang-small", "liang-full"])
def test_every_shipped_preset_parses(name):
    from spikeattack.results.papers import REFERENCES
    from spikeattack.bench.presets import preset_text

    exp = parse_experiment(preset_text(name), f"{name}.toml")
    assert exp.cells and exp.models
    if exp.paper is not None:  # every reference row points at a model of the preset
        assert exp.paper in REFERENCES
        for ref in REFERENCES[exp.paper]:
            assert ref.select["target"] in exp.models, (name, ref.select["target"])


def test_unknown_preset_lists_the_valid_ones():
    from spikeattack.bench.presets import preset_text

    with pytest.raises(ValueError, match="hart-small"):
        preset_text("nope")


def test_grid_amp_crafts_under_autocast_and_keeps_full_precision_ids(tmp_path, monkeypatch):
    from spikeattack.bench import runner

    one = TINY.replace("eps = [0.05, 0.1, 0.2, 0.3]", "eps = [0.2]").replace('cross = ["ann"]', "cross = []") \
              .replace('estimators = ["stbp", "bptr", "rga", "hart", "cba"]', 'estimators = ["stbp", "rga"]') \
              .replace('attacks = ["fgsm", "pgd"]', 'attacks = ["fgsm"]') \
              .replace('scenarios = ["white-box", "black-box"]', 'scenarios = ["white-box"]') \
              .replace("params = { steps = 3 }", "")
    full, half = parse_experiment(one), parse_experiment(one + 'amp = "bf16"\n')
    assert [c.amp for c in half.cells] == ["bf16", "bf16"] and {c.amp for c in full.cells} == {None}
    assert all("amp" not in c.config(full) for c in full.cells)  # full precision: the ids cells always had
    assert not {c.id(full) for c in full.cells} & {c.id(half) for c in half.cells}
    seen = []
    real = runner.evaluate
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: seen.append(k["amp"]) or real(*a, **k))
    rows = {}
    for name, exp in (("full", full), ("half", half)):
        run_experiment(exp, tmp_path / name, progress=False, log=lambda m: None)
        with ResultsStore(tmp_path / name / "results.sqlite") as store:
            rows[name] = {r["grad"]: r for r in store.rows()}
    assert seen == [None, None, "bf16", "bf16"]
    for grad in ("stbp", "rga"):
        a, b = rows["full"][grad], rows["half"][grad]
        assert b["config"]["amp"] == "bf16" and "amp" not in a["config"]
        assert a["per_input"]["clean_pred"] == b["per_input"]["clean_pred"]  # judged in full precision
        assert b["metrics"]["linf"] <= 0.2 + 1e-6


def test_grid_amp_is_checked():
    with pytest.raises(ExperimentError, match="grid.amp"):
        parse_experiment(TINY.replace("params = { steps = 3 }", 'amp = "fp8"'))

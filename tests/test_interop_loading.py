"""Loading user models: factory + weights through the API, the CLI and experiment files."""

import json
import textwrap

import pytest
import torch

from spikeattack.cli.main import main
from spikeattack.interop import ForeignModel, load_foreign_model

pytest.importorskip("spikingjelly.activation_based.neuron")
pytest.importorskip("snntorch")

FACTORY = textwrap.dedent('''
    import torch
    from torch import nn
    from spikingjelly.activation_based import layer, neuron, surrogate
    import snntorch as snn

    def csnn(channels=4):
        torch.manual_seed(0)
        return nn.Sequential(
            layer.Conv2d(1, channels, 3, padding=1, step_mode="m"),
            neuron.LIFNode(tau=2.0, detach_reset=True, surrogate_function=surrogate.ATan(), step_mode="m"),
            layer.Flatten(step_mode="m"), layer.Linear(channels * 64, 10, step_mode="m"))

    class Tutorial(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(64, 32), snn.Leaky(beta=0.9)
            self.fc2, self.lif2 = nn.Linear(32, 10), snn.Leaky(beta=0.9)

        def forward(self, x):
            mem1, mem2, out = self.lif1.init_leaky(), self.lif2.init_leaky(), []
            for _ in range(4):
                spk1, mem1 = self.lif1(self.fc1(x.flatten(1)), mem1)
                spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                out.append(spk2)
            return torch.stack(out)

    def tutorial():
        torch.manual_seed(0)
        return {"model": Tutorial(), "timesteps": 4, "readout": "count"}
''')


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    (root / "nets.py").write_text(FACTORY)
    ns = {}
    exec(FACTORY, ns)
    torch.save(ns["csnn"]().state_dict(), root / "csnn.pth")
    torch.save({"state_dict": ns["tutorial"]()["model"].state_dict()}, root / "tutorial.pth")
    torch.save(ns["csnn"](channels=2).state_dict(), root / "wrong.pth")
    return root


def test_load_foreign_model_checks_weights_and_arguments(user_files):
    model = load_foreign_model(f"{user_files}/nets.py:csnn", user_files / "csnn.pth", timesteps=4,
                               input_shape=(1, 8, 8), num_classes=10)
    assert isinstance(model, ForeignModel) and model.time == "sequence"
    tut = load_foreign_model(f"{user_files}/nets.py:tutorial", user_files / "tutorial.pth",
                             input_shape=(1, 8, 8), num_classes=10)
    assert tut.time == "inside" and tut.timesteps == 4
    assert tut(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"0\.weight.*shape mismatch|shape mismatch.*0\.weight"):
        load_foreign_model(f"{user_files}/nets.py:csnn", user_files / "wrong.pth", timesteps=4,
                           input_shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ValueError, match=r"unexpected \['fc1.bias'"):
        load_foreign_model(f"{user_files}/nets.py:csnn", user_files / "tutorial.pth", timesteps=4,
                           input_shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ValueError, match="timesteps"):
        load_foreign_model(f"{user_files}/nets.py:csnn", user_files / "csnn.pth", input_shape=(1, 8, 8),
                           num_classes=10)
    with pytest.raises(ValueError, match="factory.*no callable 'missing'"):
        load_foreign_model(f"{user_files}/nets.py:missing", None, timesteps=4, input_shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ValueError, match="factory"):
        load_foreign_model("nets.py", None, timesteps=4, input_shape=(1, 8, 8), num_classes=10)


def test_weights_load_without_running_pickled_code(user_files, tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    torch.save({"0.weight": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="weights"):
        load_foreign_model(f"{user_files}/nets.py:csnn", tmp_path / "evil.pth", timesteps=4,
                           input_shape=(1, 8, 8), num_classes=10)


def run_json(capsys, argv):
    assert main(argv + ["--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_eval_and_attack_a_factory_model(user_files, capsys):
    csnn = [str(user_files / "csnn.pth"), "--factory", f"{user_files}/nets.py:csnn", "--dataset", "digits",
            "--timesteps", "4", "--limit", "8"]
    result = run_json(capsys, ["eval"] + csnn)
    assert result["n"] == 8 and 0 <= result["clean_accuracy"] <= 1
    for grad in ("stbp", "rga"):
        result = run_json(capsys, ["attack"] + csnn + ["--attack", "fgsm", "--eps", "0.1", "--grad", grad])
        assert result["grad"] == grad and result["n"] == 8
    # black-box: the source is another weights file of a (here: other) factory
    result = run_json(capsys, ["attack"] + csnn + ["--attack", "fgsm", "--eps", "0.1", "--source",
                                                   str(user_files / "tutorial.pth"), "--source-factory",
                                                   f"{user_files}/nets.py:tutorial"])
    assert result["scenario"] != "white-box"
    assert main(["eval", str(user_files / "wrong.pth"), "--factory", f"{user_files}/nets.py:csnn", "--dataset",
                 "digits", "--timesteps", "4", "--quiet"]) == 2
    assert "shape mismatch" in capsys.readouterr().err


EXPERIMENT = """
name = "user-model"
seed = 0
[data]
dataset = "digits"
limit = 24
[train]
epochs = 1
[models.csnn]
factory = "nets.py:csnn"
weights = "csnn.pth"
blackbox_weights = "csnn-other.pth"
timesteps = 4
[models.tutorial]
factory = "nets.py:tutorial"
weights = "tutorial.pth"
[models.ann]
neuron = "relu"
arch_options = { channels = [4, 8], hidden = 16 }
[[grid]]
targets = ["csnn"]
attacks = ["fgsm"]
estimators = ["stbp", "bptr", "rga", "hart", "cba"]
eps = [0.1]
scenarios = ["white-box", "black-box"]
cross = ["ann", "tutorial"]
[analyses]
spike_shuffle = true
"""


def test_bench_and_report_with_user_models(user_files, tmp_path):
    from spikeattack.bench.experiment import ExperimentError, parse_experiment
    from spikeattack.results.report import write_report
    from spikeattack.bench.runner import run_experiment
    from spikeattack.results.store import ResultsStore

    ns = {}
    exec(FACTORY, ns)
    torch.manual_seed(1)
    other = ns["csnn"]()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    torch.save(other.state_dict(), user_files / "csnn-other.pth")
    (user_files / "exp.toml").write_text(EXPERIMENT)
    exp = parse_experiment(EXPERIMENT, str(user_files / "exp.toml"))
    scenarios = {(c.scenario, c.grad) for c in exp.cells}
    assert ("black-box", "rga") in scenarios and ("cross:tutorial", "hart") in scenarios and ("cross:ann", "exact") in scenarios
    run_experiment(exp, tmp_path, device="cpu", progress=False, log=lambda m: None)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        rows, models = store.rows(), store.models()
    assert len(rows) == len(exp.cells)
    assert {m["name"] for m in models} >= {"csnn", "csnn#seed1", "tutorial", "ann"}
    by = {(r["scenario"], r["grad"]): r for r in rows}
    assert by[("white-box", "stbp")]["metrics"]["n"] == 24
    paths = write_report(tmp_path / "results.sqlite", tmp_path / "report")
    assert "csnn" in paths["markdown"].read_text()
    with pytest.raises(ExperimentError, match="blackbox_weights"):
        parse_experiment(EXPERIMENT.replace('blackbox_weights = "csnn-other.pth"\n', ""), str(user_files / "exp.toml"))
    with pytest.raises(ExperimentError, match="models.csnn.time"):
        parse_experiment(EXPERIMENT.replace('timesteps = 4\n', 'timesteps = 4\ntime = "loop"\n', 1),
                         str(user_files / "exp.toml"))


def test_cli_factory_options_without_factory_are_refused(capsys, tmp_path):
    assert main(["eval", str(tmp_path / "x.pt"), "--dataset", "digits", "--readout", "count", "--quiet"]) == 2
    assert "--readout: only used with --factory" in capsys.readouterr().err
    assert main(["attack", str(tmp_path / "x.pt"), "--dataset", "digits", "--timesteps", "4", "--quiet"]) == 2
    assert "--timesteps: only used with --factory" in capsys.readouterr().err


# ---------------------------------------------------------------- one error boundary around the user's code
BROKEN = {
    "syntax.py": ("def csnn(:\n    pass\n", "csnn", {}, r"importing syntax\.py raised SyntaxError", SyntaxError),
    "imports.py": ("import not_a_module_of_anyone\n\ndef csnn():\n    pass\n", "csnn", {},
                   r"importing imports\.py raised ModuleNotFoundError: No module named 'not_a_module_of_anyone'",
                   ModuleNotFoundError),
    "exits.py": ("import sys\nsys.exit(3)\n", "csnn", {}, r"importing exits\.py raised SystemExit: 3", SystemExit),
    "raises.py": ("def csnn(channels=4):\n    return channels / 0\n", "csnn", {},
                  r"raises\.py:csnn raised ZeroDivisionError: division by zero", ZeroDivisionError),
    "needs.py": ("def csnn(channels):\n    pass\n", "csnn", {},
                 r"needs\.py:csnn cannot be called with no arguments: missing a required argument: 'channels'",
                 TypeError),
    "takes.py": ("def csnn(channels=4):\n    pass\n", "csnn", {"chanels": 2},
                 r"takes\.py:csnn cannot be called with chanels=2: got an unexpected keyword argument 'chanels'",
                 TypeError),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_factory_errors_name_file_function_and_exception(tmp_path, name):
    source, func, kwargs, match, cause = BROKEN[name]
    (tmp_path / name).write_text(source)
    with pytest.raises(ValueError, match=rf"^factory: .*{match}") as info:
        load_foreign_model(f"{tmp_path}/{name}:{func}", None, factory_kwargs=kwargs, timesteps=4,
                           input_shape=(1, 8, 8), num_classes=10)
    assert "\n" not in str(info.value) and f"{name}:{func}" in str(info.value)
    assert isinstance(info.value.__cause__, cause)  # chained, for a --traceback


def test_a_failed_import_is_not_cached(tmp_path, user_files):
    path = tmp_path / "later.py"
    path.write_text("def csnn(:\n")
    with pytest.raises(ValueError, match="SyntaxError"):
        load_foreign_model(f"{path}:csnn", None, timesteps=4, input_shape=(1, 8, 8), num_classes=10)
    path.write_text(FACTORY)  # fixed: loads now
    model = load_foreign_model(f"{path}:csnn", None, timesteps=4, input_shape=(1, 8, 8), num_classes=10)
    assert model.time == "sequence"


def test_factory_results_are_checked(tmp_path):
    (tmp_path / "odd.py").write_text(FACTORY + textwrap.dedent('''
        def typo():
            return {"model": csnn(), "timestep": 4}

        def nothing():
            return None

        def five():
            torch.manual_seed(0)
            return nn.Sequential(layer.Flatten(step_mode="m"), layer.Linear(64, 16, step_mode="m"),
                                 neuron.IFNode(step_mode="m"), layer.Linear(16, 5, step_mode="m"))
    '''))
    common = dict(timesteps=4, input_shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ValueError, match=r"^factory: .*odd\.py:typo returned a dict with unknown key\(s\) "
                                         r"\['timestep'\]"):
        load_foreign_model(f"{tmp_path}/odd.py:typo", None, **common)
    with pytest.raises(ValueError, match=r"^factory: .*odd\.py:nothing returned NoneType"):
        load_foreign_model(f"{tmp_path}/odd.py:nothing", None, **common)
    with pytest.raises(ValueError, match=r"^num_classes: .*5 classes, not num_classes=10"):
        load_foreign_model(f"{tmp_path}/odd.py:five", None, **common)


def test_cli_reports_factory_errors_in_one_line(tmp_path, user_files, capsys):
    (tmp_path / "bad.py").write_text("def csnn():\n    return 1 / 0\n")
    for spec, match in ((f"{tmp_path}/bad.py:csnn", "bad.py:csnn raised ZeroDivisionError: division by zero"),
                        (f"{user_files}/nets.py:csnn", "input_shape")):
        size = ["--resize", "6"] if "nets.py" in spec else []
        assert main(["eval", str(user_files / "csnn.pth"), "--factory", spec, "--dataset", "digits", "--timesteps",
                     "4", "--quiet", *size]) == 2
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

"""CLI: ``evaluate --version`` (the standard evaluation) and the new attacks' JSON."""

import contextlib

import pytest

from spikeattack.cli.main import main
from spikeattack.evaluation import BUDGETS

from helpers import run_json


@pytest.fixture(scope="module")
def checkpoint(cli_checkpoint):
    return cli_checkpoint


def test_evaluate_version_prints_the_documented_fields(checkpoint, capsys, monkeypatch):
    monkeypatch.setitem(BUDGETS, "standard", {"apgd_steps": 2, "restarts": 1, "targets": 1, "sapgd_steps": 2,
                                              "sapgd_restarts": 1, "mdse_steps": 2, "square_queries": 5, "square_p_init": 0.8, "fixed_apgd_steps": 0, "eot": 1,
                                              "escalation_rounds": 1, "escalation_sample": 4, "escalation_stages": 1,
                                              "escalation_tolerance": 0.0})
    result = run_json(capsys, ["evaluate", str(checkpoint), "--eps", "0.1", "--norm", "Linf", "--version",
                               "standard", "--limit", "12"])
    for key in ("clean_accuracy", "robust_accuracy", "robust_accuracy_ci", "n", "eps", "norm", "version", "stages"):
        assert key in result, key
    assert result["n"] == 12 and result["eps"] == 0.1 and result["norm"] == "Linf" and result["version"] == "standard"
    low, high = result["robust_accuracy_ci"]
    assert low <= result["robust_accuracy"] <= high <= 1
    assert result["hart_tuned"] and len([s for s in result["stages"] if not s["attack"].startswith("escalation")]) == 5
    assert result["converged"] in (True, False) and "rounds" in result["convergence"]
    assert {"attack", "grad", "attacked", "broken", "seconds"} <= set(result["stages"][0])


def test_evaluate_without_version_keeps_clean_accuracy(checkpoint, capsys):
    result = run_json(capsys, ["evaluate", str(checkpoint), "--limit", "30"])
    assert {"checkpoint", "dataset", "n", "timesteps", "clean_accuracy"} <= set(result)
    assert not {"robust_accuracy", "stages", "version"} & set(result)


@pytest.mark.parametrize("argv,message", [
    (["--eps", "0.1"], "--eps: only used with --version"),
    (["--version", "standard"], "--eps"),
    (["--version", "standard", "--eps", "0.1", "--norm", "l1"], "invalid choice"),
])
def test_evaluate_bad_arguments(checkpoint, capsys, argv, message):
    with pytest.raises(SystemExit) if message == "invalid choice" else contextlib.nullcontext():
        assert main(["evaluate", str(checkpoint), "--limit", "4"] + argv) == 2
    assert message in capsys.readouterr().err


def test_attack_boundary_reports_minimal_perturbation(checkpoint, capsys):
    result = run_json(capsys, ["attack", str(checkpoint), "--attack", "boundary", "--steps", "20", "--limit", "10"])
    assert result["attack"] == "boundary" and result["asr"] is not None and "robust_accuracy" in result
    minimal = result["minimal_perturbation"]
    assert minimal["n"] >= 1
    l2 = minimal["l2"]
    assert l2["quantiles"]["0.1"] <= l2["median"] <= l2["quantiles"]["0.9"]
    assert l2["median"] == pytest.approx(l2["quantiles"]["0.5"])


@pytest.mark.parametrize("attack,grad", [("square", None), ("sapgd", "assg"), ("apgd", "mdse")])
def test_attack_new_names(checkpoint, capsys, attack, grad):
    flags = [] if grad is None else ["--grad", grad]
    result = run_json(capsys, ["attack", str(checkpoint), "--attack", attack, *flags, "--eps", "0.1",
                               "--steps", "3", "--norm", "Linf", "--limit", "10"])
    assert result["attack"] == attack and result["grad"] == (grad or "none") and result["linf"] <= 0.1 + 1e-6


def test_gradient_free_attack_refuses_gradient_options(checkpoint, capsys):
    from spikeattack.cli.main import main

    assert main(["attack", str(checkpoint), "--attack", "square", "--grad", "rga", "--limit", "2"]) == 2
    assert "--grad: square is gradient-free" in capsys.readouterr().err

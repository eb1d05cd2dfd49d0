
import pytest

from spikeattack.cli.main import main

from helpers import run_json


@pytest.fixture(scope="module")
def checkpoint(cli_checkpoint):
    return cli_checkpoint


def test_train_writes_checkpoint_and_json(checkpoint, capsys):
    result = run_json(capsys, ["eval", str(checkpoint)])
    assert result["dataset"] == "digits" and result["n"] == 450
    assert 0.5 < result["clean_accuracy"] <= 1.0


def test_attack_json_has_the_documented_fields(checkpoint, capsys):
    result = run_json(capsys, ["attack", str(checkpoint), "--attack", "pgd", "--grad", "rga", "--eps", "0.2",
                               "--steps", "3", "--limit", "40"])
    for key in ("attack", "grad", "eps", "n", "clean_accuracy", "asr", "robust_accuracy", "linf", "l2",
                "l2_per_point", "vanishing"):
        assert key in result, key
    assert result["n"] == 40 and result["eps"] == 0.2 and result["linf"] <= 0.2 + 1e-6


def test_attack_targeted_given_excludes_the_target_class(checkpoint, capsys):
    result = run_json(capsys, ["attack", str(checkpoint), "--attack", "fgsm", "--eps", "0.1", "--targeted", "given",
                               "--target-class", "3", "--limit", "60"])
    assert result["n"] + result["excluded_target_class"] == 60


@pytest.mark.parametrize("argv, message", [
    (["train", "--arch", "vgg99", "--epochs", "1"], "arch"),
    (["train", "--dataset", "imagenet"], "dataset"),
    (["train", "--decay", "1.5", "--epochs", "1"], "decay"),
    (["train", "--threshold", "0", "--epochs", "1"], "threshold"),
    (["train", "--timesteps", "0", "--epochs", "1"], "timesteps"),
])
def test_bad_arguments_exit_2_with_a_named_error(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "x.pt"), "--quiet"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--eps", "-0.1"], "eps"), (["--steps", "0"], "steps"), (["--alpha", "0"], "alpha"),
    (["--targeted", "given"], "target-class"), (["--eps", "nan"], "eps"),
])
def test_bad_attack_arguments(checkpoint, argv, message, capsys):
    assert main(["attack", str(checkpoint), "--limit", "4", "--quiet"] + argv) == 2
    assert message in capsys.readouterr().err


def test_missing_dataset_folder_names_files(capsys, tmp_path):
    assert main(["train", "--dataset", "mnist", "--data-root", str(tmp_path), "--quiet"]) == 2
    assert "train-images-idx3-ubyte" in capsys.readouterr().err


def test_help_of_every_command(capsys):
    for command in ("train", "eval", "attack"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "Example" in capsys.readouterr().out

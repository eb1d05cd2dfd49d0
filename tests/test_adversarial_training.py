"""Adversarial training: the ``perturb`` hook, its robustness gain, and ``train --adv``."""

import copy
import json
import math

import pytest
import torch

from spikeattack.attacks import make_attack
from spikeattack.evaluation import evaluate
from spikeattack.cli.main import main
from spikeattack.data import load_dataset
from spikeattack.evaluation import compare_paired
from spikeattack.models import ModelConfig, build_model
from spikeattack.training import TrainConfig, read_checkpoint, train_model
from spikeattack.training.adversarial import AdversarialPerturbation, adversarial_perturbation

EPS = 0.1


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _small_snn(seed=0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10,
                                   neuron="lif", decay=0.5, timesteps=4,
                                   arch_options={"channels": (8, 16), "hidden": 32}))


def test_pgd_adversarial_training_raises_robust_accuracy(digits):
    cfg = TrainConfig(epochs=6, lr=5e-3, seed=0)
    plain, robust = _small_snn(), _small_snn()
    train_model(plain, digits, cfg, progress=False, evaluate_each_epoch=False)
    train_model(robust, digits, cfg, perturb=adversarial_perturbation("pgd", eps=EPS, steps=3), progress=False,
                evaluate_each_epoch=False)
    x, y = digits.split("test")
    data = (x[:200], y[:200])

    def pgd(model):
        return make_attack("pgd", model, eps=EPS, steps=10)

    r = evaluate(plain, data, pgd); s_plain, p_plain = r.summary, r.per_input
    r = evaluate(robust, data, pgd); s_robust, p_robust = r.summary, r.per_input
    # Measured once: plain 0.45, adversarially trained 0.67 robust accuracy (PGD-10, eps 0.1, STBP).
    # What training guarantees is a gain beyond the noise of 200 inputs, not a given size: an exact
    # McNemar test on the same inputs (robust-correct under attack, per model) must name it the winner.
    survived_robust = (p_robust.adv_pred == p_robust.label).tolist()
    survived_plain = (p_plain.adv_pred == p_plain.label).tolist()
    verdict = compare_paired(survived_robust, survived_plain, level=0.01)
    assert verdict.verdict == "a", (s_plain, s_robust, verdict)
    assert s_robust.clean_accuracy >= 0.85


def test_perturbation_stays_in_the_ball_keeps_train_mode_and_is_seeded(digits_snn, digits_test):
    x, y = digits_test[0][:24], digits_test[1][:24]
    model = copy.deepcopy(digits_snn)  # never change the shared fixture
    model.zero_grad(set_to_none=True)
    model.train()
    perturb = adversarial_perturbation("pgd", eps=EPS, steps=2, grad="bptr")
    x_adv = perturb(model, x, y)
    assert model.training
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert float((x_adv - x).abs().max()) <= EPS + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert not torch.equal(x_adv, x)
    assert all(p.grad is None for p in model.parameters())  # input gradients only
    # the same settings replay the same sequence; a second call draws a new random start
    again = adversarial_perturbation("pgd", eps=EPS, steps=2, grad="bptr")
    assert torch.equal(again(model, x, y), x_adv)
    assert not torch.equal(perturb(model, x, y), x_adv)
    # mixed training: half of the batch is replaced, the rest stays clean
    mixed = adversarial_perturbation("fgsm", eps=EPS, ratio=0.5, seed=3)
    x_mix = mixed(model, x, y)
    changed = (x_mix - x).flatten(1).abs().amax(1) > 0
    assert int(changed.sum()) == 12
    assert model.training


def test_describe_is_json_able():
    perturb = adversarial_perturbation("bim", eps=0.05, steps=4, alpha=0.02, grad="rga", grad_params={"gamma": 0.2},
                                       ratio=0.5, seed=7)
    assert isinstance(perturb, AdversarialPerturbation)
    assert json.loads(json.dumps(perturb.describe())) == {
        "attack": "bim", "eps": 0.05, "steps": 4, "alpha": 0.02, "grad": "rga", "grad_params": {"gamma": 0.2},
        "ratio": 0.5, "seed": 7}


@pytest.mark.parametrize("kwargs, name", [
    ({"attack": "nope"}, "attack"),
    ({"attack": "cw"}, "attack"),  # no eps budget
    ({"eps": 0}, "eps"), ({"eps": -0.1}, "eps"), ({"eps": math.nan}, "eps"), ({"eps": 2.0}, "eps"),
    ({"eps": "0.1"}, "eps"),
    ({"steps": 0}, "steps"), ({"steps": 1.5}, "steps"),
    ({"alpha": 0}, "alpha"), ({"alpha": math.inf}, "alpha"), ({"attack": "fgsm", "alpha": 0.01}, "alpha"),
    ({"grad": "magic"}, "grad"), ({"grad": "rga", "grad_params": {"nope": 1}}, "grad"),
    ({"grad_params": [1]}, "grad_params"),
    ({"ratio": 0}, "ratio"), ({"ratio": 1.5}, "ratio"),
    ({"seed": "0"}, "seed"),
])
def test_bad_arguments_raise_a_named_value_error(kwargs, name):
    kwargs = {"eps": EPS} | kwargs
    with pytest.raises(ValueError, match=f"^{name}:"):
        adversarial_perturbation(**kwargs)


@pytest.mark.parametrize("argv, flag", [
    (["--adv-eps", "0.1"], "--adv"),
    (["--adv-grad", "bptr", "--adv-steps", "2"], "--adv"),
    (["--adv", "pgd"], "--adv-eps"),
    (["--adv", "pgd", "--adv-eps", "0.1", "--adv-ratio", "2"], "--adv-ratio"),
    (["--adv", "pgd", "--adv-eps", "0.1", "--adv-grad", "magic"], "--adv-grad"),
    (["--adv", "warp", "--adv-eps", "0.1"], "--adv"),
])
def test_train_cli_rejects_bad_adversarial_flags(argv, flag, capsys, tmp_path):
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "x.pt"), "--quiet"] + argv) == 2
    err = capsys.readouterr().err
    assert f"error: {flag}:" in err, err
    assert not (tmp_path / "x.pt").exists()


def test_train_cli_adversarial_settings_are_stored(tmp_path, capsys):
    out = tmp_path / "adv.pt"
    assert main(["train", "--dataset", "digits", "--timesteps", "2", "--epochs", "1", "--width", "0.25",
                 "--limit-train", "128", "--adv", "pgd", "--adv-eps", "0.1", "--adv-steps", "2", "--adv-grad", "bptr",
                 "--adv-alpha", "0.05", "--adv-ratio", "0.5", "--out", str(out), "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    expected = {"attack": "pgd", "eps": 0.1, "steps": 2, "alpha": 0.05, "grad": "bptr", "grad_params": {},
                "ratio": 0.5, "seed": 0}
    assert result["adversarial"] == expected
    assert read_checkpoint(out)["metadata"]["adversarial"] == expected

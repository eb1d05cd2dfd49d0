"""Evaluation scenarios and sanity properties of the attacks on a trained digits SNN."""

import pytest
import torch

from spikeattack.attacks import make_attack
from spikeattack.attacks.noise import RandomNoise
from spikeattack.evaluation import PerInput, evaluate, summarize, tune_estimator
from spikeattack.data import load_dataset
from spikeattack.models import ModelConfig, build_model

ESTIMATORS = ("stbp", "bptr", "rga", "hart", "cba")


def asr(model, data, attack, source=None, **params):
    return evaluate(model, data, lambda m: make_attack(attack, m, **params), source).summary


def test_models_are_accurate(digits_snn, digits_test):
    summary = asr(digits_snn, digits_test, "fgsm", eps=0.0)
    assert summary.clean_accuracy > 0.9 and summary.asr == 0.0 and summary.linf == 0.0


@pytest.mark.parametrize("grad", ESTIMATORS)
def test_asr_grows_with_eps(digits_snn, digits_test, grad):
    rates = [asr(digits_snn, digits_test, "pgd", eps=eps, steps=5, grad=grad, random_start=False).asr
             for eps in (0.03, 0.1, 0.2, 0.4)]
    assert rates == sorted(rates), rates
    assert rates[-1] > rates[0] + 0.3, rates


@pytest.mark.parametrize("grad", ["stbp", "rga", "hart"])
def test_pgd_large_eps_reaches_95_percent(digits_snn, digits_test, grad):
    assert asr(digits_snn, digits_test, "pgd", eps=0.4, steps=20, grad=grad).asr >= 0.95


def test_black_box_weaker_than_white_box(digits_snn, digits_snn_source, digits_test):
    white = asr(digits_snn, digits_test, "pgd", eps=0.15, steps=10)
    black = asr(digits_snn, digits_test, "pgd", source=digits_snn_source, eps=0.15, steps=10)
    assert black.extra["scenario"] == "transfer" and white.extra["scenario"] == "white-box"
    assert black.asr < white.asr


def test_cross_ann_crafted_against_snn(digits_snn, digits_ann, digits_test):
    summary = asr(digits_snn, digits_test, "fgsm", source=digits_ann, eps=0.2)
    assert summary.asr > 0.1 and summary.extra["grad"] == "exact"  # an ANN source has one exact gradient


def test_random_noise_far_weaker_than_fgsm(digits_snn, digits_test):
    fgsm = asr(digits_snn, digits_test, "fgsm", eps=0.2).asr
    noise = evaluate(digits_snn, digits_test, lambda m: RandomNoise(m, eps=0.2, seed=0)).summary
    assert noise.asr * 3 < fgsm and noise.linf == pytest.approx(0.2, abs=1e-6)


def test_targeted_success_is_counted_on_the_target(digits_snn, digits_test):
    result = evaluate(digits_snn, digits_test, lambda m: make_attack("pgd", m, eps=0.3, steps=10, targeted="least-likely"))
    summary, per = result.summary, result.per_input
    hit = (per.adv_pred == per.target)[per.correct]
    assert summary.asr == pytest.approx(hit.float().mean().item())
    assert (per.target != per.label).all()


def test_evaluate_is_reproducible_with_poisson_inputs(digits_test):
    model = build_model(ModelConfig(arch="mlp", in_channels=1, input_size=(8, 8), num_classes=10,
                                    encoding="poisson", timesteps=4, arch_options={"hidden": (16,)}))
    runs = [evaluate(model, digits_test, lambda m: make_attack("fgsm", m, eps=0.1, eot=2), seed=4).per_input
            for _ in range(2)]
    assert torch.equal(runs[0].adv_pred, runs[1].adv_pred) and torch.equal(runs[0].l2, runs[1].l2)


def test_metrics_by_hand():
    per = PerInput(label=torch.tensor([0, 1, 2, 3]), clean_pred=torch.tensor([0, 1, 2, 0]),
                   adv_pred=torch.tensor([1, 1, 0, 2]), target=None, linf=torch.tensor([0.1, 0.1, 0.1, 0.1]),
                   l2=torch.tensor([1.0, 2.0, 3.0, 4.0]), l2_per_point=torch.tensor([0.1, 0.2, 0.3, 0.4]),
                   vanishing=torch.tensor([False, True, False, False]))
    s = summarize(per)
    assert s.n == 4 and s.clean_accuracy == 0.75
    assert s.asr == pytest.approx(2 / 3)          # inputs 0 and 2 of the 3 correct ones flip
    assert s.robust_accuracy == 0.25 and s.accuracy_loss == 0.5
    assert s.l2 == 2.5 and s.vanishing == 1


def test_source_must_match_target(digits_snn, digits_test):
    other = build_model(ModelConfig(arch="mlp", in_channels=1, input_size=(8, 8), num_classes=5))
    with pytest.raises(ValueError, match="source"):
        evaluate(digits_snn, digits_test, lambda m: make_attack("fgsm", m), other)
    small = build_model(ModelConfig(arch="mlp", in_channels=1, input_size=(4, 4), num_classes=10))
    with pytest.raises(ValueError, match="source"):
        evaluate(digits_snn, digits_test, lambda m: make_attack("fgsm", m), small)
    with pytest.raises(ValueError, match="attack"):
        evaluate(digits_snn, digits_test, make_attack("fgsm", small), None)


def test_hart_gamma_is_tuned_on_held_out_training_data(digits_snn, monkeypatch):
    data = load_dataset("digits")
    seen = []
    import spikeattack.evaluation.tune as tune

    real = tune.attack_success_rate

    def spy(model, x, *args, **kwargs):
        seen.append(x)
        return real(model, x, *args, **kwargs)

    monkeypatch.setattr(tune, "attack_success_rate", spy)
    result = tune_estimator(digits_snn, data, values=(0.5, 1.0, 2.0), attack_params={"eps": 0.15}, n=60)
    assert result.best in (0.5, 1.0, 2.0) and result.scores[result.best] == max(result.scores.values())
    test_rows = {tuple(r.flatten().tolist()) for r in data.split("test")[0]}
    assert not any(tuple(r.flatten().tolist()) in test_rows for r in seen[0])


def test_spike_shuffle_keeps_rates_and_compares_on_the_same_noise(digits_test):
    from spikeattack.evaluation.analyses import shuffle_time, spike_shuffle_accuracy

    spikes = (torch.rand(8, 3, 5, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    shuffled = shuffle_time(spikes, torch.Generator().manual_seed(1))
    assert torch.equal(shuffled.sum(0), spikes.sum(0)) and not torch.equal(shuffled, spikes)
    # no hidden spiking layer: nothing to shuffle, so any change could only come from encoder noise
    model = build_model(ModelConfig(arch="mlp", in_channels=1, input_size=(8, 8), num_classes=10,
                                    encoding="poisson", timesteps=2, arch_options={"hidden": ()}))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    x, y = digits_test
    with torch.no_grad():
        assert not torch.equal(model(x).argmax(-1), model(x).argmax(-1))  # the encoder noise matters
    assert spike_shuffle_accuracy(model, x, y)["change"] == 0.0


def test_targets_must_match_the_inputs(digits_snn, digits_test):
    x, y = digits_test
    with pytest.raises(ValueError, match="targets"):
        evaluate(digits_snn, (x, y), lambda m: make_attack("fgsm", m, targeted="given"), targets=y[:10])
    targets = (y + 1) % 10
    result = evaluate(digits_snn, (x, y), lambda m: make_attack("fgsm", m, eps=0.3, targeted="given"),
                      targets=targets, limit=20)
    summary, per = result.summary, result.per_input
    assert summary.n == 20 and torch.equal(per.target, targets[:20])

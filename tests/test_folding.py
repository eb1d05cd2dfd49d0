"""Batch-norm folding: the same logits and gradients (float32), the model restored exactly."""

import pytest
import torch
from torch import nn

from spikeattack.gradients import input_gradients
from spikeattack.models import ModelConfig, build_model, fold_batchnorm


def model_with_statistics(neuron="lif", seed=0):
    cfg = ModelConfig(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=4, neuron=neuron,
                      decay=0.5, threshold=1.0, timesteps=4, arch_options={"channels": (4, 6), "hidden": 16})
    torch.manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():  # non-trivial batch-norm statistics and affine parameters
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.2, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(0.2, 0.8)
            if isinstance(m, nn.Linear):
                m.weight.mul_(4.0)
                m.bias.add_(0.5)
    return model.eval()


def snapshot(model):
    return [(name, type(m), id(m)) for name, m in model.named_modules()], \
        {k: v.clone() for k, v in model.state_dict().items()}


def assert_restored(model, before):
    modules, state = snapshot(model)
    assert modules == before[0]
    assert state.keys() == before[1].keys()
    assert all(torch.equal(state[k], before[1][k]) for k in state)


def rel_err(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("neuron", ["lif", "relu"])
def test_folded_logits_and_gradients_match(neuron):
    model = model_with_statistics(neuron)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    names = ["stbp", "bptr", "rga", "hart", "cba"]
    before = snapshot(model)
    ref = input_gradients(model, x, y, names)
    with fold_batchnorm(model) as folded:
        assert folded == 2
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        got = input_gradients(model, x, y, names)
    assert_restored(model, before)
    for n in names:
        assert ref[n].grad.abs().sum() > 0, n
        assert rel_err(got[n].logits, ref[n].logits) <= 1e-5, n
        assert rel_err(got[n].grad, ref[n].grad) <= 1e-5, n


def test_restored_on_error_and_nothing_folded_in_training_mode():
    model = model_with_statistics()
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        with fold_batchnorm(model):
            raise RuntimeError("boom")
    assert_restored(model, before)
    model.train()
    with fold_batchnorm(model) as folded:
        assert folded == 0
    assert_restored(model, before)


def test_attack_with_fold_bn_restores_the_model_and_matches():
    from spikeattack.attacks import make_attack

    model = model_with_statistics().double()
    x = torch.rand(6, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    before = snapshot(model)
    folded = make_attack("pgd", model, eps=0.1, steps=3, fold_bn=True)
    plain = make_attack("pgd", model, eps=0.1, steps=3)
    assert folded.describe()["fold_bn"] is True and "fold_bn" not in plain.describe()
    assert torch.equal(folded(x, y), plain(x, y))  # float64: no rounding reaches a sign
    assert_restored(model, before)
    with pytest.raises(ValueError, match="fold_bn"):
        make_attack("fgsm", model, fold_bn="yes")

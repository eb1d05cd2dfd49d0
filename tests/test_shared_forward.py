"""One spiking forward for several estimators equals each estimator's own call, exactly."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from spikeattack.attacks import make_attack
from spikeattack.gradients import HART, STBP, input_gradients, make_estimator, shared_forward

from helpers import firing_small_model

NAMES = ("stbp", "bptr", "rga", "hart", "cba")


@pytest.fixture(autouse=True)
def float64():
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(saved)


def small_model(encoding="direct", seed=0, timesteps=4):
    return firing_small_model(encoding, seed, timesteps)


def own(model, est, x, y):
    """The estimator's own call: logits, per-example CE and input gradient."""
    reseed = getattr(model.encoder, "reseed", None)
    if reseed is not None:
        reseed(7)  # the same noise as the shared forward
    xv = x.clone().requires_grad_(True)
    logits = est(model, xv)
    loss = F.cross_entropy(logits, y, reduction="none")
    (g,) = torch.autograd.grad(loss.sum(), xv)
    return logits.detach(), loss.detach(), g


@pytest.mark.parametrize("encoding", ["direct", "poisson"])
def test_every_combination_equals_the_estimators_own_calls(encoding):
    model = small_model(encoding)
    x = torch.rand(5, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3, 0])
    expected = {n: own(model, make_estimator(n), x, y) for n in NAMES}
    assert all(expected[n][2].flatten(1).abs().sum(1).gt(0).all() for n in NAMES)  # no vanishing gradient
    for k in range(1, len(NAMES) + 1):
        for combo in itertools.combinations(NAMES, k):
            if encoding == "poisson":
                model.encoder.reseed(7)
            got = input_gradients(model, x, y, list(combo))
            assert list(got) == list(combo)
            for name in combo:
                logits, loss, grad = expected[name]
                assert torch.equal(got[name].grad, grad), (combo, name)
                assert torch.equal(got[name].loss, loss), (combo, name)
                assert torch.equal(got[name].logits, logits), (combo, name)


def test_estimators_differ_so_the_comparison_is_not_vacuous():
    model = small_model()
    x = torch.rand(5, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    got = input_gradients(model, x, torch.tensor([0, 1, 2, 3, 0]), list(NAMES))
    grads = [got[n].grad for n in NAMES]
    for a, b in itertools.combinations(grads, 2):
        assert not torch.allclose(a, b)


def test_several_hart_gammas_and_a_second_stbp_surrogate():
    model = small_model()
    x = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([1, 2, 3])
    ests = {"h1": HART(1.0), "h05": HART(0.5), "stbp": STBP(), "stbp-tri": STBP("triangle", 0.5)}
    got = input_gradients(model, x, y, ests)
    for key, est in ests.items():
        assert torch.equal(got[key].grad, own(model, est, x, y)[2]), key
    assert not torch.equal(got["h1"].grad, got["h05"].grad)


def test_custom_loss_and_ann():
    model = small_model()
    x = torch.rand(3, 1, 6, 6)
    target = torch.tensor([3, 0, 1])
    got = input_gradients(model, x, None, ["stbp", "rga"], loss=lambda z: -F.cross_entropy(z, target, reduction="none"))
    xv = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(-F.cross_entropy(model(xv), target, reduction="sum"), xv)
    assert torch.equal(got["stbp"].grad, g)
    ann = model.ann_twin().eval()
    got = input_gradients(ann, x, target, ["stbp", "hart"])
    assert torch.equal(got["stbp"].grad, got["hart"].grad)


def test_bad_arguments():
    model = small_model()
    x = torch.rand(2, 1, 6, 6)
    with pytest.raises(ValueError, match="estimators"):
        input_gradients(model, x, torch.tensor([0, 1]), ["hart", HART(0.5)])
    with pytest.raises(ValueError, match="estimators"):
        input_gradients(model, x, torch.tensor([0, 1]), [])
    with pytest.raises(ValueError, match="y"):
        input_gradients(model, x, None, ["stbp"])
    with pytest.raises(ValueError, match="grad"):
        input_gradients(model, x, torch.tensor([0, 1]), ["nope"])


@pytest.mark.parametrize("encoding", ["direct", "poisson"])
@pytest.mark.parametrize("attack,params", [("fgsm", {}), ("pgd", {"steps": 2}), ("apgd", {"steps": 3})])
def test_attacks_in_a_shared_block_give_the_same_results(encoding, attack, params):
    """A grid of attacks differing only by estimator: identical adversarial examples, and the
    encoder's noise stream ends where it would have."""
    model = small_model(encoding)
    x = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 1, 2, 3, 0, 1])

    def run_all():
        out = {}
        for name in NAMES:
            if encoding == "poisson":
                model.encoder.reseed(5)
            adv = make_attack(attack, model, eps=0.1, grad=name, seed=1, **params)(x, y)
            after = model.encoder.noise_state("cpu") if encoding == "poisson" else None
            out[name] = (adv, after)
        return out

    alone = run_all()
    with shared_forward(list(NAMES)) as cache:
        together = run_all()
    assert cache.computed == 1 and cache.served == len(NAMES) - 1
    for name in NAMES:
        assert torch.equal(alone[name][0], together[name][0]), name
        if encoding == "poisson":
            assert torch.equal(alone[name][1], together[name][1]), name


@pytest.mark.parametrize("option", [{"decay_input": True}, {"detach_reset": True, "strict": True}])
def test_neuron_options_equal_the_own_calls(option):
    """Neurons the fused path does not take (reference loop) and an input gain != 1."""
    model = small_model()
    for n in model.spiking_neurons():
        for k, v in option.items():
            setattr(n, k, v)
        assert not n.fused_supported()
    x = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 1, 2, 3])
    got = input_gradients(model, x, y, list(NAMES))
    for name in NAMES:
        assert torch.equal(got[name].grad, own(model, make_estimator(name), x, y)[2]), name

"""Early exit: adversarial inputs leave the working batch, and the result does not change."""

import pytest
import torch

from spikeattack.attacks import GradientAttack, make_attack

from helpers import firing_small_model


@pytest.fixture(autouse=True)
def float64():
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(saved)


def model(encoding="direct"):
    return firing_small_model(encoding, seed=0, timesteps=3)


@pytest.mark.parametrize("attack,params", [("bim", {"steps": 6}), ("pgd", {"steps": 6, "restarts": 2}),
                                           ("apgd", {"steps": 8})])
@pytest.mark.parametrize("targeted", [None, "given"])
@pytest.mark.parametrize("grad", ["stbp", "rga"])
def test_shrinking_batch_gives_the_same_result(monkeypatch, attack, params, targeted, grad):
    net = model()
    x = torch.rand(12, 1, 6, 6, generator=torch.Generator().manual_seed(4))
    y = torch.arange(12) % 4
    target = (y + 1) % 4 if targeted else None
    make = lambda: make_attack(attack, net, eps=0.3, grad=grad, targeted=targeted, early_stop=True, seed=3,  # noqa: E731
                               **params)
    sizes = []
    real = GradientAttack.value_and_grad

    def recording(self, xs, ys, ts):
        sizes.append(len(ys))
        return real(self, xs, ys, ts)

    monkeypatch.setattr(GradientAttack, "value_and_grad", recording)
    shrunk = make()(x, y, target)
    assert min(sizes) < len(y)  # some inputs left the batch early
    monkeypatch.setattr(GradientAttack, "working_set", lambda self, active: None)
    sizes.clear()
    whole = make()(x, y, target)
    assert min(sizes) == len(y)
    assert torch.equal(shrunk, whole)


def test_stochastic_encoders_keep_the_whole_batch():
    attack = make_attack("pgd", model("poisson"), eps=0.3, early_stop=True)
    assert attack.working_set(torch.tensor([True, False])) is None
    attack = make_attack("pgd", model(), eps=0.3, early_stop=True)
    assert attack.working_set(torch.tensor([True, False])).tolist() == [0]
    assert attack.working_set(torch.tensor([True, True])) is None

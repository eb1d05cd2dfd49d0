"""ASSG, MDSE, SA-PGD, Square and Boundary: the papers' equations on tiny inputs, invariants,
and agreement with torchattacks' Square on an ANN."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from spikeattack.attacks import ATTACKS, SAPGD, Boundary, Square, make_attack
from spikeattack.attacks.sapgd import sapgd_schedule
from spikeattack.attacks.square import margin_loss, ring_pattern, square_fraction
from spikeattack.gradients import ASSG, ESTIMATORS, MDSE, make_estimator
from spikeattack.neurons.surrogate import spike


@pytest.fixture(scope="module")
def correct(digits_snn, digits_test):
    x, y = digits_test
    with torch.no_grad():
        ok = digits_snn(x).argmax(-1) == y
    return x[ok][:24], y[ok][:24]


def test_registry_names():
    assert ATTACKS["square"] is Square and ATTACKS["boundary"] is Boundary and ATTACKS["sapgd"] is SAPGD
    assert ESTIMATORS["assg"] is ASSG and ESTIMATORS["mdse"] is MDSE


# ---------------------------------------------------------------------------- ASSG
def test_assg_sharpness_is_omega_over_moving_mean_of_abs_membrane_per_neuron_and_time():
    assg = ASSG(omega=2.0, relax=1.5, beta1=0.9, beta2=0.8)
    assg.layers = []
    from spikeattack.gradients.assg import _LayerState

    state = _LayerState(assg)
    assg.layers = [state]
    gen = torch.Generator().manual_seed(0)
    us = [[torch.randn(3, 5, generator=gen) for _ in range(2)] for _ in range(3)]  # 3 iterations x 2 time steps
    M = [torch.ones(3, 5), torch.ones(3, 5)]
    D = [torch.zeros(3, 5), torch.zeros(3, 5)]
    for it in range(3):
        for t in range(2):
            u = us[it][t].clone().requires_grad_(True)
            surrogate = state.at_step(u, t)
            M[t] = 0.9 * M[t] + 0.1 * u.detach().abs()
            D[t] = 0.8 * D[t] + 0.2 * (u.detach().abs() - M[t]).abs()
            alpha = 2.0 / (M[t] + 1.5 * D[t] + 1e-4)
            assert torch.allclose(assg.sharpness(0, t), alpha)
            # the backward of the spike is the arctan surrogate with that elementwise sharpness
            (g,) = torch.autograd.grad(spike(u, surrogate).sum(), u)
            assert torch.allclose(g, (alpha / 2) / (1 + (math.pi / 2 * alpha * u.detach()) ** 2))
    assert not torch.allclose(assg.sharpness(0, 0), assg.sharpness(0, 1))  # per time step
    before = assg.sharpness(0, 0).clone()
    with torch.no_grad():  # a scoring forward does not move the statistics
        state.at_step(torch.full((3, 5), 9.0), 0)
    assert torch.equal(assg.sharpness(0, 0), before)


def test_assg_without_memory_is_omega_over_abs_u():
    assg = ASSG(omega=1.5, relax=0.0, beta1=0.0, beta2=0.0)
    from spikeattack.gradients.assg import _LayerState

    assg.layers = [_LayerState(assg)]
    u = torch.tensor([[0.5, -2.0, 0.1]], requires_grad=True)
    assg.layers[0].at_step(u, 0)
    assert torch.allclose(assg.sharpness(0, 0), 1.5 / (u.detach().abs() + 1e-4))


def test_assg_in_a_model_state_is_per_run_and_surrogates_restored(digits_snn, correct):
    x, y = correct
    saved = [n.surrogate for n in digits_snn.spiking_neurons()]
    assg = make_estimator("assg")
    xv = x[:4].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(assg(digits_snn, xv), y[:4]), xv)
    assert g.abs().sum() > 0
    assert [n.surrogate for n in digits_snn.spiking_neurons()] == saved
    assert len(assg.layers) == len(saved) and assg.sharpness(0, 0).shape[0] == 4
    assg.reset()
    assert assg.layers == []
    with pytest.raises(ValueError, match="beta1"):
        ASSG(beta1=1.0)


# ---------------------------------------------------------------------------- MDSE
def _member_grad(model, x, y, name):
    xv = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(make_estimator(name)(model, xv), y, reduction="sum"), xv)
    return g / g.flatten(1).abs().mean(1).clamp_min(1e-30).view(-1, 1, 1, 1)


def test_mdse_blends_l1_normalised_member_gradients_and_moves_weights_by_hypergradient(digits_snn, correct):
    x, y = correct[0][:6], correct[1][:6]
    names = ("stbp", "bptr", "rga")  # members whose own forward is the spiking model's (not cba's ANN twin)
    mix = make_estimator("mdse", members=names, lr=2.0)

    def mdse_grad(xx):
        xv = xx.clone().requires_grad_(True)
        logits = mix(digits_snn, xv)
        with torch.no_grad():
            assert torch.allclose(logits, digits_snn(xx), atol=1e-5)  # the forward is the spiking model's
        (g,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xv)
        return g

    first = [_member_grad(digits_snn, x, y, n) for n in names]
    g1 = mdse_grad(x)
    assert torch.allclose(g1, sum(first) / 3, atol=1e-5)
    assert torch.allclose(mix.weights, torch.full((6, 3), 1 / 3))
    x2 = (x + 0.05 * g1.sign()).clamp(0, 1)
    second = [_member_grad(digits_snn, x2, y, n) for n in names]
    g2 = mdse_grad(x2)
    assert torch.allclose(g2, sum(second) / 3, atol=1e-5)  # the weights of this call were still uniform
    blend = (sum(second) / 3).flatten(1)
    credit = torch.stack([(blend * p.flatten(1)).mean(1) for p in first], 1)
    expected = torch.softmax(torch.full((6, 3), 1 / 3).log() + 2.0 * credit, 1)
    assert torch.allclose(mix.weights, expected, atol=1e-5)
    assert torch.allclose(mix.weights.sum(1), torch.ones(6))
    mix.reset()
    assert mix.weights is None


def test_mdse_rejects_bad_members():
    with pytest.raises(ValueError, match="members"):
        make_estimator("mdse", members=("stbp",))
    with pytest.raises(ValueError, match="grad"):
        make_estimator("mdse", members=("stbp", "nope"))
    with pytest.raises(ValueError, match="members: expected estimator objects"):
        MDSE(("stbp", "rga"))  # the class itself takes objects; names are resolved by make_estimator


# ---------------------------------------------------------------------------- SA-PGD
def _reference_halvings(steps):
    """The authors' counter loop, restated: halve when the counter reaches k, then shrink k."""
    k, counter, out = max(int(0.22 * steps), 1), 0, []
    for i in range(steps):
        counter += 1
        if counter == k:
            out.append(i + 1)
            counter = 0
            k = max(k - max(int(0.03 * steps), 1), max(int(0.06 * steps), 1))
    return out


@pytest.mark.parametrize("steps", [1, 10, 50, 100, 333])
def test_sapgd_step_size_schedule(steps):
    assert sapgd_schedule(steps) == _reference_halvings(steps)
    assert sapgd_schedule(100)[:3] == [22, 41, 57]


def test_sapgd_momentum_and_normalised_adaptive_step(digits_snn, correct, monkeypatch):
    x, y = correct[0][:2], correct[1][:2]
    eps = 0.2
    attack = SAPGD(digits_snn, eps=eps, steps=3, random_start=False)
    gen = torch.Generator().manual_seed(3)
    grads = [torch.randn(x.shape, generator=gen) for _ in range(4)]
    seen, calls = [], []

    def fake(x_var, y_, target):
        seen.append(x_var.detach().clone())
        g = grads[len(calls)]
        calls.append(1)
        return torch.zeros(len(y_)), g

    monkeypatch.setattr(attack, "value_and_grad", fake)
    attack(x, y)
    mean = lambda t: t.flatten(1).mean(1).view(-1, 1, 1, 1)  # noqa: E731
    m = v = None
    x_k, eta = x.clone(), eps
    halvings = _reference_halvings(3)
    for k in range(3):
        g = grads[k]
        m = g / mean(g.abs()) if m is None else 0.5 * m + g / mean(g.abs())
        v = g ** 2 / mean(g ** 2) if v is None else 0.8 * v + g ** 2 / mean(g ** 2)
        step = torch.clamp(eta * m / (v.sqrt() + 1e-12), -eta, eta)
        x_k = torch.min(torch.max(x_k + step, x - eps), x + eps).clamp(0, 1)
        assert torch.allclose(seen[k + 1], x_k, atol=1e-6)
        if k + 1 in halvings:
            eta /= 2


# ---------------------------------------------------------------------------- invariants
CASES = [
    ("sapgd", {"eps": 0.1, "steps": 8, "grad": "assg"}, "linf", 0.1),
    ("sapgd", {"eps": 0.5, "steps": 8, "norm": "l2", "grad": "mdse"}, "l2", 0.5),
    ("square", {"eps": 0.1, "steps": 60}, "linf", 0.1),
    ("square", {"eps": 0.8, "steps": 60, "norm": "l2"}, "l2", 0.8),
    ("boundary", {"steps": 30, "eps": 1.5}, "l2", 1.5),
    ("apgd", {"eps": 0.1, "steps": 5, "grad": "assg"}, "linf", 0.1),
]


@pytest.mark.parametrize("name,params,norm,eps", CASES)
def test_new_attacks_stay_in_the_ball_and_box_and_are_seeded(digits_snn, correct, name, params, norm, eps):
    x, y = correct[0][:8], correct[1][:8]
    a = make_attack(name, digits_snn, seed=1, **params)(x, y)
    b = make_attack(name, digits_snn, seed=1, **params)(x, y)
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    delta = (a - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert (size <= eps + 1e-5).all()


def test_square_pieces_follow_the_paper():
    assert square_fraction(0.8, 0, 10000) == 0.8 and square_fraction(0.8, 11, 10000) == 0.4
    assert square_fraction(0.8, 9999, 10000) == pytest.approx(0.8 / 2 ** 9)
    assert square_fraction(0.8, 2, 100) == 0.2  # iteration 2 of 100 is 200 of 10,000: halved at 10 and 50
    eta = ring_pattern(5)
    assert eta[2, 2] == pytest.approx(1 + 1 / 4 + 1 / 9) and eta[0, 0] == pytest.approx(1 / 9)
    assert torch.equal(eta, eta.T) and torch.equal(eta, eta.flip(0))
    logits = torch.tensor([[3.0, 1.0, 2.0]])
    assert margin_loss(logits, torch.tensor([0]), None).item() == 1.0
    assert margin_loss(logits, torch.tensor([0]), torch.tensor([2])).item() == 1.0


def test_boundary_returns_adversarial_points_closer_than_its_start(digits_snn, correct):
    x, y = correct[0][:8], correct[1][:8]
    attack = Boundary(digits_snn, steps=60, seed=0)
    attack.generator.manual_seed(attack.seed)  # as the call does: the same starting points
    start, found = attack.initial(x, y, None)
    x_adv = attack(x, y)
    fooled = digits_snn(x_adv).argmax(-1) != y
    assert found.all() and torch.equal(fooled, found)
    d0 = (start - x).flatten(1).norm(dim=1)
    d1 = (x_adv - x).flatten(1).norm(dim=1)
    assert (d1 <= d0 + 1e-6).all() and (d1 < d0).float().mean() >= 0.5
    # with a budget below every distance found, nothing counts as fooled
    tight = Boundary(digits_snn, steps=60, seed=0, eps=float(d1.min()) / 2)(x, y)
    assert torch.equal(tight, x)


# ---------------------------------------------------------------------------- peers
def test_square_agrees_in_spirit_with_torchattacks_on_an_ann(digits_ann, digits_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = digits_test
    with torch.no_grad():
        ok = digits_ann(x).argmax(-1) == y
    x, y = x[ok][:40], y[ok][:40]
    eps = 0.2
    ours = Square(digits_ann, eps=eps, steps=300, p_init=0.3, seed=0)(x, y)
    peer = torchattacks.Square(digits_ann, eps=eps, n_queries=300, p_init=0.3, seed=0)(x, y)
    with torch.no_grad():
        ours_ok = digits_ann(ours).argmax(-1) != y
        peer_ok = digits_ann(peer).argmax(-1) != y
    assert peer_ok.float().mean() >= 0.5 and ours_ok.float().mean() >= 0.5
    # the same easy inputs: most of what the reference breaks, ours breaks too
    assert (ours_ok & peer_ok).sum() >= 0.8 * peer_ok.sum()


def test_boundary_agrees_in_spirit_with_foolbox_on_an_ann(digits_ann, digits_test):
    fb = pytest.importorskip("foolbox")
    x, y = digits_test
    with torch.no_grad():
        ok = digits_ann(x).argmax(-1) == y
    x, y = x[ok][:8], y[ok][:8]
    ours = Boundary(digits_ann, steps=500, seed=0)(x, y)
    torch.manual_seed(0)  # foolbox draws from the global generator
    _, peer, success = fb.attacks.BoundaryAttack(steps=500)(fb.PyTorchModel(digits_ann, bounds=(0, 1)), x, y,
                                                            epsilons=None)
    with torch.no_grad():
        ours_ok = digits_ann(ours).argmax(-1) != y
    assert ours_ok.all() and success.all()  # the same (all) easy inputs fooled
    d_ours = (ours - x).flatten(1).norm(dim=1).median()
    d_peer = (peer - x).flatten(1).norm(dim=1).median()
    print(f"median minimal L2: ours {float(d_ours):.3f}, foolbox {float(d_peer):.3f}")
    assert d_ours <= 1.25 * d_peer  # as small a minimal perturbation as the reference finds (or smaller)

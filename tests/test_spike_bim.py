"""Liang et al.'s spike-compatible BIM (G2S converter, RSF) on tiny spike-input and Poisson models.

Fixtures: a 72-32-4 spiking MLP (T = 5) on ``[T, B, 2, 6, 6]`` binary spike frames, trained
with MSE (the paper's default) on synthetic data whose classes differ in per-pixel firing
probability; and a Poisson-coded MLP on synthetic 6x6 images for the image branch.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeattack.attacks import ATTACKS, SpikeBIM, make_attack
from spikeattack.attacks.spike_bim import FixedSpikes, flip_construct, overflow_transform
from spikeattack.evaluation import evaluate
from spikeattack.evaluation.spike_metrics import spike_summary
from spikeattack.data import ImageDataset
from spikeattack.models import ModelConfig, build_model
from spikeattack.training import TrainConfig, train_model

ESTIMATORS = ("stbp", "bptr", "rga", "hart", "cba")
T = 5
CONFIG = ModelConfig(arch="mlp", in_channels=2, input_size=(6, 6), num_classes=4, encoding="spikes", timesteps=T,
                     arch_options={"hidden": (32,)})
POISSON = ModelConfig(arch="mlp", in_channels=1, input_size=(6, 6), num_classes=4, encoding="poisson", timesteps=8,
                      arch_options={"hidden": (32,)})
ELEMENTS = T * 2 * 6 * 6


# ---------------------------------------------------------------------------- fixtures
def _spike_frames(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[n, T, 2, 6, 6]`` bool frames; class c fires pixel p with probability proto[c, p]."""
    proto = 0.3 + (torch.rand(4, 2, 6, 6, generator=torch.Generator().manual_seed(123)) - 0.5) * 0.3
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=gen)
    p = proto[y].unsqueeze(1).expand(n, T, 2, 6, 6)
    return torch.rand(p.shape, generator=gen) < p, y


def _images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    proto = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(7))
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=gen)
    return (proto[y] + 0.25 * torch.randn(n, 1, 6, 6, generator=gen)).clamp(0, 1), y


@pytest.fixture(scope="module")
def spike_data():
    (x, y), (xt, yt) = _spike_frames(800, 0), _spike_frames(200, 1)
    return ImageDataset("synthetic-spikes", x, y, xt, yt, 4)


@pytest.fixture(scope="module")
def snn(spike_data):
    torch.manual_seed(0)
    model = build_model(CONFIG)
    train_model(model, spike_data, TrainConfig(epochs=8, lr=5e-3, loss="mse", seed=0), progress=False)
    return model.eval()


@pytest.fixture(scope="module")
def clean(snn, spike_data):
    """Up to 100 test inputs the model classifies correctly, time-first ``[T, B, ...]``."""
    x, y = spike_data.split("test")
    with torch.no_grad():
        ok = snn(x).argmax(-1) == y
    assert ok.float().mean() > 0.85  # the synthetic task is learnt
    return x[:, ok][:, :100].contiguous(), y[ok][:100]


@pytest.fixture(scope="module")
def poisson_snn():
    (x, y), (xt, yt) = _images(800, 0), _images(200, 1)
    torch.manual_seed(0)
    model = build_model(POISSON)
    train_model(model, ImageDataset("synthetic-images", x, y, xt, yt, 4),
                TrainConfig(epochs=6, lr=5e-3, loss="mse", seed=0), progress=False)
    return model.eval(), xt[:60], yt[:60]


def _asr(model, x_adv, y, target=None):
    with torch.no_grad():
        pred = model(x_adv).argmax(-1)
    return float((pred != y).float().mean() if target is None else (pred == target).float().mean())


def _binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


# ---------------------------------------------------------------------------- pure functions
def test_overflow_transform_matches_table_ii():
    # rows of Table II: (spike, ternary gradient) -> transformed gradient, and the spike after it
    rows = [(0, 0, 0), (1, 0, 0), (0, 1, 1), (1, 1, 0), (0, -1, 0), (1, -1, -1)]
    s = torch.tensor([r[0] for r in rows], dtype=torch.float32)
    d = torch.tensor([r[1] for r in rows], dtype=torch.float32)
    out = overflow_transform(d, s)
    assert out.tolist() == [float(r[2]) for r in rows]
    assert (s + out).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_flip_construct_matches_table_iv():
    s = torch.tensor([0.0, 1.0, 0.0, 1.0])
    mask = torch.tensor([False, False, True, True])
    delta = flip_construct(mask, s)
    assert delta.tolist() == [0.0, 0.0, 1.0, -1.0]
    assert (s + delta).tolist() == [0.0, 1.0, 1.0, 0.0]


def test_fixed_spikes_encoder_carries_the_gradient():
    spikes = torch.bernoulli(torch.full((4, 3, 2), 0.5)).requires_grad_(True)
    enc = FixedSpikes(spikes)
    assert enc.encode(torch.zeros(3, 2), 4) is spikes
    (grad,) = torch.autograd.grad(enc.rate(torch.zeros(3, 2)).sum(), spikes)
    assert torch.allclose(grad, torch.full_like(grad, 0.25))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), gamma=st.floats(0, 1), sampling=st.booleans(),
       zero=st.lists(st.booleans(), min_size=6, max_size=6))
def test_spike_update_is_binary_masked_and_signed(seed, gamma, sampling, zero):
    attack = SpikeBIM(build_model(CONFIG), gamma=gamma, sampling=sampling, seed=seed)
    attack.generator.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(6, T, 2, 6, 6, generator=gen) < 0.4).float()
    grad = torch.randn(6, T, 2, 6, 6, generator=gen) * (torch.rand(6, T, 2, 6, 6, generator=gen) < 0.5)
    zero = torch.tensor(zero)
    grad[zero] = 0.0
    masks = []
    original = attack.sample_mask
    attack.sample_mask = lambda prob: masks.append((prob, original(prob))) or masks[-1][1]
    delta, used = attack.spike_update(spikes, grad)
    (prob, mask), = masks
    assert _binary(spikes + delta)
    assert not (delta != 0)[~mask].any()                                 # only masked elements change
    assert torch.equal(used, zero)                                      # RSF exactly where all zero
    g2s = ~zero
    assert (delta[g2s] * grad[g2s] >= 0).all()                          # G2S follows the gradient sign
    assert torch.equal(delta[g2s] != 0, (mask & (grad.sign() == 1 - 2 * spikes))[g2s])
    assert torch.allclose(prob[zero], torch.full_like(prob[zero], gamma))  # RSF samples on gamma ...
    assert torch.equal(delta[zero] != 0, mask[zero])                      # ... and flips every masked element
    if g2s.any():
        flat = prob[g2s].flatten(1)
        if sampling:  # eq. 10: |grad| normalised per input to [0, 1]; the largest entry passes for sure
            assert torch.allclose(flat.amax(1), torch.ones(len(flat)))
            assert torch.allclose(flat, grad[g2s].abs().flatten(1) / grad[g2s].abs().flatten(1).amax(1, keepdim=True))
        else:
            assert (flat == 1).all()


# ---------------------------------------------------------------------------- the attack on spikes
def test_registered():
    assert ATTACKS["spike-bim"] is SpikeBIM
    assert SpikeBIM.name == "spike-bim" and SpikeBIM.image_domain is False


def test_untargeted_asr_stbp_is_high(snn, clean):
    x, y = clean
    attack = make_attack("spike-bim", snn, grad="stbp", steps=25)
    x_adv = attack(x, y)
    assert x_adv.shape == x.shape and _binary(x_adv)
    assert _asr(snn, x_adv, y) >= 0.9
    assert (attack.iterations <= 25).all() and (attack.iterations >= 1).all()
    assert attack.flips.shape == attack.rsf_count.shape == attack.vanishing.shape == (len(y),)
    assert torch.equal(attack.flips, (x_adv != x).transpose(0, 1).flatten(1).sum(1))


@pytest.mark.parametrize("grad", ESTIMATORS)
def test_every_estimator_runs(snn, clean, grad):
    x, y = clean[0][:, :30], clean[1][:30]
    attack = make_attack("spike-bim", snn, grad=grad, steps=10)
    x_adv = attack(x, y)
    assert _binary(x_adv) and x_adv.shape == x.shape
    assert _asr(snn, x_adv, y) > 0.5


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), gamma=st.sampled_from([0.0, 0.05, 0.5, 1.0]), loss=st.sampled_from(["mse", "ce"]),
       targeted=st.sampled_from([None, "random"]))
def test_adversarial_spikes_are_exactly_binary(snn, clean, seed, gamma, loss, targeted):
    x, y = clean[0][:, :20], clean[1][:20]
    x_adv = SpikeBIM(snn, seed=seed, gamma=gamma, loss=loss, targeted=targeted, steps=5)(x, y)
    assert x_adv.dtype == x.dtype and _binary(x_adv)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), sampling=st.booleans())
def test_only_masked_elements_change(snn, clean, seed, sampling):
    x, y = clean[0][:, :20], clean[1][:20]
    attack = SpikeBIM(snn, seed=seed, steps=1, sampling=sampling)
    masks = []
    original = attack.sample_mask
    attack.sample_mask = lambda prob: masks.append(original(prob)) or masks[-1]
    x_adv = attack(x, y)
    (mask,) = masks  # one iteration on the whole batch, batch-first
    changed = (x_adv != x).transpose(0, 1)
    assert changed.any()
    assert not changed[~mask].any()


def _patch_grads(attack: SpikeBIM, zero_label_parity: int = 0) -> None:
    """Zero input gradient for inputs whose label has the given parity, a fixed non-zero one otherwise."""
    calls = []

    def value_and_grad(x, y, target):
        calls.append(len(y))
        grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(len(calls)))
        keep = (y % 2 != zero_label_parity).to(grad.dtype).view(1, -1, 1, 1, 1)
        return torch.zeros(len(y)), grad * keep

    attack.value_and_grad = value_and_grad


def test_zero_gradient_triggers_rsf_and_nothing_else(snn, clean):
    x, y = clean
    attack = SpikeBIM(snn, gamma=0.05, steps=8, seed=3)
    _patch_grads(attack)
    x_adv = attack(x, y)
    even = y % 2 == 0
    assert even.any() and (~even).any()
    assert torch.equal(attack.vanishing, even)
    assert torch.equal(attack.rsf_count[even], attack.iterations[even])
    assert (attack.rsf_count[even] >= 1).all()
    assert (attack.rsf_count[~even] == 0).all()
    assert _binary(x_adv)


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0])
def test_rsf_flips_with_probability_gamma(snn, clean, gamma):
    x, y = clean
    attack = SpikeBIM(snn, gamma=gamma, steps=1, seed=1)
    _patch_grads(attack)
    x_adv = attack(x, y)
    even = y % 2 == 0
    rate = float((x_adv != x)[:, even].float().mean())
    if gamma in (0.0, 1.0):
        assert rate == gamma  # gamma = 0: nothing changes; gamma = 1: every element flips
        if gamma == 1.0:
            assert torch.equal(x_adv[:, even], 1 - x[:, even])
    else:
        n = int(even.sum()) * ELEMENTS
        assert abs(rate - gamma) < 5 * math.sqrt(gamma * (1 - gamma) / n)


def test_rsf_rescues_vanishing_gradients(snn, clean):
    # a narrow surrogate window makes all-zero input gradients common (Table III, eq. 9)
    x, y = clean
    narrow = {"surrogate": "rectangular", "width": 0.02}
    without = SpikeBIM(snn, grad="stbp", grad_params=narrow, gamma=0.0)
    x_without = without(x, y)
    with_rsf = SpikeBIM(snn, grad="stbp", grad_params=narrow, gamma=0.05)
    x_with = with_rsf(x, y)
    assert int(with_rsf.vanishing.sum()) >= 5
    assert torch.equal(without.vanishing, with_rsf.vanishing)
    assert (with_rsf.rsf_count[with_rsf.vanishing] >= 1).all()
    assert _asr(snn, x_with, y) >= 0.9
    assert _asr(snn, x_with, y) > _asr(snn, x_without, y)


def test_sampling_reduces_the_perturbation(snn, clean):
    x, y = clean
    with_s = SpikeBIM(snn, sampling=True)
    without_s = SpikeBIM(snn, sampling=False)
    x_s, x_wos = with_s(x, y), without_s(x, y)
    assert _asr(snn, x_s, y) >= 0.9 and _asr(snn, x_wos, y) >= 0.9
    assert with_s.flips.float().mean() < 0.6 * without_s.flips.float().mean()


def test_targeted_success_is_prediction_equals_target(snn, clean):
    x, y = clean
    target = (y + 1) % 4
    attack = SpikeBIM(snn, targeted="given", steps=25)
    x_adv = attack(x, y, target)
    with torch.no_grad():
        pred = snn(x_adv).argmax(-1)
    assert float((pred == target).float().mean()) >= 0.9
    stopped = attack.iterations < 25
    assert torch.equal(pred[stopped], target[stopped])  # stops only when the target is reached
    assert torch.equal(attack.last_target, target)


def test_targeted_does_not_stop_on_a_wrong_class(snn, clean):
    # a fake model view: pretend every prediction is a third class; the attack must not stop
    x, y = clean[0][:, :10], clean[1][:10]
    attack = SpikeBIM(snn, targeted="given", steps=3)
    attack.predict = lambda x_: (y + 2) % 4
    attack(x, y, (y + 1) % 4)
    assert (attack.iterations == 3).all()
    untargeted = SpikeBIM(snn, steps=3)
    untargeted.predict = lambda x_: (y + 2) % 4  # != label: already a success, nothing to do
    x_adv = untargeted(x, y)
    assert (untargeted.iterations == 0).all() and torch.equal(x_adv, x)


def test_same_seed_same_output(snn, clean):
    x, y = clean
    a = SpikeBIM(snn, seed=5)(x, y)
    b = SpikeBIM(snn, seed=5)(x, y)
    attack = SpikeBIM(snn, seed=5)
    c, d = attack(x, y), attack(x, y)
    other = SpikeBIM(snn, seed=6)(x, y)
    assert torch.equal(a, b) and torch.equal(a, c) and torch.equal(c, d)
    assert not torch.equal(a, other)


def test_eps_bound_stops_and_counts_as_failure(snn, clean):
    x, y = clean
    eps = 0.02  # ||delta||_2 / N with N = T*C*H*W = 360: at most 51 flips
    attack = SpikeBIM(snn, eps=eps, seed=0)
    x_adv = attack(x, y)
    per_point = (x_adv - x).transpose(0, 1).flatten(1).norm(dim=1) / ELEMENTS
    assert (per_point < eps).all()
    stopped = attack.eps_stopped
    assert stopped.any() and (~stopped).any()
    with torch.no_grad():
        pred = snn(x_adv).argmax(-1)
    assert (pred[stopped] == y[stopped]).all()  # returned at its last (non-adversarial) iterate
    assert (pred[~stopped] != y[~stopped]).all()


def test_penultimate_threshold_and_eot_run(snn, clean):
    x, y = clean[0][:, :20], clean[1][:20]
    x_adv = SpikeBIM(snn, penultimate_threshold=2.0, eot=2, steps=5)(x, y)
    assert _binary(x_adv)
    assert snn.spiking_neurons()[-1].threshold == CONFIG.threshold


def test_evaluate_and_spike_summary(snn, clean):
    x, y = clean
    attack = SpikeBIM(snn)
    summary = evaluate(snn, (x, y), attack, batch_size=64).summary
    assert summary.asr >= 0.9
    x_adv = attack(x, y)
    s = spike_summary(x, x_adv, attack)
    flips = (x_adv != x).transpose(0, 1).flatten(1).sum(1).double()
    assert s["n"] == len(y)
    assert s["flips"] == pytest.approx(float(flips.mean()))
    assert s["flip_rate"] == pytest.approx(float(flips.mean()) / ELEMENTS)
    assert s["l2_per_point"] == pytest.approx(float((flips.sqrt() / ELEMENTS).mean()))
    assert s["rsf"] == pytest.approx(float(attack.rsf_count.double().mean()))
    assert s["vanishing"] == int(attack.vanishing.sum())
    with pytest.raises(ValueError, match="x_adv"):
        spike_summary(x, x_adv[:, :5], attack)


# ---------------------------------------------------------------------------- bad input
def test_rejects_bad_input(snn, clean):
    x, y = clean[0][:, :8], clean[1][:8]
    attack = SpikeBIM(snn)
    with pytest.raises(ValueError, match=r"x: spike attacks need binary \{0,1\} input"):
        attack(x * 0.5, y)
    with pytest.raises(ValueError, match="^x"):
        attack(x.transpose(0, 1).contiguous(), y)  # [B, T, ...] instead of [T, B, ...]
    with pytest.raises(ValueError, match="^x"):
        attack(x[0], y)  # a single frame
    with pytest.raises(ValueError, match="^y"):
        attack(x, y[:3])
    for gamma in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="gamma"):
            SpikeBIM(snn, gamma=gamma)
    with pytest.raises(ValueError, match="steps"):
        SpikeBIM(snn, steps=0)
    with pytest.raises(ValueError, match="eps"):
        SpikeBIM(snn, eps=0.0)
    with pytest.raises(ValueError, match="loss"):
        SpikeBIM(snn, loss="hinge")
    with pytest.raises(ValueError, match="model"):
        SpikeBIM(build_model(CONFIG.replace(encoding="direct", in_channels=1)))


# ---------------------------------------------------------------------------- image branch
def test_image_branch_on_poisson_model(poisson_snn):
    model, x, y = poisson_snn
    model.encoder.reseed(0)
    with torch.no_grad():
        ok = model(x).argmax(-1) == y
    x, y = x[ok], y[ok]
    attack = SpikeBIM(model, seed=0)
    x_adv = attack(x, y)
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    assert not _binary(x_adv)  # images stay images
    assert _asr(model, x_adv, y) >= 0.5
    # one iteration moves each pixel by a multiple of 1/T (eta = 1) before the [0, 1] clip
    one = SpikeBIM(model, steps=1, seed=0)
    x_one = one(x, y)
    inside = (x_one > 0) & (x_one < 1)
    steps = (x_one - x)[inside] * model.timesteps
    assert torch.allclose(steps, steps.round(), atol=1e-4)
    assert (steps.abs() <= model.timesteps).all() and (x_one != x).any()
    with pytest.raises(ValueError, match="^x"):
        attack(x * 2, y)


def test_image_branch_same_seed_same_output(poisson_snn):
    model, x, y = poisson_snn
    outs = []
    for _ in range(2):
        model.encoder.reseed(0)
        outs.append(SpikeBIM(model, seed=2, steps=5, grad="rga")(x, y))
    assert torch.equal(*outs)

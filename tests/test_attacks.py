"""Image-domain attacks (FGSM, R-FGSM, BIM, PGD, APGD, CW-L2, Liang's CW) on tiny trained nets.

Shared fixtures live here (not in conftest.py): a 64-32-10 spiking MLP (T = 4) and a ReLU
MLP of the same shape, both quickly trained on scikit-learn's 8x8 digits, so that input
gradients are informative.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeattack.attacks import APGD, ATTACKS, CWL2, FGSM, PGD, RFGSM, LiangCW, make_attack
from spikeattack.attacks.apgd import apgd_checkpoints, dlr_loss
from spikeattack.models import ModelConfig, build_model

ESTIMATORS = ("stbp", "bptr", "rga", "hart", "cba")
CONFIG = ModelConfig(arch="mlp", in_channels=1, input_size=(8, 8), num_classes=10,
                     arch_options={"hidden": (32,)}, timesteps=4)


# ---------------------------------------------------------------------------- fixtures
def _digits():
    try:
        from spikeattack.data import load_dataset
    except ImportError:  # pragma: no cover - the data layer is optional here
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = torch.tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)
        y = torch.tensor(bunch.target, dtype=torch.long)
        return x[:1300], y[:1300], x[1300:], y[1300:]
    data = load_dataset("digits")
    (x, y), (xt, yt) = data.split("train"), data.split("test")
    return x, y, xt, yt


def _train(config: ModelConfig, x: torch.Tensor, y: torch.Tensor, steps: int = 300, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(config)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (128,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def digits():
    return _digits()


@pytest.fixture(scope="module")
def snn(digits):
    x, y, _, _ = digits
    return _train(CONFIG, x, y)


@pytest.fixture(scope="module")
def ann(digits):
    x, y, _, _ = digits
    return _train(CONFIG.replace(neuron="relu"), x, y, steps=200)


def _correct(model, digits, n):
    """The first ``n`` test inputs ``model`` classifies correctly."""
    _, _, xt, yt = digits
    with torch.no_grad():
        ok = model(xt).argmax(-1) == yt
    return xt[ok][:n], yt[ok][:n]


@pytest.fixture(scope="module")
def batch(snn, digits):
    """A small batch of correctly classified test inputs for the property tests."""
    return _correct(snn, digits, 12)


@pytest.fixture(scope="module")
def eval_set(snn, digits):
    return _correct(snn, digits, 150)


def asr(model, x_adv, y, target=None):
    with torch.no_grad():
        pred = model(x_adv).argmax(-1)
    return ((pred != y) if target is None else (pred == target)).float().mean().item()


def test_models_learned(snn, ann, digits):
    _, _, xt, yt = digits
    with torch.no_grad():
        assert (snn(xt).argmax(-1) == yt).float().mean() > 0.85
        assert (ann(xt).argmax(-1) == yt).float().mean() > 0.85


# ---------------------------------------------------------------------------- properties
# (attack name, extra parameters, norms it supports)
ATTACK_SPECS = [
    ("fgsm", {}, ("linf",)),
    ("rfgsm", {}, ("linf",)),
    ("bim", {"steps": 3}, ("linf", "l2")),
    ("pgd", {"steps": 3}, ("linf", "l2")),
    ("apgd", {"steps": 4, "loss": "ce"}, ("linf", "l2")),
    ("apgd", {"steps": 4, "loss": "dlr"}, ("linf", "l2")),
]
CASES = [(name, params, norm) for name, params, norms in ATTACK_SPECS for norm in norms]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), grad=st.sampled_from(ESTIMATORS),
       eps=st.one_of(st.just(0.0), st.floats(1e-3, 0.6), st.floats(0.5, 3.0)),
       targeted=st.sampled_from([None, "given", "random", "least-likely"]),
       seed=st.integers(0, 2**16))
def test_attack_properties(snn, batch, case, grad, eps, targeted, seed):
    name, params, norm = case
    x, y = batch
    if norm == "linf":
        eps = min(eps, 1.0)
    params = dict(params)
    if name not in ("fgsm", "rfgsm"):
        params["norm"] = norm
    attack = make_attack(name, snn, eps=eps, grad=grad, targeted=targeted, seed=seed, **params)
    target = (y + 1 + torch.arange(len(y)) % 9) % 10 if targeted == "given" else None

    x_adv = attack(x, y, target)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    delta = x_adv - x
    if norm == "linf":
        assert delta.abs().max() <= eps + 1e-6
    else:
        assert (delta.flatten(1).norm(dim=1) <= eps + 1e-5).all()

    used = attack.last_target
    if targeted is None:
        assert used is None
    else:
        assert used.shape == y.shape and (used != y).all() and ((used >= 0) & (used < 10)).all()
        if targeted == "given":
            assert torch.equal(used, target)
        success = attack.is_success(x_adv, y, used)
        with torch.no_grad():
            pred = snn(x_adv).argmax(-1)
        assert torch.equal(pred[success], used[success])
        assert (pred[success] != y[success]).all()

    again = attack(x, y, target)
    assert torch.equal(x_adv, again)
    assert torch.equal(used, attack.last_target) if used is not None else attack.last_target is None


@settings(max_examples=30, deadline=None)
@given(grad=st.sampled_from(ESTIMATORS), seed=st.integers(0, 2**16),
       targeted=st.sampled_from([None, "random"]))
def test_cw_properties(snn, batch, grad, seed, targeted):
    """Unbounded attacks: outputs in the box, deterministic per seed, targets honoured."""
    x, y = batch
    for attack in (CWL2(snn, grad=grad, steps=5, lr=0.05, seed=seed, targeted=targeted),
                   LiangCW(snn, grad=grad, steps=5, alpha=0.05, seed=seed, targeted=targeted)):
        x_adv = attack(x, y)
        assert x_adv.min() >= 0 and x_adv.max() <= 1 and torch.isfinite(x_adv).all()
        assert torch.equal(x_adv, attack(x, y))
        if targeted:
            success = attack.is_success(x_adv, y, attack.last_target)
            with torch.no_grad():
                pred = snn(x_adv).argmax(-1)
            assert torch.equal(pred[success], attack.last_target[success])
        assert attack.describe()["norm"] == "l2" and "eps" not in attack.describe()


def test_registry_names():
    assert {"fgsm", "rfgsm", "bim", "pgd", "apgd", "cw", "cw-liang"} <= set(ATTACKS)
    assert ATTACKS["rfgsm"] is RFGSM and ATTACKS["apgd"] is APGD
    assert ATTACKS["cw"] is CWL2 and ATTACKS["cw-liang"] is LiangCW


def test_describe_is_complete(snn):
    assert RFGSM(snn, eps=0.2).describe()["alpha"] == pytest.approx(0.1)
    d = APGD(snn, eps=0.1, norm="l2", loss="dlr").describe()
    assert (d["attack"], d["norm"], d["loss"], d["steps"], d["rho"], d["momentum"]) == ("apgd", "l2", "dlr", 100,
                                                                                      0.75, 0.75)
    d = LiangCW(snn).describe()
    assert (d["c"], d["alpha"], d["steps"], d["norm"]) == (0.1, 0.03, 25, "l2")


# ---------------------------------------------------------------------------- R-FGSM and APGD details
def test_rfgsm_alpha_zero_is_fgsm_and_full_alpha_is_noise(snn, batch):
    x, y = batch
    assert torch.equal(RFGSM(snn, eps=0.1, alpha=0.0)(x, y), FGSM(snn, eps=0.1)(x, y))
    noise_only = RFGSM(snn, eps=0.1, alpha=0.1, seed=3)(x, y)
    gen = torch.Generator().manual_seed(3)
    expected = (x + 0.1 * torch.randn(x.shape, generator=gen).sign()).clamp(0, 1)
    assert torch.allclose(noise_only, expected, atol=1e-6)


def test_apgd_checkpoints_follow_the_paper():
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(1) == [1]
    for n in (2, 5, 10, 37):
        w = apgd_checkpoints(n)
        assert w == sorted(set(w)) and 1 <= w[0] and w[-1] <= n


def test_dlr_loss_values():
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 2.0, 1.0, -1.0]], requires_grad=True)
    y = torch.tensor([0, 0])
    loss = dlr_loss(logits, y)
    assert torch.allclose(loss, torch.tensor([-(3 - 1) / (3 - 0), -(0 - 2) / (2 - 0)]))
    target = torch.tensor([1, 2])
    loss_t = dlr_loss(logits, y, target)
    assert torch.allclose(loss_t, torch.tensor([-(3 - 1) / (3 - (0 - 1) / 2), -(0 - 1) / (2 - (0 - 1) / 2)]))
    (loss.sum() + loss_t.sum()).backward()
    assert torch.isfinite(logits.grad).all()
    # invariant to shifts and positive rescalings of the logits
    assert torch.allclose(dlr_loss(logits * 7 + 3, y), loss)


def test_apgd_beats_or_matches_its_start_and_is_strong(snn, eval_set):
    x, y = eval_set
    apgd_asr = asr(snn, APGD(snn, eps=0.1, steps=20)(x, y), y)
    fgsm_asr = asr(snn, FGSM(snn, eps=0.1)(x, y), y)
    assert apgd_asr >= fgsm_asr
    dlr_asr = asr(snn, APGD(snn, eps=0.1, steps=20, loss="dlr")(x, y), y)
    assert dlr_asr >= fgsm_asr


def test_apgd_step_size_halves_without_progress(snn, batch, monkeypatch):
    """A constant loss never increases: every checkpoint halves the step and restarts."""
    x, y = batch
    attack = APGD(snn, eps=0.2, steps=10, random_start=False)
    seen = []

    def flat(x_var, y_, target):
        seen.append(x_var.detach().clone())
        return torch.zeros(len(y_)), torch.ones_like(x_var)

    monkeypatch.setattr(attack, "value_and_grad", flat)
    attack(x, y)
    assert apgd_checkpoints(10)[0] == 3
    # step 1: 2 eps along +1 without momentum, projected to the ball's edge e; it stays there
    edge = (x + 0.2).clamp(0, 1)
    assert torch.allclose(seen[1], edge) and torch.allclose(seen[3], edge)
    # checkpoint 3: no increase -> restart from the best point (the start, loss 0 never beaten) with
    # step eps; the momentum term uses the iterate before the restart (Algorithm 1):
    # x4 = P(x + 0.75 (P(x + eps) - x) + 0.25 (x - edge)) = x + 0.5 (edge - x)
    assert torch.allclose(seen[4], x + 0.5 * (edge - x), atol=1e-6)


# ---------------------------------------------------------------------------- peer agreement
def test_peer_agreement_fgsm_pgd(snn, digits):
    torchattacks = pytest.importorskip("torchattacks")
    twin = snn.ann_twin().eval()
    x, y = _correct(twin, digits, 64)
    assert len(y) >= 16
    for eps in (0.05, 0.2):
        ours = FGSM(twin, eps=eps)(x, y)
        peer = torchattacks.FGSM(twin, eps=eps)(x, y)
        assert torch.allclose(ours, peer, atol=1e-6, rtol=0)
        ours = PGD(twin, eps=eps, alpha=eps / 4, steps=7, random_start=False)(x, y)
        peer = torchattacks.PGD(twin, eps=eps, alpha=eps / 4, steps=7, random_start=False)(x, y)
        assert torch.allclose(ours, peer, atol=1e-6, rtol=0)
        assert (ours != x).any()


# ---------------------------------------------------------------------------- sanity
def test_fgsm_stronger_with_larger_eps_and_pgd_near_total(snn, eval_set):
    x, y = eval_set
    rates = [asr(snn, FGSM(snn, eps=eps)(x, y), y) for eps in (0.02, 0.1, 0.3)]
    assert rates[-1] > rates[0]
    assert asr(snn, PGD(snn, eps=0.5, steps=20, grad="stbp")(x, y), y) >= 0.9


def test_random_sign_noise_is_far_weaker_than_fgsm(snn, eval_set):
    x, y = eval_set
    eps = 0.15
    gen = torch.Generator().manual_seed(0)
    noisy = (x + eps * torch.randn(x.shape, generator=gen).sign()).clamp(0, 1)
    noise_asr = asr(snn, noisy, y)
    fgsm_asr = asr(snn, FGSM(snn, eps=eps)(x, y), y)
    assert fgsm_asr >= 3 * noise_asr or fgsm_asr >= noise_asr + 0.30
    assert fgsm_asr > 0.3


def test_cw_l2_smaller_than_fgsm_on_ann_twin(snn, digits):
    twin = snn.ann_twin().eval()
    x, y = _correct(twin, digits, 60)
    cw = CWL2(twin, c=1.0, steps=100, lr=0.05, search_steps=2)(x, y)
    cw_ok = twin(cw).argmax(-1) != y
    assert cw_ok.float().mean() >= 0.8
    fgsm = FGSM(twin, eps=0.2)(x, y)
    fgsm_ok = twin(fgsm).argmax(-1) != y
    both = cw_ok & fgsm_ok
    assert both.sum() >= 10
    l2_cw = (cw - x).flatten(1).norm(dim=1)[both]
    l2_fgsm = (fgsm - x).flatten(1).norm(dim=1)[both]
    assert l2_cw.mean() < l2_fgsm.mean()
    assert (l2_cw < l2_fgsm).float().mean() >= 0.9


def test_cw_targeted_reaches_target_on_ann(ann, digits):
    x, y = _correct(ann, digits, 30)
    target = (y + 3) % 10
    attack = CWL2(ann, targeted="given", c=5.0, steps=100, lr=0.05)
    x_adv = attack(x, y, target)
    ok = ann(x_adv).argmax(-1) == target
    assert ok.float().mean() >= 0.8


def test_liang_cw_in_box_and_succeeds_on_some(snn, eval_set):
    x, y = eval_set
    x = x[:60]
    y = y[:60]
    x_adv = LiangCW(snn)(x, y)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert asr(snn, x_adv, y) > 0
    # c = 0 is BIM without an eps ball (Liang et al.: "degrade to the classic BIM attack")
    bim_like = LiangCW(snn, c=0.0, alpha=0.01, steps=10, early_stop=False)(x, y)
    from spikeattack.attacks import BIM
    bim = BIM(snn, eps=1.0, alpha=0.01, steps=10)(x, y)
    assert torch.allclose(bim_like, bim, atol=1e-6)
    # larger c keeps the perturbation smaller
    small = LiangCW(snn, c=0.4, alpha=0.03, early_stop=False)(x, y)
    large = LiangCW(snn, c=0.05, alpha=0.03, early_stop=False)(x, y)
    assert (small - x).flatten(1).norm(dim=1).mean() < (large - x).flatten(1).norm(dim=1).mean()
    # |d_{k+1}| <= (1 - 2c)|d_k| + alpha: the per-pixel perturbation stays below alpha / (2c)
    assert (small - x).abs().max() <= 0.03 / (2 * 0.4) + 1e-6


def test_liang_cw_follows_eq_14(snn, batch):
    """One step by hand: x1 = x0 + alpha sign(g) - c * 2 (x0 - x0); two steps add the pull back."""
    x, y = batch
    attack = LiangCW(snn, c=0.2, alpha=0.03, steps=2, early_stop=False)
    x_adv = attack(x, y)
    _, g0 = attack.value_and_grad(x, y, None)
    x1 = (x + 0.03 * g0.sign()).clamp(0, 1)
    _, g1 = attack.value_and_grad(x1, y, None)
    x2 = (x1 + 0.03 * g1.sign() - 0.2 * 2 * (x1 - x)).clamp(0, 1)
    assert torch.allclose(x_adv, x2, atol=1e-6)


# ---------------------------------------------------------------------------- bad input
# image-domain gradient attacks; the noise baseline and spike-bim have tests of their own
IMAGE_GRADIENT = sorted(n for n, cls in ATTACKS.items() if cls.image_domain and cls.uses_gradient)
ALL_BOUNDED = ("fgsm", "rfgsm", "bim", "pgd", "apgd")


@pytest.mark.parametrize("name", sorted(set(ATTACKS)))
def test_unknown_estimator(snn, name):
    with pytest.raises(ValueError, match="grad"):
        make_attack(name, snn, grad="bptt")


@pytest.mark.parametrize("name", ALL_BOUNDED)
@pytest.mark.parametrize("eps", [-0.1, math.nan, math.inf, -math.inf])
def test_bad_eps(snn, name, eps):
    with pytest.raises(ValueError, match="eps"):
        make_attack(name, snn, eps=eps)


@pytest.mark.parametrize("name", ("bim", "pgd", "apgd", "cw", "cw-liang"))
@pytest.mark.parametrize("steps", [0, -3, 2.5])
def test_bad_steps(snn, name, steps):
    with pytest.raises(ValueError, match="steps"):
        make_attack(name, snn, steps=steps)


@pytest.mark.parametrize("name", ("bim", "pgd", "cw-liang"))
@pytest.mark.parametrize("alpha", [0.0, -0.1, math.nan])
def test_bad_alpha(snn, name, alpha):
    with pytest.raises(ValueError, match="alpha"):
        make_attack(name, snn, alpha=alpha)


@pytest.mark.parametrize("alpha", [-0.01, 0.3, math.nan])
def test_rfgsm_alpha_outside_zero_eps(snn, alpha):
    with pytest.raises(ValueError, match="alpha"):
        RFGSM(snn, eps=0.2, alpha=alpha)


def test_other_bad_hyper_parameters(snn):
    with pytest.raises(ValueError, match="loss"):
        APGD(snn, loss="hinge")
    with pytest.raises(ValueError, match="norm"):
        APGD(snn, norm="l1")
    with pytest.raises(ValueError, match="rho"):
        APGD(snn, rho=1.5)
    with pytest.raises(ValueError, match="momentum"):
        APGD(snn, momentum=0.0)
    with pytest.raises(ValueError, match="c"):
        LiangCW(snn, c=1.0)
    with pytest.raises(ValueError, match="c"):
        CWL2(snn, c=0.0)
    with pytest.raises(ValueError, match="kappa"):
        CWL2(snn, kappa=-1.0)
    with pytest.raises(ValueError, match="search_steps"):
        CWL2(snn, search_steps=-1)


def test_dlr_needs_enough_classes():
    two = build_model(CONFIG.replace(num_classes=2))
    three = build_model(CONFIG.replace(num_classes=3))
    with pytest.raises(ValueError, match="loss"):
        APGD(two, loss="dlr")
    APGD(three, loss="dlr")
    with pytest.raises(ValueError, match="loss"):
        APGD(three, loss="dlr", targeted="random")
    APGD(two, loss="ce")


@pytest.mark.parametrize("name", IMAGE_GRADIENT + ["noise"])
def test_bad_targets_and_inputs(snn, batch, name):
    x, y = batch
    with pytest.raises(ValueError, match="targeted"):
        make_attack(name, snn, targeted="most-likely")
    attack = make_attack(name, snn, targeted="given")
    with pytest.raises(ValueError, match="target"):
        attack(x, y)
    with pytest.raises(ValueError, match="target"):
        attack(x, y, y.clone())
    with pytest.raises(ValueError, match="target"):
        attack(x, y, torch.full_like(y, 10))
    with pytest.raises(ValueError, match="target"):
        make_attack(name, snn)(x, y, (y + 1) % 10)  # a target for an untargeted attack
    plain = make_attack(name, snn)
    with pytest.raises(ValueError, match="x"):
        plain(x + 1.5, y)
    with pytest.raises(ValueError, match="x"):
        plain(x - 0.5, y)
    with pytest.raises(ValueError, match="y"):
        plain(x, y[:-1])
    with pytest.raises(ValueError, match="y"):
        plain(x, y.view(-1, 1))
    with pytest.raises(ValueError, match="y"):
        plain(x, y.float())


# ---------------------------------------------------------------------------- crafting overrides
def _recording_estimator(attack, seen, observe, fail=False):
    inner = attack.estimator

    class Recorder:
        def __call__(self, model, x):
            seen.append(observe(model))
            if fail:
                raise RuntimeError("boom inside crafting")
            return inner(model, x)

        def describe(self):
            return inner.describe()

        def reset(self):
            inner.reset()

        name = inner.name
        stateful = inner.stateful

    return Recorder()


def _make(name, model, **params):
    if name not in ("fgsm", "rfgsm"):
        params.setdefault("steps", 2)
    return make_attack(name, model, **params)


@pytest.mark.parametrize("name", IMAGE_GRADIENT)
def test_penultimate_threshold_is_overridden_and_restored(snn, batch, name):
    x, y = batch
    neuron = snn.spiking_neurons()[-1]
    before = neuron.threshold
    attack = _make(name, snn, penultimate_threshold=2.5)
    seen = []
    attack.estimator = _recording_estimator(attack, seen, lambda m: m.spiking_neurons()[-1].threshold)
    attack(x, y)
    assert seen and all(t == 2.5 for t in seen)
    assert neuron.threshold == before

    # an error inside the crafting forward still restores the threshold
    seen.clear()
    attack.estimator = _recording_estimator(attack, seen, lambda m: m.spiking_neurons()[-1].threshold, fail=True)
    with pytest.raises(RuntimeError, match="boom"):
        attack(x, y)
    assert seen == [2.5] and neuron.threshold == before


def test_penultimate_threshold_restored_when_perturb_raises(snn, batch, monkeypatch):
    x, y = batch
    neuron = snn.spiking_neurons()[-1]
    before = neuron.threshold
    attack = PGD(snn, penultimate_threshold=3.0, steps=2)
    snn.train()
    inside = []

    def raising(x_, y_, target):
        with attack.crafting_overrides():
            inside.append((neuron.threshold, snn.training))
            raise RuntimeError("perturb failed")

    monkeypatch.setattr(attack, "perturb", raising)
    try:
        with pytest.raises(RuntimeError, match="perturb failed"):
            attack(x, y)
        assert inside == [(3.0, False)]
        assert neuron.threshold == before
        assert snn.training  # the model's mode is restored too
    finally:
        snn.eval()


@pytest.mark.parametrize("name", IMAGE_GRADIENT)
def test_time_extend_crafts_with_kT_steps(snn, batch, name):
    x, y = batch
    T = snn.timesteps
    attack = _make(name, snn, time_extend=3)
    seen = []
    attack.estimator = _recording_estimator(attack, seen, lambda m: m.timesteps)
    attack(x, y)
    assert seen and all(t == 3 * T for t in seen)
    assert snn.timesteps == T
    seen.clear()
    attack.estimator = _recording_estimator(attack, seen, lambda m: m.timesteps, fail=True)
    with pytest.raises(RuntimeError):
        attack(x, y)
    assert seen == [3 * T] and snn.timesteps == T


# ---------------------------------------------------------------------------- gradients
def test_cba_gradient_is_the_ann_twins(snn, batch):
    x, y = batch
    attack = FGSM(snn, grad="cba")
    with attack.attack_mode():
        loss, grad = attack.value_and_grad(x, y, None)
    twin = snn.ann_twin().eval()
    x_var = x.clone().requires_grad_(True)
    ref_loss = F.cross_entropy(twin(x_var), y, reduction="none")
    (ref,) = torch.autograd.grad(ref_loss.sum(), x_var)
    assert torch.equal(loss, ref_loss.detach())
    assert torch.equal(grad, ref)
    assert ref.abs().sum() > 0


def test_stbp_eval_mode_keeps_input_gradients(snn, batch):
    x, y = batch
    attack = FGSM(snn, grad="stbp")
    snn.train()
    try:
        attack(x, y)
        assert not attack.vanishing.any()
    finally:
        snn.eval()
    _, grad = attack.value_and_grad(x, y, None)
    assert (grad.flatten(1).abs().amax(1) > 0).all()


def test_stbp_eval_mode_batchnorm_model_keeps_gradients(digits):
    x, y, _, _ = digits
    cfg = ModelConfig(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10, timesteps=4,
                      arch_options={"channels": (4, 8), "hidden": 16})
    model = _train(cfg, x, y, steps=60)
    model.train()  # the attack must switch to eval itself (frozen statistics) and still get gradients
    attack = FGSM(model, grad="stbp", eps=0.1)
    xb, yb = x[:16], y[:16]
    attack(xb, yb)
    assert model.training
    assert (~attack.vanishing).float().mean() >= 0.9

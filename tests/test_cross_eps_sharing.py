"""The first gradient of an attack that does not read eps (FGSM, BIM, PGD/APGD/SA-PGD without
random start) is computed once per batch across the eps of a grid, also for a single
estimator; the results are identical to running the cells one by one. Attacks whose first
gradient depends on eps (R-FGSM, a random start) are never shared across eps."""

import contextlib
import shutil

import pytest
import torch
import torch.nn.functional as F

import spikeattack.bench.runner as runner_module
from spikeattack.attacks import FGSM, make_attack
from spikeattack.bench.experiment import parse_experiment
from spikeattack.bench.runner import Runner, run_experiment
from spikeattack.bench.sharing import group_key, shared_groups
from spikeattack.results.store import ResultsStore
from spikeattack.gradients import STBP, input_gradients, make_estimator, shared_forward

from helpers import firing_small_model, sharing_grid

NAMES = ("stbp", "bptr", "rga", "hart", "cba")
EPS = (0.05, 0.1, 0.2)
EPS_FREE = [("fgsm", {}), ("bim", {"steps": 2}), ("pgd", {"steps": 2, "random_start": False}),
            ("apgd", {"steps": 3, "random_start": False}), ("sapgd", {"steps": 3, "random_start": False})]
EPS_BOUND = [("rfgsm", {}), ("pgd", {"steps": 2}), ("apgd", {"steps": 3}), ("sapgd", {"steps": 3})]


@pytest.fixture
def float64():
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(saved)


def inputs():
    x = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    return x, torch.tensor([0, 1, 2, 3, 0, 1])


def run_grid(model, attack, params, estimators, x, y):
    """Every (eps, estimator) attack as a bench cell runs it: encoder reseeded, then the
    adversarial examples and the noise state the call leaves."""
    out = {}
    for eps in EPS:
        for name in estimators:
            if model.encoder.stochastic:
                model.encoder.reseed(5)
            adv = make_attack(attack, model, eps=eps, grad=name, seed=1, **params)(x, y)
            out[eps, name] = (adv, model.encoder.noise_state("cpu") if model.encoder.stochastic else None)
    return out


def assert_same(alone, shared):
    assert alone.keys() == shared.keys()
    for key, (adv, noise) in alone.items():
        assert torch.equal(adv, shared[key][0]), key
        assert noise is None or torch.equal(noise, shared[key][1]), key


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("encoding", ["direct", "poisson"])
@pytest.mark.parametrize("estimators", [("stbp",), NAMES], ids=["stbp", "five"])
@pytest.mark.parametrize("attack,params", EPS_FREE, ids=[a for a, _ in EPS_FREE])
def test_one_first_gradient_across_eps(encoding, estimators, attack, params):
    model = firing_small_model(encoding)
    x, y = inputs()
    alone = run_grid(model, attack, params, estimators, x, y)
    assert not torch.equal(alone[EPS[0], "stbp"][0], alone[EPS[-1], "stbp"][0])  # eps matters to the result
    with shared_forward(list(estimators)) as cache:
        shared = run_grid(model, attack, params, estimators, x, y)
    assert_same(alone, shared)
    # one spiking forward for the first gradient of every (eps, estimator) call
    assert cache.computed == 1 and cache.served == len(EPS) * len(estimators) - 1


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("encoding", ["direct", "poisson"])
@pytest.mark.parametrize("attack,params", EPS_BOUND, ids=[a for a, _ in EPS_BOUND])
def test_first_gradients_that_depend_on_eps_are_not_shared(encoding, attack, params):
    model = firing_small_model(encoding)
    x, y = inputs()
    contexts = {make_attack(attack, model, eps=eps, **params).first_gradient_context() for eps in EPS}
    assert len(contexts) == len(EPS)  # eps is part of the key
    alone = run_grid(model, attack, params, ("stbp", "rga"), x, y)
    with shared_forward(["stbp", "rga"]) as cache:
        shared = run_grid(model, attack, params, ("stbp", "rga"), x, y)
    assert_same(alone, shared)
    assert cache.computed == len(EPS) and cache.served == len(EPS)  # across estimators only


@pytest.mark.usefixtures("float64")
def test_the_loss_and_the_attack_stay_in_the_key():
    """CE vs DLR, untargeted vs targeted, FGSM vs BIM: each its own first gradient."""
    model = firing_small_model()
    x, y = inputs()
    target = (y + 1) % 4
    apgd = {"steps": 3, "random_start": False}
    calls = [("apgd", {**apgd, "loss": "ce"}, None), ("apgd", {**apgd, "loss": "dlr"}, None), ("fgsm", {}, None),
             ("fgsm", {"targeted": "given"}, target), ("bim", {"steps": 1}, None)]
    alone = [make_attack(a, model, eps=0.1, **p)(x, y, t) for a, p, t in calls]
    with shared_forward(["stbp"]) as cache:
        for (a, p, t), expected in zip(calls, alone):
            assert torch.equal(make_attack(a, model, eps=0.1, **p)(x, y, t), expected), (a, p)
            make_attack(a, model, eps=0.2, **p)(x, y, t)
    assert cache.computed == len(calls) and cache.served == len(calls)


@pytest.mark.usefixtures("float64")
def test_a_subclass_that_changes_the_first_gradient_keeps_eps_in_the_key():
    class EpsWeightedFGSM(FGSM):
        def loss(self, logits, y, target):
            return self.eps * super().loss(logits, y, target)

    model = firing_small_model()
    assert FGSM.first_gradient_ignored({}) == ("eps",)
    assert EpsWeightedFGSM.first_gradient_ignored({}) == ()  # its own loss: the declaration is not inherited
    contexts = {EpsWeightedFGSM(model, eps=eps).first_gradient_context() for eps in EPS}
    assert len(contexts) == len(EPS)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("grad", ["assg", "mdse"])
def test_adaptive_estimators_are_not_served(grad):
    """Their state must see every forward of their own attack (MDSE's weights, ASSG's statistics)."""
    model = firing_small_model()
    x, y = inputs()
    alone = make_attack("bim", model, eps=0.1, steps=3, grad=grad, seed=1)(x, y)
    with shared_forward(["stbp", grad]) as cache:
        shared = make_attack("bim", model, eps=0.1, steps=3, grad=grad, seed=1)(x, y)
    assert torch.equal(alone, shared) and cache.computed == cache.served == 0


@pytest.mark.usefixtures("float64")
def test_estimators_run_by_their_own_call_see_the_same_poisson_noise():
    """A second STBP surrogate (own call) gets the noise of the shared forward, and the noise
    stream ends where one estimator's own call leaves it."""
    model = firing_small_model("poisson")
    x, y = inputs()
    ests = {"stbp": STBP(), "tri": STBP("triangle", 0.5), "rga": make_estimator("rga")}
    model.encoder.reseed(7)
    got = input_gradients(model, x, y, ests)
    after = model.encoder.noise_state("cpu")
    for key, est in ests.items():
        model.encoder.reseed(7)
        xv = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(est(model, xv), y, reduction="sum"), xv)
        assert torch.equal(got[key].grad, g), key
        assert torch.equal(model.encoder.noise_state("cpu"), after), key


# ---------------------------------------------------------------------- a bench grid
def grid(encoding, estimators):
    return sharing_grid(encoding, ["fgsm", "bim", "rfgsm"], estimators, EPS, batch_size=12)


def rows(path):
    with ResultsStore(path / "results.sqlite") as store:
        return {(r["attack"], r["grad"], r["eps"]): (r["per_input"], r["metrics"]) for r in store.rows()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained model per encoding (its cache key does not depend on the grid)."""
    root, made = tmp_path_factory.mktemp("trained"), {}

    def get(encoding):
        if encoding not in made:
            exp = parse_experiment(grid(encoding, ["stbp"]))
            runner = Runner(exp, root / encoding, progress=False, log=lambda m: None)
            runner.model("snn")
            runner.store.close()
            made[encoding] = root / encoding / "models"
        return made[encoding]

    return get


@pytest.mark.parametrize("encoding", ["direct", "poisson"])
@pytest.mark.parametrize("estimators", [("stbp",), NAMES], ids=["stbp", "five"])
def test_bench_grid_across_eps_equals_cell_by_cell(tmp_path, monkeypatch, trained, encoding, estimators):
    exp = parse_experiment(grid(encoding, estimators))
    models = trained(encoding)
    groups = shared_groups([(i, c) for i, c in enumerate(exp.cells)])
    by_attack = {}
    for g in groups:
        by_attack.setdefault(g[0][1].attack, []).append(len(g))
    E = len(estimators)
    # FGSM and BIM: one group over every eps; R-FGSM: one group per eps (its random step reads eps)
    assert by_attack == {"fgsm": [3 * E], "bim": [3 * E], "rfgsm": [E, E, E]}
    assert len({group_key(c) for c in exp.cells if c.attack == "rfgsm"}) == len(EPS)

    real, blocks = runner_module.sharing, []

    @contextlib.contextmanager
    def recording(cells):
        with real(cells) as cache:
            if cache is not None:  # None: a single cell, no block
                blocks.append((cells[0].attack, cache))
            yield cache

    monkeypatch.setattr(runner_module, "sharing", recording)
    shutil.copytree(models, tmp_path / "shared" / "models")
    shared = run_experiment(exp, tmp_path / "shared", progress=False, log=lambda m: None)
    monkeypatch.setattr(runner_module, "sharing", lambda cells: contextlib.nullcontext())
    shutil.copytree(models, tmp_path / "alone" / "models")
    alone = run_experiment(exp, tmp_path / "alone", progress=False, log=lambda m: None)
    assert shared.computed == alone.computed == len(exp.cells)
    assert not shared.models_trained and not alone.models_trained
    assert rows(tmp_path / "shared") == rows(tmp_path / "alone")

    # per block and batch one clean prediction and one first gradient for all its cells (FGSM,
    # BIM: 3 eps x E estimators; R-FGSM: E estimators of one eps); with Poisson inputs CBA's
    # cells (no encoder noise in its gradient) reach the second batch with another noise
    # state, so they get their own prediction and gradient there
    batches = 2
    computed = 2 * batches + (2 if encoding == "poisson" and "cba" in estimators else 0)
    for attack, cache in blocks:
        cells = E if attack == "rfgsm" else 3 * E
        assert cache.computed == computed and cache.served == 2 * batches * cells - computed, attack
    assert sorted(a for a, _ in blocks) == ["bim", "fgsm"] + (["rfgsm"] * 3 if E > 1 else [])

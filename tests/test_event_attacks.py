"""Event threat models and attacks: SDA (Lun et al.) against the paper's algorithm on a tiny
net, count-frame PGD and spike retiming; invariants (binary stays binary, counts stay
non-negative integers, L0 and retiming budgets hold), seeded reproducibility, every estimator.

Fixtures: :mod:`event_helpers`' tiny trained event model, binary and count frames.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeattack.attacks import ATTACKS, SDA, CountPGD, Retime, make_attack
from spikeattack.attacks.sda import candidate_scores, cw_margin
from spikeattack.attacks.threat import (Budget, RetimeBudget, check_event_norm, flips, minimal_quantiles,
                                        project_counts, project_flips, retime_cost, spike_bim_eps)
from spikeattack.gradients import ESTIMATORS

from event_helpers import ELEMENTS, T, trained_event_model


@pytest.fixture(scope="module")
def binary():
    return trained_event_model(False)


@pytest.fixture(scope="module")
def counts():
    return trained_event_model(True)


def _batch_first(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(1, 0)


# ---------------------------------------------------------------------------- threat models
def test_budget_parsing_and_resolution():
    assert Budget.parse(64).resolve(10_000) == 64
    assert Budget.parse("64").resolve(10) == 64
    assert Budget.parse("1%").resolve(2304) == 23 and Budget.parse("1%").describe() == "1%"
    assert Budget.parse("0.5%").resolve(1000) == 5 and Budget.parse("100%").resolve(7) == 7
    for bad in (-1, 2.5, True, "0%", "101%", "abc", "1.5", None):
        with pytest.raises(ValueError, match="eps"):
            Budget.parse(bad)
    assert check_event_norm("l0") == "L0" and check_event_norm("RETIME") == "retime"
    with pytest.raises(ValueError, match="norm"):
        check_event_norm("linf")


def test_spike_bim_eps_is_an_l0_budget():
    for budget in (0, 1, 23, 51):
        eps = spike_bim_eps(budget, ELEMENTS)
        assert math.sqrt(budget) / ELEMENTS < eps <= math.sqrt(budget + 1) / ELEMENTS  # Alg. 1 stops at >= eps


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), budget=st.integers(0, 5))
def test_count_projection_is_the_nearest_point_of_the_l0_ball(seed, budget):
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, 3, (1, 5), generator=gen).double()
    x = x0 + torch.randn(1, 5, generator=gen, dtype=torch.float64) * 2
    out = project_counts(x0, x, budget)
    assert (out >= 0).all() and (out == out.round()).all() and (out != x0).sum() <= budget
    # brute force over the supports of at most `budget` changed elements
    target = x.round().clamp_min(0)
    best = min(((target - torch.where(torch.tensor([i in s for i in range(5)]).view(1, 5), target, x0)) ** 2).sum()
               for r in range(budget + 1) for s in itertools.combinations(range(5), r))
    assert ((target - out) ** 2).sum() == pytest.approx(float(best))


def test_flip_projection_keeps_the_highest_priority_flips():
    x0 = torch.zeros(2, 6)
    x = torch.tensor([[1, 1, 1, 0, 1, 0], [1, 0, 0, 0, 0, 0]]).float()
    prio = torch.tensor([[0.1, 0.9, 0.5, 0.0, 0.7, 0.0], [1.0, 0, 0, 0, 0, 0]])
    out = project_flips(x0, x, 2, prio)
    assert out.tolist() == [[0, 1, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0]]


def test_retime_cost_matches_the_order_keeping_matching():
    x0 = torch.zeros(1, 6, 2)
    x0[0, [0, 2, 3], 0] = 1          # pixel 0: events at 0, 2, 3
    x0[0, [1], 1] = 1                # pixel 1: one event at 1
    x = torch.zeros_like(x0)
    x[0, [1, 2, 5], 0] = 1           # 0 -> 1, 2 -> 2, 3 -> 5
    x[0, [0], 1] = 1                 # 1 -> 0
    cost = retime_cost(x0, x)
    assert cost.counts_kept.item() and cost.jitter.item() == 2 and cost.delay.item() == 4
    assert cost.tampered.item() == 3 and cost.events.item() == 4
    # the total delay is the 1-D transport distance: sum_t |C0(t) - C1(t)| of the cumulative counts
    emd = (x0.cumsum(1) - x.cumsum(1)).abs().sum()
    assert cost.delay.item() == emd.item()
    assert RetimeBudget.make(2, 4, 3).within(cost).item()
    assert not RetimeBudget.make(1).within(cost).item() and not RetimeBudget.make(2, 3).within(cost).item()
    assert not RetimeBudget.make(2, tamper="50%").within(cost).item()  # 3 > floor(0.5 * 4)
    with pytest.raises(ValueError, match="jitter"):
        RetimeBudget.make(0)


def test_minimal_quantiles():
    minimal = torch.tensor([3, 9, 1, 100, 7])
    fooled = torch.tensor([True, True, True, False, True])
    q = minimal_quantiles(minimal, fooled)
    assert q["fooled"] == 4 and q["q50"] == 3 and q["mean"] == pytest.approx(5.0)
    assert minimal_quantiles(minimal, torch.zeros(5, dtype=torch.bool))["q50"] is None


# ---------------------------------------------------------------------------- SDA, step by step
def test_candidates_are_the_flips_the_gradient_supports_ranked_by_magnitude():
    flat = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]])
    grad = torch.tensor([[-3.0, 2.0, 1.0, -5.0, -0.5, 0.0]])  # dM/dx
    selected = torch.tensor([[False, False, False, False, True, False]])
    score = candidate_scores(flat, grad, selected, torch.Generator().manual_seed(0))
    supported = [0, 1]                                       # (1 - 2x) g < 0 and not selected
    assert score[0, 0] == 3 and score[0, 1] == 2
    others = score[0, [2, 3, 5]]
    assert (others >= 0).all() and (others < 2).all()        # below the smallest supported |g|
    assert score[0, 4] == -math.inf                          # already in S
    assert score[0].topk(2).indices.tolist() == supported


def _paper_generation_round(model, y, flat):
    """One generation round of the paper's algorithm for one input, element by element."""
    xv = flat.clone().requires_grad_(True)
    margin = cw_margin(model(xv.view(1, T, 2, 6, 6).movedim(0, 1)), y, None)
    (g,) = torch.autograd.grad(margin.sum(), xv)
    supported = ((1 - 2 * flat) * g < 0).nonzero().squeeze(1).tolist()
    ranked = sorted(supported, key=lambda e: -abs(float(g[e])))[:10]
    kept = {}
    with torch.no_grad():
        for e in ranked:
            cand = flat.clone()
            cand[e] = 1 - cand[e]
            fd = cw_margin(model(cand.view(1, T, 2, 6, 6).movedim(0, 1)), y, None) - margin.detach()
            kept[e] = fd.item()
    return ranked, kept


def test_sda_generation_round_matches_the_paper(binary):
    model, x, y = binary
    attack = SDA(model, grad="stbp", k_init=10, rounds=1, chunk=7)
    clean = _batch_first(x).reshape(len(y), -1)
    adv, selected, fd, done = attack.generate(clean, y, None, chunk=7)
    checked = 0
    for i in range(len(y)):
        ranked, kept = _paper_generation_round(model, y[i:i + 1], clean[i])
        if len(ranked) < 10:
            continue  # the random filler would enter the round
        # kept: FD <= 0, where an FD within float noise of 0 (no spike changed) counts as 0
        assert set(selected[i].nonzero().squeeze(1).tolist()) == {e for e, v in kept.items() if v <= 1e-6}
        for e in selected[i].nonzero().squeeze(1).tolist():
            assert fd[i, e].item() == pytest.approx(kept[e], abs=1e-5)
        assert torch.equal(adv[i], torch.where(selected[i], 1 - clean[i], clean[i]))  # all of S flipped at once
        assert attack.candidates[i] == 10
        checked += 1
    assert checked >= 30 and selected.any(1).float().mean() > 0.5
    assert attack.rounds_run.max() == 1


def test_finite_differences_do_not_depend_on_the_chunk(binary):
    model, x, y = binary
    clean = _batch_first(x).reshape(len(y), -1)[:6]
    rows = torch.arange(6).repeat_interleave(5)
    cols = torch.randint(0, ELEMENTS, (30,), generator=torch.Generator().manual_seed(0))
    attack = SDA(model)
    base = attack.margins(clean, y[:6], None, 64)
    one = attack.finite_differences(clean, rows, cols, y[:6], None, base, 1)
    many = attack.finite_differences(clean, rows, cols, y[:6], None, base, 64)
    torch.testing.assert_close(one, many, rtol=0, atol=1e-6)


def test_reduction_undoes_the_longest_adversarial_prefix_of_least_useful_flips(binary):
    model, x, y = binary
    attack = SDA(model, grad="pdsg")
    clean = _batch_first(x).reshape(len(y), -1)
    adv, selected, fd, done = attack.generate(clean, y, None, 64)
    assert done.float().mean() > 0.9
    reduced = attack.reduce(clean, adv, selected, fd, y, None, 64)
    assert attack.fooled(reduced[done], y[done], None, 64).all()         # still adversarial
    for i in done.nonzero().squeeze(1).tolist():
        order = [e for e in sorted(selected[i].nonzero().squeeze(1).tolist(), key=lambda e: (abs(fd[i, e].item()), e))]
        undone = [e for e in order if reduced[i, e] == clean[i, e]]
        assert undone == order[:len(undone)]                              # a prefix, least |FD| first
        assert ((reduced[i] != clean[i]) <= selected[i]).all()           # nothing outside S
        nxt = reduced[i].clone()
        e = order[len(undone)]                                            # the search stopped before it
        nxt[e] = clean[i, e]
        assert not attack.fooled(nxt.view(1, -1), y[i:i + 1], None, 1).item()


# ---------------------------------------------------------------------------- whole attacks
def test_sda_fools_with_far_fewer_flips_than_spike_bim(binary):
    model, x, y = binary
    sda = make_attack("sda", model)
    x_sda = sda(x, y)
    bim = make_attack("spike-bim", model, loss="mse")
    x_bim = bim(x, y)
    with torch.no_grad():
        fool_sda, fool_bim = model(x_sda).argmax(-1) != y, model(x_bim).argmax(-1) != y
    assert fool_sda.float().mean() >= 0.95 and torch.equal(fool_sda.cpu(), sda.success)
    assert torch.equal(flips(_batch_first(x), _batch_first(x_sda)), sda.flips)
    short = sda.rounds_run <= 8  # k = n * k_init candidates in round n (not yet capped by the free elements)
    assert torch.equal(sda.candidates[short], 5 * sda.rounds_run[short] * (sda.rounds_run[short] + 1))
    both = fool_sda & fool_bim
    assert both.sum() >= 20
    assert sda.flips[both].double().median() <= 0.5 * bim.flips[both].double().median()


@pytest.mark.parametrize("eps", [3, "1%"])
def test_sda_budget(binary, eps):
    model, x, y = binary
    attack = make_attack("sda", model, eps=eps)
    x_adv = attack(x, y)
    budget = Budget.parse(eps).resolve(ELEMENTS)
    n = flips(_batch_first(x), _batch_first(x_adv))
    assert ((x_adv == 0) | (x_adv == 1)).all() and (n <= budget).all()
    with torch.no_grad():
        fooled = model(x_adv).argmax(-1) != y
    assert torch.equal(fooled, attack.success) and torch.equal(n[~fooled], torch.zeros_like(n[~fooled]))


def test_count_pgd_keeps_integer_counts_within_the_l0_budget(counts):
    model, x, y = counts
    attack = make_attack("count-pgd", model, eps="2%", steps=10)
    x_adv = attack(x, y)
    assert (x_adv >= 0).all() and (x_adv == x_adv.round()).all()
    n = flips(_batch_first(x), _batch_first(x_adv))
    assert (n <= Budget.parse("2%").resolve(ELEMENTS)).all() and torch.equal(n, attack.flips)
    with torch.no_grad():
        assert torch.equal(model(x_adv).argmax(-1) != y, attack.success)
    assert attack.success.float().mean() > 0.3
    unbounded = make_attack("count-pgd", model, steps=10, max_change=2)(x, y)
    assert ((unbounded - x).abs() <= 2).all() and (unbounded >= 0).all()


@pytest.mark.parametrize("budget", [dict(jitter=1), dict(jitter=2, delay=40, tamper="5%")])
def test_retime_moves_events_only_within_the_budgets(binary, budget):
    model, x, y = binary
    attack = make_attack("retime", model, steps=30, **budget)
    x_adv = attack(x, y)
    assert ((x_adv == 0) | (x_adv == 1)).all()
    cost = retime_cost(_batch_first(x), _batch_first(x_adv))
    assert cost.counts_kept.all()                                   # every pixel keeps its count
    assert RetimeBudget.make(**budget).within(cost).all()
    assert torch.equal(cost.jitter, attack.jitter) and torch.equal(cost.delay, attack.delay)
    assert torch.equal(cost.tampered, attack.tampered)
    with torch.no_grad():
        assert torch.equal(model(x_adv).argmax(-1) != y, attack.success)
    assert attack.success.any()


@pytest.mark.parametrize("name,params,fixture", [("sda", {"rounds": 3}, "binary"),
                                                 ("count-pgd", {"steps": 3, "eps": 10}, "counts"),
                                                 ("retime", {"steps": 3}, "binary")])
def test_seeded_runs_are_byte_identical_and_take_every_estimator(request, name, params, fixture):
    model, x, y = request.getfixturevalue(fixture)
    x, y = x[:, :8], y[:8]
    first = make_attack(name, model, seed=3, **params)(x, y)
    assert torch.equal(first, make_attack(name, model, seed=3, **params)(x, y))
    for grad in ESTIMATORS:
        x_adv = make_attack(name, model, grad=grad, **params)(x, y)
        assert x_adv.shape == x.shape and (x_adv >= 0).all() and (x_adv == x_adv.round()).all()


def test_registry_and_bad_inputs(binary, counts, digits_snn):
    assert ATTACKS["sda"] is SDA and ATTACKS["count-pgd"] is CountPGD and ATTACKS["retime"] is Retime
    model, x, y = binary
    cmodel, cx, cy = counts
    for name in ("sda", "count-pgd", "retime"):
        with pytest.raises(ValueError, match="model"):
            make_attack(name, digits_snn)
    with pytest.raises(ValueError, match="x"):
        make_attack("sda", model)(cx[:, :4], cy[:4])               # count frames: not binary
    with pytest.raises(ValueError, match="x"):
        make_attack("retime", model)(cx[:, :4], cy[:4])
    with pytest.raises(ValueError, match="x"):
        make_attack("count-pgd", model)(x[:, :4] * 0.5, y[:4])     # not integer
    with pytest.raises(ValueError, match="eps"):
        make_attack("sda", model, eps="200%")
    with pytest.raises(ValueError, match="k_init"):
        make_attack("sda", model, k_init=0)
    with pytest.raises(ValueError, match="loss"):
        make_attack("count-pgd", model, loss="mse")
    with pytest.raises(ValueError, match="moves"):
        make_attack("retime", model, moves=0)
    with pytest.raises(ValueError, match="tamper"):
        make_attack("retime", model, tamper="x%")


@pytest.mark.parametrize("name, frames, params", [("sda", "binary", {"rounds": 3}),
                                                  ("count-pgd", "counts", {"loss": "cw", "steps": 2}),
                                                  ("retime", "binary", {"loss": "cw", "steps": 2})])
def test_inputs_fooled_already_are_not_vanishing_gradients(binary, counts, name, frames, params):
    """The C&W margin of an input the model already misclassifies is 0 (clamped), so its gradient
    is all zero; that is no vanishing gradient (Liang et al.'s Table III measure counts the inputs
    the attack must work on), and the hygiene check must not see one."""
    model, x, y = binary if frames == "binary" else counts
    x, y = x[:, :12], y[:12]
    wrong = y.clone()
    wrong[:6] = (y[:6] + 1) % 4  # the model predicts y: under these labels the first 6 are fooled already
    attack = make_attack(name, model, **params)
    attack(x, wrong)
    assert attack.vanishing.shape == (12,) and not attack.vanishing[:6].any()
    with torch.no_grad():
        assert (model(x).argmax(-1) == y).all()

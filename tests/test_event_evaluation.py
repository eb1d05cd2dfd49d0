"""The event evaluation (L0 cascade of SDA and spike-BIM, count-frame PGD): the image cascade's
result shape, the per-input worst case, the budget, minimal flips and bad input."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from spikeattack.attacks import make_attack
from spikeattack.attacks.threat import Budget, spike_bim_eps
from spikeattack.evaluation import StandardEvaluation
from spikeattack.evaluation.events import BUDGETS, EventEvaluation, build_stages, event_evaluation

from event_helpers import ELEMENTS, trained_event_model


@pytest.fixture(scope="module")
def binary():
    return trained_event_model(False, keep=30)


@pytest.fixture(scope="module")
def counts():
    return trained_event_model(True, keep=20)


@pytest.fixture(scope="module")
def at_budget(binary):
    model, x, y = binary
    return event_evaluation(model, x, y, eps=4, seed=0, progress=False)



def test_result_has_the_image_cascades_shape(at_budget):
    ours = {f.name for f in dataclasses.fields(EventEvaluation)}
    image = {f.name for f in dataclasses.fields(StandardEvaluation)} - {"hart_gamma", "hart_tuned"}
    assert image <= ours
    assert at_budget.adversarial.shape == (5, 30, 2, 6, 6) and at_budget.converged is not None
    d = json.loads(at_budget.to_json())
    assert "adversarial" not in d and set(d["convergence"]) >= {"converged", "sample", "rounds"}
    assert d["norm"] == "L0" and d["eps"] == 4 and d["budget"] == 4 and d["elements"] == ELEMENTS
    assert d["frames"] == "binary" and d["version"] == "standard" and len(d["records"]) == d["n"] == 30
    assert [s["attack"] for s in d["stages"]][:4] == ["sda", "sda", "sda", "spike-bim"]
    assert [s["estimator"] for s in d["stages"]][:4] == ["pdsg", "stbp", "hart", "stbp"]
    assert all(s["attack"].startswith("escalation") for s in d["stages"][4:])
    low, high = d["robust_accuracy_ci"]
    assert low <= d["robust_accuracy"] <= high


def test_worst_case_within_the_budget(binary, at_budget):
    model, x, y = binary
    r = at_budget
    assert r.clean_accuracy == 1.0
    assert r.robust_accuracy == sum(rec.robust for rec in r.records) / r.n
    broken = [rec for rec in r.records if not rec.robust]
    assert broken and all(0 < rec.flips <= 4 and rec.broken_by and rec.adv_pred != rec.label for rec in broken)
    assert r.stages[-1].robust_accuracy_after == r.robust_accuracy
    assert sum(s.new for s in r.stages) == len(broken)
    for rec in broken:  # the stored adversarial example is the one that broke the input
        adv = r.adversarial[:, rec.index]
        assert int((adv != x[:, rec.index]).sum()) == rec.flips
        with torch.no_grad():
            assert model(adv.unsqueeze(1)).argmax(-1).item() == rec.adv_pred
    # at or below spike-BIM's robust accuracy at the same budget
    x_bim = make_attack("spike-bim", model, loss="ce", eps=spike_bim_eps(4, ELEMENTS), steps=25)(x, y)
    with torch.no_grad():
        bim_robust = (model(x_bim).argmax(-1) == y).float().mean().item()
    assert r.robust_accuracy <= bim_robust
    # the cascade only ever shrinks the robust set: a larger budget breaks at least as many
    assert event_evaluation(model, x, y, eps="2%").robust_accuracy <= r.robust_accuracy


def test_seeded_evaluation_is_reproducible(binary, at_budget):
    model, x, y = binary
    again = event_evaluation(model, x, y, eps=4, seed=0).to_dict()
    first = at_budget.to_dict()
    for d in (first, again):
        d.pop("seconds")
        for s in d["stages"] + (d["convergence"] or {"rounds": []})["rounds"]:
            s.pop("seconds")
    assert first == again


def test_minimal_flips(binary):
    model, x, y = binary
    r = event_evaluation(model, x, y, eps="1%", minimal=True)
    k = Budget.parse("1%").resolve(ELEMENTS)
    assert r.minimal and not r.cascade and r.eps == k
    assert all(s.attacked == 30 for s in r.stages)                   # every stage on every input
    fooled = [rec for rec in r.records if rec.minimal_flips is not None]
    assert len(fooled) >= 27                                           # SDA fools (almost) every input
    for rec in r.records:
        assert rec.robust == (rec.minimal_flips is None or rec.minimal_flips > k)
    assert r.minimal_flips["fooled"] == len(fooled)
    assert r.minimal_flips["q50"] == sorted(rec.minimal_flips for rec in fooled)[(len(fooled) - 1) // 2]


def test_count_frames(counts):
    model, x, y = counts
    r = event_evaluation(model, x, y, eps="2%")
    assert r.frames == "count" and [s.attack for s in r.stages] == ["count-pgd-ce", "count-pgd-cw", "count-pgd-ce"]
    assert all(rec.flips <= r.eps for rec in r.records)
    assert r.robust_accuracy < r.clean_accuracy


def test_stages_follow_the_version(binary):
    plus = build_stages("binary", BUDGETS["plus"], 7, ELEMENTS, 0, "plus")
    assert [s.estimator for s in plus] == ["pdsg", "stbp", "hart", "bptr", "rga", "stbp"] and plus[-1].runs == 3
    assert plus[0].params["rounds"] == 100 and plus[0].params["eps"] == 7
    standard = build_stages("binary", BUDGETS["standard"], 7, ELEMENTS, 0)
    assert standard[-1].runs == 1 and standard[-1].params["eps"] == spike_bim_eps(7, ELEMENTS)
    # escalation: twice the rounds (SDA) or steps, another seed
    sda = standard[0].build(binary[0], scale=2, round_=1)
    assert sda.rounds == 60 and sda.seed == 1000 and sda.budget.resolve(ELEMENTS) == 7


def test_escalation_breaks_count_like_a_stages(binary):
    model, x, y = binary
    r = event_evaluation(model, x, y, eps=3, progress=False,
                         budgets={"sda_rounds": 1, "escalation_rounds": 2, "escalation_sample": 30})
    conv = r.convergence
    assert conv is not None and conv.rounds
    assert conv.sample == min(30, round(r.stages[3].robust_accuracy_after * r.n))  # the robust after the cascade
    escalated = [s for s in r.stages if s.attack.startswith("escalation")]
    assert sum(round_.broken for round_ in conv.rounds) == sum(s.new for s in escalated)
    assert escalated[0].config["rounds"] == 2                        # 2 ** 1 times the cascade's one round
    assert r.robust_accuracy == r.stages[-1].robust_accuracy_after
    assert conv.converged == (conv.rounds[-1].broken <= 0)
    with pytest.raises(ValueError, match="budgets"):
        event_evaluation(model, x, y, eps=3, budgets={"apgd_steps": 3})


def test_bad_input(binary, digits_snn, digits_test):
    model, x, y = binary
    with pytest.raises(ValueError, match="model"):
        event_evaluation(digits_snn, *digits_test, eps=4)
    with pytest.raises(ValueError, match="norm"):
        event_evaluation(model, x, y, eps=4, norm="Linf")
    with pytest.raises(ValueError, match="eps"):
        event_evaluation(model, x, y, eps="150%")
    with pytest.raises(ValueError, match="version"):
        event_evaluation(model, x, y, eps=4, version="rand")
    with pytest.raises(ValueError, match="y"):
        event_evaluation(model, x, y[:-1], eps=4)
    with pytest.raises(ValueError, match="x"):
        event_evaluation(model, x * 0.5, y, eps=4)


def test_sda_versus_spike_bim(binary):
    from spikeattack.evaluation import compare_sda_spike_bim

    model, x, y = binary
    c = compare_sda_spike_bim(model, x, y, loss="mse")
    assert c.n == 30 and len(c.sda_flips) == len(c.spike_bim_fooled) == 30
    assert c.sda_success >= 0.95 and c.sda_success_ci[0] <= c.sda_success <= c.sda_success_ci[1]
    both = [i for i in range(30) if c.sda_fooled[i] and c.spike_bim_fooled[i]]
    assert c.both == len(both) >= 20
    assert c.ratio == c.sda_median_flips / c.spike_bim_median_flips <= 0.5
    assert all(f == 0 for f, ok in zip(c.sda_flips, c.sda_fooled) if not ok)
    assert c.verdict in ("sda", "spike-bim", "tie") and c.sda_seconds_per_input > 0
    with pytest.raises(ValueError, match="x"):
        compare_sda_spike_bim(model, x * 2, y)

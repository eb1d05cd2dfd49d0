"""The standard evaluation's convergence certificate: escalation rounds until the number stops moving."""

from __future__ import annotations

import pytest

from spikeattack.evaluation import BUDGETS, standard_evaluation

WEAK = {"apgd_steps": 1, "restarts": 1, "targets": 1, "sapgd_steps": 1, "sapgd_restarts": 1, "mdse_steps": 1,
        "square_queries": 2, "square_p_init": 0.8, "fixed_apgd_steps": 0, "escalation_sample": 32, "escalation_stages": 1, "escalation_tolerance": 0.0}


@pytest.fixture(scope="module")
def inputs(digits_test):
    x, y = digits_test
    return x[:32], y[:32]


def _run(model, x, y, eps, rounds):
    return standard_evaluation(model, x, y, eps=eps, hart_gamma=0.5, progress=False,
                               budgets=WEAK | {"escalation_rounds": rounds})


@pytest.fixture(scope="module")
def moving(digits_snn, inputs):
    """A budget at which a one-step cascade leaves inputs that the first escalation round breaks."""
    x, y = inputs
    for eps in (0.06, 0.08, 0.1, 0.12, 0.15):
        result = _run(digits_snn, x, y, eps, rounds=1)
        if result.convergence.rounds and result.convergence.rounds[0].broken:
            return eps, result
    pytest.fail("no budget at which a longer attack breaks what the one-step cascade left")


def test_not_converged_while_escalation_still_breaks_inputs(moving):
    _, result = moving
    report = result.convergence
    assert report.rounds[0].broken > 0 and not result.converged
    assert result.to_dict()["converged"] is False and result.to_dict()["convergence"]["last_round_broken"] > 0


def test_escalation_breaks_count_and_converged_follows_the_last_round(digits_snn, inputs, moving):
    eps, _ = moving
    x, y = inputs
    result = _run(digits_snn, x, y, eps, rounds=4)
    report = result.convergence
    cascade = [s for s in result.stages if not s.attack.startswith("escalation")]
    escalation = [s for s in result.stages if s.attack.startswith("escalation")]
    assert escalation and sum(s.new for s in escalation) == sum(r.broken for r in report.rounds)
    robust_after_cascade = round(cascade[-1].robust_accuracy_after * len(y))
    assert sum(r.robust for r in result.records) == robust_after_cascade - sum(r.broken for r in report.rounds)
    assert report.converged == (report.rounds[-1].broken == 0)
    assert report.converged or len(report.rounds) == 4  # stops only when nothing moved, or at the bound
    assert all(r.broken for r in report.rounds[:-1])      # every earlier round still broke something
    assert [r.scale for r in report.rounds] == [2 ** (i + 1) for i in range(len(report.rounds))]


def test_escalation_is_seeded(digits_snn, inputs, moving):
    eps, first = moving
    x, y = inputs
    again = _run(digits_snn, x, y, eps, rounds=1)
    assert [r.robust for r in again.records] == [r.robust for r in first.records]
    assert again.convergence.to_dict() | {"rounds": None} == first.convergence.to_dict() | {"rounds": None}


def test_versions_carry_the_escalation_budget():
    for budgets in BUDGETS.values():
        assert budgets["escalation_rounds"] >= 1 and budgets["escalation_sample"] >= 1

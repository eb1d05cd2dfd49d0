"""The standard evaluation: the per-input worst case over the cascade, recomputed independently."""

from __future__ import annotations

import json

import pytest
import torch

from spikeattack.evaluation import BUDGETS, TuneResult, clopper_pearson, standard_evaluation
from spikeattack.evaluation.cascade import build_stages

TINY = {"apgd_steps": 3, "restarts": 1, "targets": 2, "sapgd_steps": 3, "sapgd_restarts": 1,
        "mdse_steps": 2, "square_queries": 10, "square_p_init": 0.8, "fixed_apgd_steps": 0, "eot": 1,
        "escalation_rounds": 1, "escalation_sample": 8,
        "escalation_stages": 1, "escalation_tolerance": 0.0}


@pytest.fixture(autouse=True)
def tiny_budgets(monkeypatch):
    """The recipe's budgets are for real runs; the logic under test does not depend on them."""
    for version in BUDGETS:
        monkeypatch.setitem(BUDGETS, version, dict(TINY, eot=2 if version == "rand" else 1))


@pytest.fixture(scope="module")
def inputs(digits_test):
    x, y = digits_test
    return x[:24], y[:24]


@pytest.fixture(scope="module")
def both(digits_snn, inputs):
    """The same evaluation as a cascade and with every stage on every clean-correct input."""
    import spikeattack.evaluation.standard as standard  # noqa: F401

    saved = dict(standard.BUDGETS["standard"])
    standard.BUDGETS["standard"] = dict(TINY)
    try:
        x, y = inputs
        cascade = standard_evaluation(digits_snn, x, y, eps=0.15, hart_gamma=0.5, seed=0)
        every = standard_evaluation(digits_snn, x, y, eps=0.15, hart_gamma=0.5, seed=0, cascade=False)
    finally:
        standard.BUDGETS["standard"] = saved
    return cascade, every


def _recompute(result, model, x, y):
    """Robust accuracy from the records alone, checked against the model's own clean predictions."""
    with torch.no_grad():
        clean = model(x).argmax(-1)
    assert [r.clean_pred for r in result.records] == clean.tolist()
    robust = [r.clean_pred == r.label and not r.broken_by for r in result.records]
    return sum(robust) / len(robust)


def test_worst_case_equals_an_independent_recomputation(both, digits_snn, inputs):
    x, y = inputs
    for result in both:
        assert result.robust_accuracy == pytest.approx(_recompute(result, digits_snn, x, y))
        assert all(r.robust == (r.clean_pred == r.label and not r.broken_by) for r in result.records)
        k = sum(r.robust for r in result.records)
        assert result.robust_accuracy_ci == pytest.approx(clopper_pearson(k, result.n))
        assert result.robust_accuracy_ci[0] <= result.robust_accuracy <= result.robust_accuracy_ci[1]
        assert result.robust_accuracy < result.clean_accuracy  # eps 0.15 breaks some inputs


def test_worst_case_is_at_most_every_single_stage(both):
    _, every = both
    n_correct = sum(r.clean_pred == r.label for r in every.records)
    n_robust = sum(r.robust for r in every.records)
    for stage in every.stages:  # counts, not floats: robust to everything <= robust to this stage
        assert n_robust <= n_correct - stage.broken
    # and each stage's robust accuracy equals the share of its own broken-by entries
    for s_index, stage in enumerate(every.stages):
        assert stage.broken == sum(s_index in r.broken_by for r in every.records)


def test_cascade_attacks_only_inputs_still_robust(both):
    cascade, _ = both
    robust_before = round(cascade.clean_accuracy * cascade.n)
    for s_index, stage in enumerate(cascade.stages):
        assert stage.attacked == robust_before
        assert stage.broken == stage.new == sum(r.broken_by == [s_index] for r in cascade.records)
        robust_before -= stage.new
        assert stage.robust_accuracy_after == pytest.approx(robust_before / cascade.n)
    assert all(len(r.broken_by) <= 1 for r in cascade.records)
    broken = [r for r in cascade.records if r.broken_by]
    assert broken and all(r.attack == cascade.stages[r.broken_by[0]].attack and r.adv_pred != r.label for r in broken)
    assert all(r.linf <= 0.15 + 1e-5 for r in broken)


def test_stages_follow_the_recipe(digits_snn, digits_ann):
    names = [(s.label, s.estimator) for s in build_stages(digits_snn, 0.1, "linf", BUDGETS["standard"], 1.0, 0)]
    assert names == [("sapgd", "assg"), ("apgd-ce", "hart"), ("apgd-t", "assg"), ("apgd-ce", "mdse"), ("square", "none")]
    plus = [(s.label, s.estimator) for s in build_stages(digits_snn, 0.1, "linf", dict(BUDGETS["plus"], fixed_apgd_steps=2), 1.0, 0)]
    grads = ["stbp", "bptr", "rga", "hart", "cba"]
    assert plus == ([("sapgd", "assg")] + [("apgd-ce", g) for g in grads]
                    + [("apgd-t", "assg"), ("apgd-ce", "mdse"), ("square", "none")])
    ann = [(s.label, s.estimator) for s in build_stages(digits_ann, 0.1, "linf", BUDGETS["standard"], 1.0, 0)]
    assert ann == [("apgd-ce", "exact"), ("apgd-t", "exact"), ("square", "none")]


def test_json_and_versions(digits_snn, inputs):
    x, y = inputs
    result = standard_evaluation(digits_snn, x[:4], y[:4], eps=0.5, norm="L2", version="rand", hart_gamma=1.0)
    out = json.loads(result.to_json())
    for key in ("clean_accuracy", "robust_accuracy", "robust_accuracy_ci", "n", "eps", "norm", "version", "stages",
                "records"):
        assert key in out
    assert out["norm"] == "l2" and out["version"] == "rand" and len(out["robust_accuracy_ci"]) == 2
    assert {"attack", "estimator", "attacked", "broken", "seconds"} <= set(out["stages"][0])
    assert out["stages"][0]["config"]["eot"] == 2
    for s in result.stages:
        assert s.config.get("norm") == "l2"


def test_hart_gamma_tuned_on_training_data(digits_snn, inputs, monkeypatch):
    import spikeattack.evaluation.standard as standard  # noqa: F401
    from spikeattack.data import load_dataset

    calls = []

    def fake_tune(model, data, grad, param, values, **kwargs):  # records what would be searched, and where
        calls.append((data.name, grad, param, tuple(values)))
        return TuneResult(grad, param, best=2.0)

    monkeypatch.setattr(standard, "tune_estimator", fake_tune)
    x, y = inputs
    result = standard_evaluation(digits_snn, x[:4], y[:4], eps=0.1, train_data=load_dataset("digits"))
    assert calls == [("digits", "hart", "gamma", (0.25, 0.5, 1.0, 2.0, 4.0))]
    assert result.hart_gamma == 2.0 and result.hart_tuned


@pytest.mark.parametrize("kwargs,match", [({"eps": 0}, "eps"), ({"eps": 0.1, "version": "x"}, "version"),
                                          ({"eps": 0.1, "norm": "l1"}, "norm"),
                                          ({"eps": 0.1, "train_data": (1, 2)}, "train_data")])
def test_bad_arguments(digits_snn, inputs, kwargs, match):
    x, y = inputs
    with pytest.raises(ValueError, match=match):
        standard_evaluation(digits_snn, x[:2], y[:2], **kwargs)

"""Intervals and paired tests against scipy's independent implementations."""

import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import binomtest

from spikeattack.evaluation import clopper_pearson, compare_paired, mcnemar_pvalue, proportion_ci


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_clopper_pearson_matches_scipy_exact_interval(kn):
    k, n = kn
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    low, high = clopper_pearson(k, n)
    assert low == pytest.approx(ref.low, abs=1e-9)
    assert high == pytest.approx(ref.high, abs=1e-9)
    assert low <= k / n <= high


def test_clopper_pearson_edges_and_errors():
    assert clopper_pearson(0, 0) == (0.0, 1.0)
    assert clopper_pearson(0, 10)[0] == 0.0 and clopper_pearson(10, 10)[1] == 1.0
    assert proportion_ci([True, False, True]) == clopper_pearson(2, 3)
    for bad in [(-1, 5), (6, 5), (1.5, 5), (1, -2)]:
        with pytest.raises(ValueError, match="successes|n:"):
            clopper_pearson(*bad)
    with pytest.raises(ValueError, match="confidence"):
        clopper_pearson(1, 5, confidence=1.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(0, 300))
def test_mcnemar_matches_binomial_test(b, c):
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_pvalue(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_compare_paired_names_a_winner_only_beyond_noise():
    # 2 inputs apart on 200: a tie
    a = [True] * 52 + [False] * 148
    b = [True] * 50 + [False] * 150
    assert compare_paired(a, b).verdict == "tie"
    # 30 discordant inputs all for A: A wins
    a = [True] * 80 + [False] * 120
    b = [True] * 50 + [False] * 150
    res = compare_paired(a, b)
    assert (res.only_a, res.only_b, res.verdict) == (30, 0, "a")
    assert compare_paired(b, a).verdict == "b"
    with pytest.raises(ValueError, match="success_b"):
        compare_paired([True], [True, False])

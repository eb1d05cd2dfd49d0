"""Stored event rows, read torch-free (issue 17, stage 2): the one spelling of the L0 threat model,
flips curves with exact intervals, PDSG's hygiene category, the SDA-vs-spike-BIM comparison from
stored rows and two event evaluations of one budget combined per input."""

from __future__ import annotations

import statistics

import pytest

from spikeattack.results.flips import EVALUATION, flips_curves
from spikeattack.results.hygiene import hygiene_flags
from spikeattack.results.output import norm_name, public
from spikeattack.results.papers import sda_comparison_markdown, sda_comparison_rows
from spikeattack.results.quote import StoredEvaluation
from spikeattack.results.rows import row_problems, threat_model
from spikeattack.results.statistics import clopper_pearson

N = 40
LABELS = [i % 10 for i in range(N)]


def row(attack, grad, flips, *, eps=None, norm="L0", target="snn", clean_wrong=(), seconds=4.0, targeted=False,
        rid=None):
    """An event cell: input ``i`` is fooled when ``flips[i]`` is not None (then it changed that many elements)."""
    clean = [(y + 1) % 10 if i in clean_wrong else y for i, y in enumerate(LABELS)]
    fooled = [f is not None for f in flips]
    adv = [(y + 1) % 10 if (f or i in clean_wrong) else y for i, (y, f) in enumerate(zip(LABELS, fooled))]
    correct = [c == y for c, y in zip(clean, LABELS)]
    n_correct = sum(correct)
    return {"id": rid or f"{target}-{attack}-{grad}-{eps}", "experiment": "e", "target": target, "source": target,
            "scenario": "white-box", "attack": attack, "grad": grad, "eps": eps,
            "config": {"grad_params": {}, "attack_config": {"eot": 1, **({"norm": norm} if norm else {})},
                       "elements": 1152},
            "metrics": {"n": N, "clean_accuracy": n_correct / N,
                        "asr": sum(ok and f for ok, f in zip(correct, fooled)) / n_correct,
                        "robust_accuracy": sum(ok and not f for ok, f in zip(correct, fooled)) / N, "vanishing": 0},
            "per_input": {"label": LABELS, "clean_pred": clean, "adv_pred": adv,
                          "target": [(y + 2) % 10 for y in LABELS] if targeted else None, "vanishing": [False] * N,
                          "flips": [0 if f is None else f for f in flips]},
            "seconds": seconds}


def test_one_spelling_of_the_event_threat_models():
    assert threat_model(row("sda", "pdsg", [None] * N)) == "l0"
    assert threat_model(row("retime", "stbp", [None] * N, norm="retime")) == "retime"
    assert threat_model(row("spike-bim", "stbp", [None] * N, norm=None)) == "l0"  # stored before it declared L0
    assert [norm_name(n) for n in ("l0", "spikes", "retime", "L0")] == ["L0", "L0", "retime", "L0"]
    assert public({"norm": "l0", "inner": {"norm": "retime"}}) == {"norm": "L0", "inner": {"norm": "retime"}}


def test_a_flips_list_of_the_wrong_length_is_a_damaged_row():
    bad = row("sda", "pdsg", [None] * N)
    bad["per_input"]["flips"] = [0] * (N - 1)
    assert any("lengths" in p for p in row_problems(bad))
    bad["per_input"]["flips"] = ["x"] * N
    assert any("flips" in p for p in row_problems(bad))


def test_flips_curves_count_inputs_fooled_within_k_with_exact_intervals():
    flips = [i if i % 4 else None for i in range(N)]        # 30 fooled, with i flips; 10 robust
    sda = row("sda", "pdsg", flips, clean_wrong=(1,))        # input 1 is wrong clean: not counted
    budgeted = row("sda", "pdsg", [None] * N, eps=5.0)        # a smaller budget: the unbounded cell is kept
    retime = row("retime", "stbp", flips, norm="retime")     # not an L0 attack
    targeted = row("spike-bim", "stbp", flips, targeted=True)  # targeted: not counted
    (curve,) = flips_curves([budgeted, sda, retime, targeted])
    assert (curve.attack, curve.estimator, curve.eps, curve.n, curve.fooled) == ("sda", "pdsg", None, 39, 29)
    for k in (0, 1, 7, 20, 39, 100):
        count = sum(1 for i, f in enumerate(flips) if f is not None and i != 1 and f <= k)
        share, ci = curve.within(k)
        assert share == count / 39 and ci == clopper_pearson(count, 39)
    fooled = sorted(f for i, f in enumerate(flips) if f is not None and i != 1)
    assert curve.quantile(0.5) == fooled[(len(fooled) - 1) // 2] == int(statistics.median_low(fooled))
    (capped,) = flips_curves([row("sda", "stbp", [3 if i < 10 else None for i in range(N)], eps=5.0)])
    assert capped.within(5)[0] == 10 / N and capped.within(6) is None  # nothing is known above the budget
    evaluation = {"experiment": "e", "target": "snn", "result": {"minimal": True, "elements": 1152, "records": [
        {"label": 0, "clean_pred": 0, "minimal_flips": 4}, {"label": 1, "clean_pred": 1, "minimal_flips": None},
        {"label": 2, "clean_pred": 3, "minimal_flips": 1}]}}
    (_, ev) = flips_curves([sda], [evaluation, dict(evaluation, result={"minimal": False})])
    assert (ev.attack, ev.n, ev.flips) == (EVALUATION, 2, (4,))


def test_pdsg_is_its_own_hygiene_category():
    fixed = [row(attack, g, [2 if i < 8 else None for i in range(N)], eps=11.0) for attack, g in
             (("sda", "stbp"), ("sda", "hart"))]
    pdsg = row("sda", "pdsg", [2 if i < 24 else None for i in range(N)], eps=11.0)  # 16 more inputs: p < 0.001
    [flag] = [f for f in hygiene_flags(fixed + [pdsg]) if f.name == "robustness-overestimated"]
    assert "potential-dependent surrogate (pdsg)" in flag.message and "fooled 16 input(s)" in flag.message
    assert "at L0 eps=11" in flag.message and flag.cells == ("snn sda/pdsg eps=11 white-box",)
    near = row("sda", "pdsg", [2 if i < 10 else None for i in range(N)], eps=11.0, rid="near")  # 2 more: noise
    assert [f for f in hygiene_flags(fixed + [near]) if f.name == "robustness-overestimated"] == []
    # PDSG is not a fixed surrogate: alone against an adaptive one it is no ensemble to beat
    assg = row("sda", "assg", [2 if i < 30 else None for i in range(N)], eps=11.0)
    assert [f for f in hygiene_flags([pdsg, assg]) if f.name == "robustness-overestimated"] == []


def test_sda_comparison_from_stored_rows():
    sda_flips = [i % 7 + 1 if i % 10 else None for i in range(N)]             # fools 36
    bim_flips = [50 + i if i < 30 else None for i in range(N)]                 # fools 30
    rows = [row("sda", "pdsg", sda_flips, seconds=8.0), row("spike-bim", "stbp", bim_flips, eps=0.08, seconds=2.0),
            row("spike-bim@uth=1.0", "stbp", [1] * N, eps=0.08)]              # a variant: not the comparison
    (r,) = sda_comparison_rows(rows)
    both = [i for i in range(N) if sda_flips[i] is not None and bim_flips[i] is not None]
    assert (r["n"], r["both"]) == (N, len(both))
    assert r["sda_success"] == 36 / N and r["spike_bim_success"] == 30 / N
    assert r["sda_success_ci"] == list(clopper_pearson(36, N))
    assert r["sda_median_flips"] == statistics.median(sda_flips[i] for i in both)
    assert r["spike_bim_median_flips"] == statistics.median(bim_flips[i] for i in both)
    assert r["ratio"] == pytest.approx(r["sda_median_flips"] / r["spike_bim_median_flips"])
    assert r["sda_seconds_per_input"] == 8.0 / N and r["verdict"] in ("sda", "tie")
    assert "| snn | 40 | 90.0 [" in sda_comparison_markdown(rows)
    assert sda_comparison_rows(rows[1:]) == [] and sda_comparison_markdown(rows[1:]) == ""


def _evaluation(eid, robust, version="standard"):
    records = [{"label": y, "clean_pred": y, "robust": r, "adv_pred": None if r else (y + 1) % 10}
               for y, r in zip(LABELS[:8], robust)]
    return StoredEvaluation.from_stored({"id": eid, "experiment": "e", "target": "snn", "eps": 11, "norm": "L0",
                                         "version": version, "seconds": 1.0, "result": {"records": records}})


def test_two_evaluations_of_one_budget_combine_per_input():
    a = _evaluation("a", [True, True, False, True, False, True, True, True])
    b = _evaluation("b", [True, False, True, True, False, True, False, True])
    both = a.combined(b)
    assert both.robust == [x and y for x, y in zip(a.robust, b.robust)] and both.kind == "event evaluation"
    assert both.robust == both.recomputed_robust()  # the adversarial predictions say the same
    with pytest.raises(ValueError, match="different inputs"):
        a.combined(StoredEvaluation.from_stored({"id": "c", "experiment": "e", "target": "snn", "eps": 11,
                                                 "norm": "L0", "version": "standard", "result": {"records": []}}))

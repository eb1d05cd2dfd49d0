"""The per-input headline, intervals, the McNemar tie rule, grouped and new hygiene flags, report structure.

Synthetic cells written through the store's own API (no training): fast.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from scipy.stats import binomtest

from spikeattack.results.headline import headline, per_input_worst_case
from spikeattack.results.hygiene import group_flags, hygiene_findings, hygiene_flags
from spikeattack.results.intervals import cell_counts, cell_intervals
from spikeattack.results.report import write_report
from spikeattack.results.store import ResultsStore, export_rows
from spikeattack.results.worstcase import strongest, worst_case_groups
from spikeattack.results.statistics import clopper_pearson

N = 40
LABELS = [i % 10 for i in range(N)]


def cell(attack, grad, fooled=(), *, eps=0.1, scenario="white-box", target="snn", source=None, norm=None,
         clean_wrong=(), rid=None):
    """A stored-cell dict: ``fooled`` inputs misclassified (label + 1), ``clean_wrong`` wrong on the clean input."""
    clean = [(y + 1) % 10 if i in clean_wrong else y for i, y in enumerate(LABELS)]
    adv = [(y + 1) % 10 if i in fooled or i in clean_wrong else y for i, y in enumerate(LABELS)]
    correct = [c == y for c, y in zip(clean, LABELS)]
    n_correct = sum(correct)
    success = sum(ok and a != y for ok, a, y in zip(correct, adv, LABELS))
    robust = sum(ok and a == y for ok, a, y in zip(correct, adv, LABELS))
    source = source or {"white-box": target, "black-box": f"{target}#seed1"}.get(scenario, scenario.split(":")[-1])
    attack_config = {"eot": 1} | ({"norm": norm} if norm else {})
    return {"id": rid or f"{target}-{scenario}-{attack}-{grad}-{eps}-{norm}", "experiment": "e", "target": target,
            "source": source, "scenario": scenario, "attack": attack, "grad": grad, "eps": eps,
            "config": {"grad_params": {}, "attack_config": attack_config},
            "metrics": {"n": N, "clean_accuracy": n_correct / N, "asr": success / n_correct,
                        "robust_accuracy": robust / N, "vanishing": 0},
            "per_input": {"label": LABELS, "clean_pred": clean, "adv_pred": adv, "target": None,
                          "vanishing": [False] * N},
            "seconds": 0.0}


def stored(tmp_path, cells, models=()):
    store = ResultsStore(tmp_path / "results.sqlite")
    for c in cells:
        assert store.put(c["id"], c)
    for m in models:
        store.put_model(**m)
    return store


def model(name, neuron="lif", **info):
    return {"key": f"k-{name}", "experiment": "e", "name": name, "path": "-", "clean_accuracy": 0.9, "info": info,
            "config": {"arch": "small_cnn", "neuron": neuron, "decay": 0.5, "timesteps": 4, "encoding": "direct"}}


# ------------------------------------------------------------------------------------------------ headline
def test_per_input_worst_case_counts_inputs_every_attack_misses(tmp_path):
    # fgsm and pgd fool different inputs: per input, only the inputs both miss are robust
    cells = [cell("fgsm", "stbp", range(0, 6), clean_wrong={39}), cell("fgsm", "rga", range(3, 8), clean_wrong={39}),
             cell("pgd", "stbp", range(10, 16), clean_wrong={39}), cell("pgd", "rga", range(12, 20), clean_wrong={39}),
             cell("pgd", "rga", range(30, 35), scenario="black-box", clean_wrong={39})]
    with stored(tmp_path, cells) as store:
        rows = store.rows()
    [h] = headline(rows)
    broken = set(range(0, 8)) | set(range(10, 20))
    assert (h.n, h.n_correct, h.n_robust) == (N, N - 1, N - 1 - len(broken))
    assert h.robust_accuracy == (N - 1 - len(broken)) / N
    assert h.asr == len(broken) / (N - 1)
    assert h.n_robust_incl_transfer == N - 1 - len(broken) - 5
    assert h.attacks == ["fgsm", "pgd"] and len(h.cells) == 4 and h.transfer_cells == [cells[-1]["id"]]
    # the old per-attack view is a breakdown: each attack alone leaves more inputs robust
    groups = worst_case_groups(rows, scenarios=["white-box"])
    assert sorted(g.robust_accuracy for g in groups) == [(N - 1 - 10) / N, (N - 1 - 8) / N]
    assert h.per_attack_minimum == (N - 1 - 10) / N and h.weakest_attack == "pgd"
    assert h.robust_accuracy < h.per_attack_minimum
    assert all(h.robust_accuracy <= r["metrics"]["robust_accuracy"] for r in rows)
    # intervals: exact binomial, checked against scipy's Clopper-Pearson
    d = h.to_dict()
    ref = binomtest(h.n_robust, N).proportion_ci(0.95, method="exact")
    assert d["robust_accuracy_ci"] == pytest.approx([ref.low, ref.high], abs=1e-9)
    ref = binomtest(len(broken), N - 1).proportion_ci(0.95, method="exact")
    assert d["asr_ci"] == pytest.approx([ref.low, ref.high], abs=1e-9)
    assert h.unique_per_attack == {"fgsm": 8, "pgd": 10}
    json.dumps(d)  # the CLI prints it


def test_headline_keeps_norms_apart_and_reports_misaligned_cells():
    rows = [cell("pgd", "stbp", range(5), norm="linf"), cell("pgd", "stbp", range(20), norm="l2")]
    heads = headline(rows)
    assert [(h.norm, h.n_robust) for h in heads] == [("l2", N - 20), ("linf", N - 5)]
    bad = cell("fgsm", "stbp", range(5), norm="linf")
    bad["per_input"] = dict(bad["per_input"], label=LABELS[1:] + LABELS[:1])
    with pytest.raises(ValueError, match="not aligned"):
        per_input_worst_case([rows[0], bad])
    errors: list[str] = []
    assert [h.norm for h in headline([rows[0], bad, rows[1]], errors=errors)] == ["l2"]
    assert len(errors) == 1 and "not aligned" in errors[0]


def test_strongest_needs_a_significant_paired_difference():
    many = [True] * 20 + [False] * 20
    few = [True] * 2 + [False] * 38
    assert strongest({"stbp": few, "rga": many}) == (["rga"], False)          # 18 vs 0 discordant: p < 1e-5
    close = [True] * 3 + [False] * 37
    assert strongest({"stbp": few, "rga": close}) == (["stbp", "rga"], True)  # 1 vs 0: p = 1
    # a third estimator far below the best is not part of the tie
    assert strongest({"stbp": few, "rga": many, "hart": many[:19] + [False] * 21}) == (["rga", "hart"], True)
    assert strongest({"stbp": [False] * 4, "rga": [False] * 4}) == ([], False)
    assert strongest({"stbp": few}) == ([], False)  # one estimator (an ANN's exact gradient): no comparison, no winner


# ------------------------------------------------------------------------------------------------ intervals
def test_cell_intervals_and_exports(tmp_path):
    c = cell("pgd", "stbp", range(7), clean_wrong={38, 39})
    counts = cell_counts(c)
    assert (counts.n, counts.n_correct, counts.n_success, counts.n_robust) == (N, N - 2, 7, N - 9)
    ci = cell_intervals(c)
    ref = binomtest(7, N - 2).proportion_ci(0.95, method="exact")
    assert ci["asr_ci"] == pytest.approx([ref.low, ref.high], abs=1e-9)
    assert ci["robust_accuracy_ci"] == list(clopper_pearson(N - 9, N))
    # without per-input arrays the counts come from the rates
    assert cell_counts(c | {"per_input": {}}) == counts
    assert cell_intervals(c | {"per_input": {}, "metrics": {}}) == {"asr_ci": None, "robust_accuracy_ci": None}
    with stored(tmp_path, [c]) as store:
        rows = store.rows()
    [exported] = json.loads(export_rows(rows, "json"))
    assert exported["metrics"]["asr_ci"] == ci["asr_ci"] and "per_input" not in exported
    [line] = list(csv.DictReader(io.StringIO(export_rows(rows, "csv"))))
    assert float(line["robust_accuracy_ci_low"]) == pytest.approx(ci["robust_accuracy_ci"][0])
    assert float(line["asr_ci_high"]) == pytest.approx(ci["asr_ci"][1])


# ------------------------------------------------------------------------------------------------ hygiene
def test_gradient_free_attack_beating_every_gradient_attack_is_flagged(tmp_path):
    grads = [cell("pgd", "stbp", range(5)), cell("pgd", "rga", range(3, 9)), cell("noise", "none", range(30, 33))]
    square = cell("square", "none", list(range(6)) + [20, 21])        # inputs 20, 21: no gradient attack fools them
    boundary = cell("boundary", "none", [0, 21, 22, 23])               # 21, 22, 23
    with stored(tmp_path, grads + [square, boundary]) as store:
        rows = store.rows()
    flags = [f for f in hygiene_flags(rows) if f.name == "gradient-free-wins"]
    assert len(flags) == 1 and flags[0].severity == "high"
    assert "4 of 40 clean-correct input(s)" in flags[0].message  # 20, 21, 22, 23
    assert set(flags[0].cells) == {"snn square/none eps=0.1 white-box: 2 input(s) no gradient attack fooled",
                                   "snn boundary/none eps=0.1 white-box: 3 input(s) no gradient attack fooled"}
    # the same square attack fooling only inputs a gradient attack also fools: no flag
    quiet = cell("square", "none", range(8), rid="quiet")
    assert [f for f in hygiene_flags(grads + [quiet]) if f.name == "gradient-free-wins"] == []
    # another eps or norm is another budget: not compared
    apart = cell("square", "none", [20, 21], eps=0.2)
    assert [f for f in hygiene_flags(grads + [apart]) if f.name == "gradient-free-wins"] == []


def test_adaptive_surrogate_beating_fixed_ensemble_beyond_noise_is_flagged(tmp_path):
    fixed = [cell("pgd", g, range(10)) for g in ("stbp", "bptr", "rga", "hart", "cba")]
    assg = cell("pgd", "assg", range(22))                               # 12 more inputs, none fewer: p < 0.001
    sapgd = cell("sapgd", "stbp", range(11))                            # 1 more: within the noise
    with stored(tmp_path, fixed + [assg, sapgd]) as store:
        rows = store.rows()
    [flag] = [f for f in hygiene_flags(rows) if f.name == "robustness-overestimated"]
    assert flag.severity == "high" and "fooled 12 input(s)" in flag.message and "the reverse: 0" in flag.message
    assert "25.0%" in flag.message and "55.0%" in flag.message          # 10/40 fixed only, 22/40 with them
    assert set(flag.cells) == {"snn pgd/assg eps=0.1 white-box", "snn sapgd/stbp eps=0.1 white-box"}
    assert [f for f in hygiene_flags(fixed + [sapgd]) if f.name == "robustness-overestimated"] == []
    near = cell("pgd", "assg", range(12), rid="near")                   # 2 more: p = 0.5
    assert [f for f in hygiene_flags(fixed + [near]) if f.name == "robustness-overestimated"] == []


def test_findings_of_one_kind_are_grouped_into_one_flag():
    cells = []
    for grad in ("stbp", "rga", "hart"):
        for eps, k in ((0.1, 4), (0.2, 3)):  # ASR falls with eps and stays low: one finding per estimator
            cells.append(cell("pgd", grad, range(k), eps=eps))
    findings = [f for f in hygiene_findings(cells) if f.name == "asr-not-saturating"]
    assert len(findings) == 3
    [flag] = [f for f in hygiene_flags(cells) if f.name == "asr-not-saturating"]
    assert flag.details == tuple(f"[medium] {f.message}" for f in findings)
    assert len(flag.cells) == 6 and "3 findings" in flag.message
    assert group_flags(findings[:1]) == findings[:1]  # a single finding stays as it is


# ------------------------------------------------------------------------------------------------ report
def test_report_structure_transfer_name_and_significant_bold(tmp_path):
    cells = [cell("pgd", "stbp", range(2)), cell("pgd", "rga", range(25)),          # rga beats stbp: bold
             cell("pgd", "stbp", range(20), eps=0.2), cell("pgd", "rga", range(21), eps=0.2),  # tie: no bold
             cell("pgd", "exact", range(5), scenario="cross:snn-i", source="snn-i")]
    models = [model("snn"), model("snn-i", neuron="if", converted_from="ann")]
    with stored(tmp_path, cells, models) as store:
        paths = write_report(store, tmp_path / "out")
    md = paths["markdown"].read_text()
    # the transfer section is named by what it holds: an SNN crafted against an SNN
    assert "## Cross-model transfer: SNN → SNN" in md and "ANN →" not in md and "→ ANN" not in md
    # empty sections are left out: no black-box cells, no shuffle analysis, no sweep
    for title in ("White-box vs black-box", "Spike-shuffle test", "ASR vs membrane decay", "ASR vs time steps"):
        assert f"## {title}" not in md
    assert md.index("## Headline") < md.index("## Evaluation hygiene") < md.index("## Models")
    hart = [line for line in md.splitlines() if line.startswith("| snn | pgd |")]
    assert len(hart) == 2
    assert "**62.5 [" in hart[0] and hart[0].count("**") == 2   # 25/40 vs 2/40: McNemar p < 1e-6
    assert "**" not in hart[1]                                   # 21 vs 20 of 40: a tie
    head = md[md.index("## Headline"):md.index("## Evaluation hygiene")]
    assert "| snn | 0.1 | 40 | " in head and "| rga |" in head and "tie: stbp = rga" in head
    low, high = clopper_pearson(N - 25, N)
    assert f"| {100 * (N - 25) / N:.1f} [{100 * low:.1f}, {100 * high:.1f}] |" in head

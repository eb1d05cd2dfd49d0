"""``[[evaluate]]`` tables: the standard evaluation in an experiment, its store records, the number to quote."""

from __future__ import annotations

import json

import pytest

from spikeattack.bench.experiment import ExperimentError, parse_experiment
from spikeattack.bench.runner import run_experiment
from spikeattack.cli.main import main
from spikeattack.results.quote import StoredEvaluation, grid_beats_standard, quote_flags, quotes
from spikeattack.results.store import ResultsStore

EXPERIMENT = """
name = "quote"
seed = 0
[data]
dataset = "digits"
limit = 24
[train]
epochs = 2
lr = 5e-3
[models.snn]
arch = "small_cnn"
timesteps = 2
arch_options = { channels = [4, 8], hidden = 16 }
[[grid]]
targets = ["snn"]
attacks = ["fgsm"]
estimators = ["stbp"]
eps = [0.1]
[[evaluate]]
targets = ["snn"]
eps = [0.1]
limit = 16
"""


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("quote")
    run_experiment(parse_experiment(EXPERIMENT), out, progress=False, log=lambda m: None)
    return out


def test_evaluate_tables_expand_per_target_and_eps():
    exp = parse_experiment(EXPERIMENT.replace("eps = [0.1]\nlimit = 16", "eps = [0.05, 0.1]"))
    assert [(e.target, e.eps, e.norm, e.version) for e in exp.evaluations] == [
        ("snn", 0.05, "Linf", "standard"), ("snn", 0.1, "Linf", "standard")]
    assert len({e.id(exp) for e in exp.evaluations}) == 2
    only = parse_experiment(EXPERIMENT[:EXPERIMENT.index("[[grid]]")] + EXPERIMENT[EXPERIMENT.index("[[evaluate]]"):])
    assert only.cells == [] and len(only.evaluations) == 1  # an experiment may be evaluations only


@pytest.mark.parametrize("change, key", [
    (("targets = [\"snn\"]\neps = [0.1]\nlimit", "targets = [\"nope\"]\neps = [0.1]\nlimit"), "evaluate.targets"),
    (("limit = 16", "limit = 99"), "evaluate.limit"),
    (("limit = 16", "limit = 16\nnorm = \"L3\""), "evaluate.norm"),
    (("limit = 16", "limit = 16\nversion = \"best\""), "evaluate.version"),
    (("eps = [0.1]\nlimit = 16", "eps = [0.0]\nlimit = 16"), "evaluate.eps"),
    (("limit = 16", "limit = 16\nsteps = 3"), "evaluate.steps"),
])
def test_bad_evaluate_tables_are_refused_by_key(change, key):
    with pytest.raises(ExperimentError, match=key.replace(".", r"\.")):
        parse_experiment(EXPERIMENT.replace(*change))


def test_evaluations_on_event_data_take_l0_budgets_only():
    text = EXPERIMENT.replace('dataset = "digits"', 'dataset = "nmnist-sim"').replace(
        'attacks = ["fgsm"]', 'attacks = ["spike-bim"]').replace("eps = [0.1]\n[[evaluate]]", "[[evaluate]]")
    with pytest.raises(ExperimentError, match=r"evaluate\.eps.*L0 budget"):  # a pixel budget on event frames
        parse_experiment(text)
    with pytest.raises(ExperimentError, match=r"evaluate\.norm.*L0"):
        parse_experiment(text.replace("eps = [0.1]\nlimit", 'eps = [8]\nnorm = "Linf"\nlimit'))
    (spec,) = parse_experiment(text.replace("eps = [0.1]\nlimit", 'eps = ["1%"]\nlimit')).evaluations
    assert (spec.eps, spec.norm, spec.minimal) == ("1%", "L0", False)


def test_the_run_stores_the_evaluation_with_per_input_records(run_folder):
    with ResultsStore(run_folder / "results.sqlite", readonly=True) as store:
        (entry,) = store.evaluations()
        rows = store.rows()
    ev = StoredEvaluation.from_stored(entry)
    assert (ev.target, ev.eps, ev.norm, ev.version, ev.n) == ("snn", 0.1, "linf", "standard", 16)
    # the stored flags equal an independent recomputation from the stored predictions
    assert ev.robust == ev.recomputed_robust()
    labels = rows[0]["per_input"]["label"][:16]
    assert ev.labels == labels  # the same first inputs as the grid
    assert 0 <= ev.n_robust <= sum(c == y for c, y in zip(ev.clean_pred, labels))


def test_a_rerun_skips_the_stored_evaluation(run_folder):
    with ResultsStore(run_folder / "results.sqlite", readonly=True) as store:
        before = [e["id"] for e in store.evaluations()]
    logs = []
    run_experiment(parse_experiment(EXPERIMENT), run_folder, progress=False, log=logs.append)
    with ResultsStore(run_folder / "results.sqlite", readonly=True) as store:
        assert [e["id"] for e in store.evaluations()] == before
    assert not any("standard evaluation" in line for line in logs)


def test_the_report_quotes_the_standard_evaluation(run_folder, capsys, tmp_path):
    assert main(["report", str(run_folder), "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (quote,) = [q for q in result["quote"] if q["target"] == "snn"]
    assert quote["source"] == "standard evaluation (standard)" and quote["n"] == 16
    assert quote["grid_robust_accuracy"] is not None
    markdown = (tmp_path / "report.md").read_text()
    assert markdown.index("## The number to quote") < markdown.index("## Headline: per-input worst-case robust")


def _evaluation(robust, labels, adv):
    records = [{"index": i, "label": y, "clean_pred": y, "robust": r, "adv_pred": None if r else a}
               for i, (r, y, a) in enumerate(zip(robust, labels, adv))]
    return {"id": "e1", "experiment": "x", "target": "snn", "eps": 0.1, "norm": "linf", "version": "standard",
            "seconds": 1.0, "result": {"records": records}}


def _row(labels, adv):
    return {"id": "c1", "experiment": "x", "target": "snn", "source": "snn", "scenario": "white-box",
            "attack": "fgsm", "grad": "stbp", "eps": 0.1, "config": {"attack_config": {"norm": "linf"}},
            "metrics": {"n": len(labels)}, "per_input": {"label": labels, "clean_pred": labels, "adv_pred": adv,
                                                        "target": None, "vanishing": [False] * len(labels)}}


def test_grid_breaking_what_the_standard_evaluation_left_robust_is_flagged():
    ev = StoredEvaluation.from_stored(_evaluation([True, True, False], [1, 2, 3], [1, 2, 0]))
    assert grid_beats_standard(ev, [_row([1, 2, 3, 4], [1, 2, 3, 4])]) == []
    assert grid_beats_standard(ev, [_row([1, 2, 3, 4], [0, 2, 3, 4])]) == [0]  # input 0 only the grid breaks
    with pytest.raises(ValueError, match="labels differ"):
        grid_beats_standard(ev, [_row([2, 2, 3, 4], [2, 2, 3, 4])])
    (quote,) = quotes([_row([1, 2, 3, 4], [0, 2, 3, 4])], [_evaluation([True, True, False], [1, 2, 3], [1, 2, 0])])
    assert quote.source.startswith("standard evaluation") and quote.robust_accuracy == pytest.approx(2 / 3)
    (flag,) = quote_flags([quote])
    assert flag.name == "grid-beats-standard" and flag.severity == "high" and "1 input(s)" in flag.message

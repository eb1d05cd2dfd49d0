"""Event inputs in experiment grids (issue 17, stage 2): L0 budgets in ``grid.eps`` (counts,
percentages, "none") with stable cell ids, ``[[evaluate]]`` event evaluations stored and quoted
like the image ones, per-input flips in the store, the report's flips section and the SDA
comparison of ``reproduce liang``. One tiny nmnist-sim run (4 time bins, an MLP) serves them."""

from __future__ import annotations

import json
import math

import pytest

from spikeattack.attacks.threat import spike_bim_eps
from spikeattack.bench.cells import attack_eps, row_eps
from spikeattack.bench.experiment import ExperimentError, parse_experiment
from spikeattack.bench.runner import run_experiment
from spikeattack.cli.main import main
from spikeattack.results.quote import quotes
from spikeattack.results.rows import row_problems, threat_model
from spikeattack.results.store import ResultsStore

ELEMENTS = 4 * 2 * 12 * 12
EXPERIMENT = """
name = "events"
seed = 0
[data]
dataset = "nmnist-sim"
time_bins = 4
limit = 16
[train]
epochs = 6
lr = 5e-3
[models.snn]
arch = "mlp"
[[grid]]
targets = ["snn"]
attacks = ["sda"]
estimators = ["pdsg", "stbp"]
eps = ["none", 4, "1%"]
params = { rounds = 20 }
[[grid]]
targets = ["snn"]
attacks = ["spike-bim"]
estimators = ["stbp"]
eps = ["none", 11]
params = { steps = 10 }
[[grid]]
targets = ["snn"]
attacks = ["retime"]
estimators = ["stbp"]
params = { tamper = "5%", steps = 10 }
[[evaluate]]
eps = ["1%"]
limit = 12
[[evaluate]]
eps = ["1%"]
minimal = true
limit = 12
"""


def validate(obj: dict, kind: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from spikeattack.cli.schemas import kind_schema

    jsonschema.Draft202012Validator(kind_schema(kind)).validate(obj)


def _grid(text: str) -> str:
    return EXPERIMENT[:EXPERIMENT.index("[[grid]]")] + text


# ---------------------------------------------------------------------------------------------- parsing
def test_l0_budgets_in_a_grid_become_cells():
    exp = parse_experiment(EXPERIMENT)
    sda = [(c.grad, c.eps) for c in exp.cells if c.attack == "sda"]
    assert sda == [(g, e) for e in (None, 4, "1%") for g in ("pdsg", "stbp")]
    bim = [c for c in exp.cells if c.attack == "spike-bim"]
    assert [c.eps for c in bim] == [None, 11]
    assert attack_eps(bim[1], ELEMENTS) == pytest.approx(spike_bim_eps(11, ELEMENTS))  # an L0 count, translated
    assert row_eps(bim[1], ELEMENTS) == 11 and row_eps(exp.cells[4], ELEMENTS) == math.floor(0.01 * ELEMENTS)
    assert [c.eps for c in exp.cells if c.attack == "retime"] == [None]
    ids = [c.id(exp) for c in exp.cells]
    assert len(set(ids)) == len(ids)  # "1%" and its count are different cells (one budget in the store)
    assert ids == [c.id(exp) for c in parse_experiment(EXPERIMENT).cells]  # stable
    # no eps key: SDA runs without a budget, one cell per estimator
    free = parse_experiment(_grid('[[grid]]\nattacks = ["sda"]\nestimators = ["pdsg"]\n'))
    assert [c.eps for c in free.cells] == [None]
    # spike-BIM's own size per point stays a float budget, as in the Liang presets
    own = parse_experiment(_grid('[[grid]]\nattacks = ["spike-bim"]\neps = [0.08]\n'))
    assert [c.eps for c in own.cells] == [0.08] and row_eps(own.cells[0], ELEMENTS) == 0.08


def test_image_cells_keep_their_ids():
    image = _grid('[[grid]]\nattacks = ["fgsm"]\neps = [0.1]\n').replace("nmnist-sim", "digits").replace(
        "time_bins = 4\n", "")
    (cell,) = parse_experiment(image).cells  # a float eps and the id's fields of before: the same id
    assert cell.eps == 0.1 and isinstance(cell.eps, float)
    assert set(cell.config(parse_experiment(image))) == {"target", "source", "scenario", "attack", "grad", "eps",
                                                          "params", "grad_params", "variant", "data", "seed",
                                                          "experiment"}


@pytest.mark.parametrize("grid, key", [
    ('attacks = ["sda"]\neps = [0.1]', "grid.eps"),
    ('attacks = ["sda"]\neps = ["150%"]', "grid.eps"),
    ('attacks = ["count-pgd"]\neps = [true]', "grid.eps"),
    ('attacks = ["sda"]\neps = ["lots"]', "grid.eps"),
    ('attacks = ["spike-bim"]\neps = [0.08, 11]', "grid.eps"),
    ('attacks = ["spike-bim"]\neps = [-1]', "grid.eps"),
])
def test_bad_l0_grid_budgets_name_the_key(grid, key):
    with pytest.raises(ExperimentError, match=rf"key '{key}'"):
        parse_experiment(_grid(f"[[grid]]\n{grid}\n"))


def test_percentages_are_refused_for_image_attacks():
    text = _grid('[[grid]]\nattacks = ["fgsm"]\neps = ["1%"]\n').replace("nmnist-sim", "digits").replace(
        "time_bins = 4\n", "")
    with pytest.raises(ExperimentError, match=r"key 'grid\.eps': fgsm takes a number"):
        parse_experiment(text)


@pytest.mark.parametrize("table, key", [
    ('eps = [0.1]', "evaluate.eps"),
    ('eps = ["0%"]', "evaluate.eps"),
    ('eps = [4]\nversion = "rand"', "evaluate.version"),
    ('eps = [4]\nminimal = "yes"', "evaluate.minimal"),
])
def test_bad_event_evaluate_tables_name_the_key(table, key):
    with pytest.raises(ExperimentError, match=rf"key '{key}'"):
        parse_experiment(_grid(f"[[evaluate]]\n{table}\n"))


def test_minimal_is_for_event_data_only():
    text = _grid('[[evaluate]]\neps = [0.1]\nminimal = true\n').replace("nmnist-sim", "digits").replace(
        "time_bins = 4\n", "")
    with pytest.raises(ExperimentError, match=r"key 'evaluate\.minimal'"):
        parse_experiment(text)


# ---------------------------------------------------------------------------------------------- running
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("events-bench")
    run_experiment(parse_experiment(EXPERIMENT), out, progress=False, log=lambda m: None)
    with ResultsStore(out / "results.sqlite", readonly=True) as store:
        return out, store.rows(), store.evaluations()


def test_event_rows_store_flips_per_input_and_the_budget_in_elements(run_folder):
    _, rows, _ = run_folder
    k = math.floor(0.01 * ELEMENTS)
    assert sorted({r["eps"] for r in rows if r["attack"] == "sda"}, key=lambda e: -1 if e is None else e) == \
        [None, 4, k]
    for r in rows:
        per = r["per_input"]
        assert not row_problems(r) and len(per["flips"]) == r["metrics"]["n"] == 16
        assert r["config"]["elements"] == ELEMENTS
        assert threat_model(r) == ("retime" if r["attack"] == "retime" else "l0")
        if r["eps"] is not None:  # every adversarial example within its budget
            assert max(per["flips"]) <= r["eps"]
        fooled = [f for f, y, c, a in zip(per["flips"], per["label"], per["clean_pred"], per["adv_pred"])
                  if c == y and a != y]
        assert all(f > 0 for f in fooled)
    # the budget as given stays in the config: "1%" and 11 are one budget with two cells
    assert {r["config"]["eps"] for r in rows if r["attack"] == "sda" and r["eps"] == k} == {"1%"}


def test_event_evaluations_are_stored_and_quoted(run_folder):
    _, rows, evaluations = run_folder
    k = math.floor(0.01 * ELEMENTS)
    assert sorted((e["norm"], e["eps"], e["result"]["minimal"]) for e in evaluations) == [("L0", k, False),
                                                                                          ("L0", k, True)]
    (quote,) = [q for q in quotes(rows, evaluations) if q.evaluation is not None]
    assert (quote.norm, quote.eps, quote.n) == ("l0", k, 12)
    assert quote.source == "event evaluation (standard+standard, minimal)"
    # the two evaluations of one budget are combined per input: robust only if robust under both
    per = [[r["robust"] for r in e["result"]["records"]] for e in evaluations]
    assert quote.evaluation.robust == [a and b for a, b in zip(*per)]
    # the grid's inputs are the evaluation's: its breaks are computed, per input
    grid = [r for r in rows if r["eps"] == k and r["scenario"] == "white-box"]
    broken = {i for r in grid for i in range(12) if r["per_input"]["adv_pred"][i] != r["per_input"]["label"][i]}
    assert set(quote.grid_breaks) == {i for i in broken if quote.evaluation.robust[i]}


def test_the_report_has_flips_columns_table_and_plot(run_folder, tmp_path, capsys):
    out, rows, _ = run_folder
    assert main(["report", str(out), "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    validate(result, "report")
    assert {q["norm"] for q in result["quote"]} == {"L0", "retime"}
    markdown = (tmp_path / "report.md").read_text()
    assert "## Flips (event attacks, L0)" in markdown and "| flips | flip rate (%) |" in markdown
    table = (tmp_path / "tables" / "flips.csv").read_text().splitlines()
    assert table[0].startswith("target,attack,estimator,eps,n,fooled (%)")
    assert any(line.startswith("snn,event evaluation,all stages") for line in table)
    assert not any(",retime," in line for line in table)  # retiming moves events: not an L0 attack
    if (tmp_path / "plots" / "flips_snn.png").exists():
        assert {p.suffix for p in (tmp_path / "plots").glob("flips_snn.*")} == {".png", ".pdf", ".svg"}
    assert main(["results", str(out), "--json"]) == 0  # stored rows leave the package spelled L0 / retime
    listed = json.loads(capsys.readouterr().out)
    validate(listed, "results")
    cells = listed["cells"]
    assert {c["config"]["attack_config"]["norm"] for c in cells} == {"L0", "retime"}
    assert main(["results", str(out), "--eps", "1%", "--json"]) == 0  # a percentage: resolved per row
    picked = json.loads(capsys.readouterr().out)["cells"]
    k = math.floor(0.01 * ELEMENTS)
    assert picked and all(c["eps"] == k for c in picked) and len(picked) == sum(r["eps"] == k for r in rows)


def test_reproduce_liang_adds_the_sda_comparison(tmp_path, capsys, monkeypatch):
    liang = _grid('[[grid]]\ntargets = ["snn"]\nattacks = ["spike-bim"]\nestimators = ["stbp"]\neps = [0.08]\n'
                  'params = { steps = 10 }\n[[grid]]\ntargets = ["snn"]\nattacks = ["sda"]\nestimators = ["pdsg"]\n'
                  'params = { rounds = 30 }\n').replace('name = "events"', 'name = "liang-small"')
    monkeypatch.setattr("spikeattack.cli.reproduce.preset_text", lambda name: liang)
    assert main(["reproduce", "liang", "--out", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    text = (tmp_path / "comparison.md").read_text()
    section = text[text.index("## Lun et al."):]
    (line,) = [ln for ln in section.splitlines() if ln.startswith("| snn |")]
    cells = [c.strip() for c in line.strip("|").split("|")]
    with ResultsStore(tmp_path / "results.sqlite", readonly=True) as store:
        rows = {r["attack"]: r for r in store.rows()}
    per_s, per_b = rows["sda"]["per_input"], rows["spike-bim"]["per_input"]
    idx = [i for i, y in enumerate(per_s["label"]) if per_s["clean_pred"][i] == y]
    both = [i for i in idx if per_s["adv_pred"][i] != per_s["label"][i] and per_b["adv_pred"][i] != per_b["label"][i]]
    assert cells[1] == str(len(idx)) and cells[5] == str(len(both))
    if both:  # the medians of an independent computation on the stored per-input flips
        import statistics

        ms = statistics.median(per_s["flips"][i] for i in both)
        mb = statistics.median(per_b["flips"][i] for i in both)
        assert cells[6] == f"{float(ms):g} / {float(mb):g}" and cells[7] == f"{ms / mb:.2f}"

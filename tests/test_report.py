"""Report layer: worst case over estimators, hygiene flags, report files, report/results CLI."""

from __future__ import annotations

import csv
import io
import json
import re
import sys

import pytest

from spikeattack.bench.experiment import parse_experiment
from spikeattack.results.hygiene import hygiene_flags
from spikeattack.results.report import HART_HEADER, PLOTS_HINT, write_report
from spikeattack.bench.runner import run_experiment
from spikeattack.results.store import ResultsStore
from spikeattack.results.headline import headline
from spikeattack.results.worstcase import per_attack_minimum, worst_case, worst_case_groups
from spikeattack.results.statistics import clopper_pearson
from spikeattack.results.output import public
from spikeattack.cli.main import main

EXPERIMENT = """
name = "tiny-report"
seed = 0
[data]
dataset = "digits"
limit = 40
[train]
epochs = 2
lr = 5e-3
[models.snn]
arch = "small_cnn"
timesteps = 4
decay = [0.5, 1.0]
arch_options = { channels = [8, 16], hidden = 32 }
[models.ann]
neuron = "relu"
arch_options = { channels = [8, 16], hidden = 32 }
[[grid]]
targets = ["snn"]
attacks = ["fgsm", "pgd"]
estimators = ["stbp", "rga"]
eps = [0.1, 0.3]
scenarios = ["white-box", "black-box"]
cross = ["ann"]
params = { steps = 3 }
[analyses]
spike_shuffle = true
"""

HEADER_LINE = "| " + " | ".join(HART_HEADER) + " |"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run_experiment(parse_experiment(EXPERIMENT, "tiny-report.toml"), out, device="cpu", progress=False,
                   log=lambda message: None)
    return out


@pytest.fixture(scope="module")
def stored(run_dir):
    with ResultsStore(run_dir / "results.sqlite") as store:
        return store.rows(), store.models(), store.analyses(kind="spike_shuffle")


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    paths = write_report(run_dir / "results.sqlite", out)
    return paths, paths["markdown"].read_text(), paths["html"].read_text()


# ------------------------------------------------------------------------------------------------ helpers
def kind(scenario: str) -> str:
    return "cross" if scenario.startswith("cross") else scenario


def independent_worst_case(rows):
    """Recomputed from per_input only: robust = clean-correct and correct under every row."""
    n = rows[0]["metrics"]["n"]
    label = rows[0]["per_input"]["label"]
    robust = 0
    correct = fooled = 0
    for i in range(n):
        clean_ok = all(r["per_input"]["clean_pred"][i] == label[i] for r in rows)
        adv_ok = all(r["per_input"]["adv_pred"][i] == label[i] for r in rows)
        robust += clean_ok and adv_ok
        if clean_ok:
            correct += 1
            fooled += any(r["per_input"]["adv_pred"][i] != label[i] for r in rows)
    return robust / n, (fooled / correct if correct else None)


def markdown_tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def split_row(line: str) -> list[str]:
    assert line.startswith("| ") or line.startswith("|-") or line.startswith("|:"), line
    assert line.endswith("|"), line
    cells = re.split(r"(?<!\\)\|", line[1:-1])
    return [c.strip() for c in cells]


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


# ------------------------------------------------------------------------------------------------ worst case
def test_worst_case_is_below_every_estimator_and_matches_recomputation(stored):
    rows, _, _ = stored
    groups = worst_case_groups(rows)
    assert {g.scenario for g in groups} == {"white-box", "black-box", "cross"}
    by_key: dict[tuple, list] = {}
    for r in rows:
        by_key.setdefault((r["target"], kind(r["scenario"]), r["attack"], r["eps"]), []).append(r)
    assert len(groups) == len(by_key)
    for g in groups:
        members = by_key[(g.target, g.scenario, g.attack, g.eps)]
        assert len(g.estimators) == len(members) == (1 if g.scenario == "cross" else 2)
        robust, asr = independent_worst_case(members)
        assert g.robust_accuracy == robust
        assert g.asr == asr
        for r in members:
            n = r["metrics"]["n"]
            own_robust = sum(a == y for a, y in zip(r["per_input"]["adv_pred"], r["per_input"]["label"])) / n
            assert g.robust_accuracy <= own_robust
            # the stored metric is a float32 mean: compare up to float32 rounding, not more
            assert g.robust_accuracy <= r["metrics"]["robust_accuracy"] + 1e-6
            assert g.per_estimator_asr[r["grad"]] == pytest.approx(r["metrics"]["asr"], abs=1e-6)
            assert g.asr >= g.per_estimator_asr[r["grad"]]
        assert set(g.fooled) == set(g.estimators)
        assert all(g.unique[e] <= g.fooled[e] for e in g.estimators)


def _sqlite_rows(path):
    """The cells straight from the SQLite file (no store code): (target, scenario, eps, per_input)."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return [(t, s, e, json.loads(p)) for t, s, e, p in
                conn.execute("SELECT target, scenario, eps, per_input FROM cells")]
    finally:
        conn.close()


def test_headline_is_the_per_input_worst_case_over_every_attack_and_estimator(stored, run_dir):
    rows, _, _ = stored
    groups = worst_case_groups(rows)
    heads = headline(rows)
    raw = _sqlite_rows(run_dir / "results.sqlite")
    targets = {r[0] for r in raw}
    assert {h.target for h in heads} == targets == {"snn@decay=0.5", "snn@decay=1.0"}
    assert len(heads) == 2 * len(targets)
    for h in heads:
        # independent recomputation from the sqlite rows: robust = clean-correct and correct under every cell
        white = [p for t, s, e, p in raw if t == h.target and s == "white-box" and abs(e - h.eps) < 1e-12]
        every = [p for t, s, e, p in raw if t == h.target and abs(e - h.eps) < 1e-12]
        assert len(white) == 4 == len(h.cells)  # 2 attacks x 2 estimators
        labels = white[0]["label"]
        robust = sum(all(p["clean_pred"][i] == y and p["adv_pred"][i] == y for p in white)
                     for i, y in enumerate(labels))
        robust_all = sum(all(p["clean_pred"][i] == y and p["adv_pred"][i] == y for p in every)
                         for i, y in enumerate(labels))
        assert h.n_robust == robust and h.robust_accuracy == robust / len(labels)
        assert h.n_robust_incl_transfer == robust_all and h.robust_accuracy_incl_transfer <= h.robust_accuracy
        assert h.to_dict()["robust_accuracy_ci"] == list(clopper_pearson(robust, len(labels)))
        low, high = h.to_dict()["robust_accuracy_ci"]
        assert low <= h.robust_accuracy <= high
        # never above any single cell (attack x estimator) or any per-attack worst case over estimators
        for p in white:
            own = sum(c == y and a == y for c, a, y in zip(p["clean_pred"], p["adv_pred"], p["label"])) / len(labels)
            assert h.robust_accuracy <= own
        same = [g for g in groups if g.scenario == "white-box" and g.target == h.target and g.eps == h.eps]
        assert len(same) == 2 and all(h.robust_accuracy <= g.robust_accuracy for g in same)
        assert h.per_attack_minimum == min(g.robust_accuracy for g in same)
        minimum = [m for m in per_attack_minimum(groups) if m["target"] == h.target and m["eps"] == h.eps]
        assert minimum[0]["robust_accuracy"] == h.per_attack_minimum and minimum[0]["attack"] == h.weakest_attack


def _row(grad, adv, *, n=None, label=(0, 1, 2, 3), clean=(0, 1, 2, 9), target=None, scenario="white-box",
         source="m", eps=0.1, rid=None):
    label, clean = list(label), list(clean)
    n = len(label) if n is None else n
    return {"id": rid or f"{grad}-{scenario}", "experiment": "e", "target": "m", "source": source,
            "scenario": scenario, "attack": "pgd", "grad": grad, "eps": eps, "config": {},
            "metrics": {"n": n, "asr": None, "vanishing": 0},
            "per_input": {"label": label, "clean_pred": clean, "adv_pred": list(adv),
                          "target": None if target is None else list(target), "vanishing": [False] * len(label)}}


def test_worst_case_synthetic_counts_and_errors():
    # input 3 is clean-wrong; stbp fools input 0, rga fools inputs 0 and 1; input 2 survives both
    wc = worst_case([_row("stbp", [5, 1, 2, 3]), _row("rga", [5, 7, 2, 3])])
    assert wc.robust_accuracy == 1 / 4          # only input 2; input 3 is adv-correct but clean-wrong
    assert wc.asr == 2 / 3
    assert wc.per_estimator_asr == {"stbp": 1 / 3, "rga": 2 / 3}
    assert wc.fooled == {"stbp": 1, "rga": 2} and wc.unique == {"stbp": 0, "rga": 1}
    # one input more is within the paired noise (McNemar p = 1): a tie, not "rga is strongest"
    assert wc.strongest == ["stbp", "rga"] and wc.tie and wc.strongest_estimator == "tie: stbp = rga"
    assert wc.robust_accuracy_ci == clopper_pearson(1, 4) and wc.asr_ci == clopper_pearson(2, 3)
    # strictly below each estimator's own robust accuracy (stbp 3/4, rga 2/4)
    assert wc.robust_accuracy < min(wc.per_estimator_robust_accuracy.values())
    # targeted: success means reaching the target class
    wt = worst_case([_row("stbp", [4, 1, 2, 3], target=[5, 5, 5, 5]), _row("rga", [5, 1, 2, 3], target=[5, 5, 5, 5])])
    assert wt.per_estimator_asr == {"stbp": 0.0, "rga": 1 / 3} and wt.robust_accuracy == 2 / 4
    with pytest.raises(ValueError, match="different numbers of inputs"):
        worst_case([_row("stbp", [0, 1, 2, 3]), _row("rga", [0, 1, 2], label=(0, 1, 2), clean=(0, 1, 2))])
    with pytest.raises(ValueError, match="not aligned"):
        worst_case([_row("stbp", [0, 1, 2, 3]), _row("rga", [0, 1, 2, 3], label=(1, 1, 2, 3))])
    with pytest.raises(ValueError, match="one .* group"):
        worst_case([_row("stbp", [0, 1, 2, 3]), _row("rga", [0, 1, 2, 3], scenario="black-box")])
    # white-box and black-box rows are never mixed
    groups = worst_case_groups([_row("stbp", [5, 1, 2, 3]), _row("stbp", [0, 7, 2, 3], scenario="black-box",
                                                                   source="m#seed1")])
    assert [(g.scenario, g.robust_accuracy) for g in groups] == [("white-box", 2 / 4), ("black-box", 2 / 4)]
    errors: list[str] = []
    assert worst_case_groups([_row("stbp", [0, 1, 2, 3]), _row("rga", [0], label=(0,), clean=(0,))],
                             errors=errors) == []
    assert len(errors) == 1 and "different numbers of inputs" in errors[0]


# ------------------------------------------------------------------------------------------------ hygiene
def _cell(target="snn", scenario="white-box", attack="pgd", grad="stbp", eps=0.1, asr=0.5, vanishing=0, n=40,
          eot=1, source=None):
    source = source or {"white-box": target, "black-box": f"{target}#seed1"}.get(scenario, scenario.split(":")[-1])
    return {"id": f"{target}-{scenario}-{attack}-{grad}-{eps}", "experiment": "e", "target": target, "source": source,
            "scenario": scenario, "attack": attack, "grad": grad, "eps": eps,
            "config": {"source": f"key-{source}", "grad_params": {}, "attack_config": {"eot": eot}},
            "metrics": {"n": n, "asr": asr, "vanishing": vanishing, "robust_accuracy": 1 - asr, "clean_accuracy": 1.0},
            "per_input": {}}


def _model(name, encoding="direct"):
    return {"key": f"key-{name}", "experiment": "e", "name": name, "clean_accuracy": 1.0, "info": {},
            "config": {"arch": "small_cnn", "neuron": "relu" if name == "ann" else "lif", "decay": 0.5,
                       "timesteps": 4, "encoding": encoding}}


def clean_cells():
    cells = []
    for grad in ("stbp", "rga"):
        for eps, wb, bb in ((0.1, 0.6, 0.3), (0.2, 0.9, 0.5), (0.3, 1.0, 0.7)):
            cells.append(_cell(grad=grad, eps=eps, asr=wb, vanishing=2))   # 2/40 = 5%: not above
            cells.append(_cell(grad=grad, eps=eps, asr=bb, scenario="black-box"))
    for eps, asr in ((0.1, 0.1), (0.2, 0.2), (0.3, 0.3)):
        cells.append(_cell(attack="noise", eps=eps, asr=asr))
        cells.append(_cell(grad="exact", eps=eps, asr=asr, scenario="cross:ann"))
    return cells


MODELS = [_model("snn"), _model("snn#seed1"), _model("ann")]


def _replace(cells, match: dict, **metrics):
    out = []
    for c in cells:
        if all(c[k] == v for k, v in match.items()):
            c = json.loads(json.dumps(c))
            for key, value in metrics.items():
                if key == "eot":
                    c["config"]["attack_config"]["eot"] = value
                else:
                    c["metrics"][key] = value
        out.append(c)
    return out


def test_hygiene_is_silent_on_clean_rows():
    assert hygiene_flags(clean_cells(), MODELS) == []


def test_hygiene_vanishing_gradients():
    cells = _replace(clean_cells(), {"grad": "stbp", "scenario": "white-box", "eps": 0.2, "attack": "pgd"},
                     vanishing=3)
    flags = hygiene_flags(cells, MODELS)
    assert [f.name for f in flags] == ["vanishing-gradients"]
    assert "stbp" in flags[0].message and "rga/hart" in flags[0].advice
    assert flags[0].cells == ("snn pgd/stbp eps=0.2 white-box: 3/40 vanishing",)


def test_hygiene_stochastic_encoder_without_eot():
    models = [_model("snn", "poisson"), _model("snn#seed1"), _model("ann")]
    flags = hygiene_flags(clean_cells(), models)
    assert [f.name for f in flags] == ["no-eot"]
    assert "poisson" in flags[0].message and len(flags[0].cells) == 6  # the white-box gradient cells crafted on snn
    assert all("white-box" in c for c in flags[0].cells)
    with_eot = _replace(clean_cells(), {"source": "snn"}, eot=8)
    assert hygiene_flags(with_eot, models) == []


def test_hygiene_transfer_or_noise_stronger_than_white_box():
    black = _replace(clean_cells(), {"scenario": "black-box", "grad": "rga", "eps": 0.1}, asr=0.7)
    flags = hygiene_flags(black, MODELS)
    assert [(f.name, f.severity) for f in flags] == [("gradient-masking", "high")]
    assert "snn pgd/rga eps=0.1 black-box from snn#seed1" in flags[0].cells
    # beating only the same estimator's white-box ASR (not the strongest) is a medium flag
    cells = _replace(clean_cells(), {"scenario": "white-box", "grad": "stbp", "eps": 0.1, "attack": "pgd"}, asr=0.2)
    flags = hygiene_flags(cells, MODELS)
    assert [(f.name, f.severity) for f in flags] == [("gradient-masking", "medium")]
    assert set(flags[0].cells) == {"snn pgd/stbp eps=0.1 black-box from snn#seed1", "snn pgd/stbp eps=0.1 white-box"}
    noise = _replace(clean_cells(), {"attack": "noise", "eps": 0.3}, asr=1.0 - 1e-12)  # not above 100%: silent
    assert hygiene_flags(noise, MODELS) == []
    noise = _replace(clean_cells(), {"scenario": "white-box", "attack": "pgd", "eps": 0.3}, asr=0.25)
    # the noise finding and the transfer findings are one grouped gradient-masking flag
    flags = [f for f in hygiene_flags(noise, MODELS) if f.name == "gradient-masking"]
    assert len(flags) == 1 and flags[0].severity == "high"
    assert sum("random-noise" in d for d in flags[0].details) == 1 and len(flags[0].details) >= 2
    assert "snn noise/stbp eps=0.3 white-box" in flags[0].cells


def test_hygiene_asr_not_saturating_or_not_monotone():
    low = _replace(clean_cells(), {"scenario": "white-box", "grad": "rga", "eps": 0.3, "attack": "pgd"}, asr=0.85)
    flags = hygiene_flags(low, MODELS)
    assert [f.name for f in flags] == ["asr-not-saturating"]
    assert "85.0%" in flags[0].message and "pgd/rga" in flags[0].message
    assert flags[0].advice.startswith("increase eps/steps")
    dip = _replace(clean_cells(), {"scenario": "white-box", "grad": "stbp", "eps": 0.2, "attack": "pgd"}, asr=0.95)
    dip = _replace(dip, {"scenario": "white-box", "grad": "stbp", "eps": 0.3, "attack": "pgd"}, asr=0.92)
    flags = hygiene_flags(dip, MODELS)
    assert [f.name for f in flags] == ["asr-not-saturating"]
    assert "falls from 95.0% at eps 0.2 to 92.0% at eps 0.3" in flags[0].message
    assert len(flags[0].cells) == 3


# ------------------------------------------------------------------------------------------------ report files
def test_report_files_and_sections(report, stored):
    paths, md, html = report
    rows, models, shuffles = stored
    assert paths["markdown"].is_file() and paths["html"].is_file()
    pngs = sorted(paths["plots"].glob("*.png"))
    assert pngs, "no plots written"
    for ref in re.findall(r"\]\((plots/[^)]+\.png)\)", md):
        assert (paths["markdown"].parent / ref).is_file(), ref
    assert "## Headline: per-input worst-case robust accuracy" in md
    head = section(md, "Headline")
    for h in headline(rows):
        low, high = clopper_pearson(h.n_robust, h.n)
        robust = f"{100 * h.robust_accuracy:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
        assert f"| {h.target} | {h.eps:g} | {h.n} | " in head and f" | {robust} | " in head
    assert md.index("## Headline") < md.index("## Models") < md.index("## Full results")
    assert "**Contents**" in md
    assert "1. [Headline: per-input worst-case robust accuracy](#headline-per-input-worst-case-robust-accuracy)" in md
    assert '<h2 id="headline-per-input-worst-case-robust-accuracy">' in html
    assert HEADER_LINE in md
    assert HEADER_LINE == "| target | attack | eps | scenario | CBA | BPTR | STBP | RGA | HART | worst case |"
    assert len(models) == 5
    for m in models:
        assert m["name"] in section(md, "Models")
    shuffle = section(md, "Spike-shuffle test")
    assert {a["subject"] for a in shuffles} == {"snn@decay=0.5", "snn@decay=1.0"}
    for a in shuffles:
        assert f"| {a['subject']} | {100 * a['result']['accuracy']:.2f} |" in shuffle
    assert "![" in section(md, "ASR vs membrane decay") and "λ=0.5" in section(md, "ASR vs membrane decay")
    assert "## ASR vs time steps" not in md  # no models differ only in T: the section is left out
    assert "## Cross-model transfer: ANN → SNN\n" in md  # named by what it holds: ANN-crafted against SNNs
    cross = section(md, "Cross-model transfer")
    assert sum(line.startswith("| snn@decay=") and "| SNN | ann | ANN |" in line for line in cross.splitlines()) == 8
    assert "black-box" in section(md, "White-box vs black-box")
    assert "## Evaluation hygiene" in md
    # the HTML embeds each figure as its SVG (sharp at any zoom); the PNG and PDF lie beside it
    assert html.count('<img src="data:image/svg+xml;base64,') == len(pngs)
    assert all(p.with_suffix(".svg").is_file() and p.with_suffix(".pdf").is_file() for p in pngs)
    assert "http://" not in html and "https://" not in html
    assert "Spike-shuffle test" in html and "<table>" in html


def test_markdown_tables_are_valid_gfm_and_bold_only_a_significant_best(report, stored):
    _, md, _ = report
    tables = markdown_tables(md)
    assert len(tables) >= 8
    for table in tables:
        header = split_row(table[0])
        separator = split_row(table[1])
        assert all(re.fullmatch(r":?-{3,}:?", s) for s in separator), table[1]
        assert len(separator) == len(header)
        for line in table[2:]:
            assert len(split_row(line)) == len(header), line
    hart = next(t for t in tables if t[0] == HEADER_LINE)
    assert len(hart) - 2 == 16  # 2 targets x 2 attacks x 2 eps x (white-box, black-box)
    rows = stored[0]
    for line in hart[2:]:
        cells = split_row(line)
        values = {j: c.strip("*") for j, c in enumerate(cells[4:9]) if c != "—"}
        assert set(values) == {2, 3}  # STBP and RGA ran, each with its interval
        for text in values.values():
            value, low, high = map(float, re.fullmatch(r"([\d.]+) \[([\d.]+), ([\d.]+)\]", text).groups())
            assert low <= value <= high
        # bold only when McNemar on the same inputs says one estimator fooled more (recomputed here)
        target, attack, eps, scenario = cells[0], cells[1], float(cells[2]), cells[3]
        pair = {r["grad"]: r for r in rows if r["target"] == target and r["attack"] == attack
                and r["scenario"] == scenario and abs(r["eps"] - eps) < 1e-12}
        label = pair["stbp"]["per_input"]["label"]
        ok = [i for i, y in enumerate(label) if all(pair[g]["per_input"]["clean_pred"][i] == y for g in pair)]
        fooled = {g: [pair[g]["per_input"]["adv_pred"][i] != label[i] for i in ok] for g in pair}
        only_s = sum(a and not b for a, b in zip(fooled["stbp"], fooled["rga"]))
        only_r = sum(b and not a for a, b in zip(fooled["stbp"], fooled["rga"]))
        bold = {j for j, c in enumerate(cells[4:9]) if c.startswith("**")}
        if scipy_mcnemar(only_s, only_r) < 0.05:
            assert bold == {2 if only_s > only_r else 3}
        else:
            assert bold == set()


def scipy_mcnemar(b: int, c: int) -> float:
    """Exact McNemar p-value as scipy's two-sided binomial test of b successes in b + c fair trials."""
    from scipy.stats import binomtest

    return 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue


def test_report_without_matplotlib_keeps_tables(run_dir, tmp_path, monkeypatch, capsys):
    from spikeattack.results.report import figure

    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(figure, "_notified", False)
    (tmp_path / "plots").mkdir()
    # files the report did not write stay, whatever their names (issue 18: it deleted plots/asr_vs_*)
    (tmp_path / "plots" / "asr_vs_eps_old.png").write_bytes(b"a plot named like ours, not written by a report")
    (tmp_path / "plots" / "users_own.png").write_bytes(b"not ours")
    paths = write_report(run_dir / "results.sqlite", tmp_path)
    write_report(run_dir / "results.sqlite", tmp_path)
    md, html = paths["markdown"].read_text(), paths["html"].read_text()
    assert PLOTS_HINT in md and "pip install spikeattack[plots]" in html
    assert HEADER_LINE in md and "data:image/" not in html and "![" not in md
    assert sorted(p.name for p in tmp_path.glob("plots/*")) == ["asr_vs_eps_old.png", "users_own.png"]
    assert (tmp_path / "tables" / "estimators.csv").is_file() and (tmp_path / "tables" / "estimators.tex").is_file()
    err = capsys.readouterr().err  # said once on stderr, not once per report
    assert err.count("matplotlib is not installed") == 1, err


def test_report_sweeps_over_timesteps_and_empty_sections(tmp_path):
    store = ResultsStore(tmp_path / "results.sqlite")
    config = {"arch": "small_cnn", "neuron": "lif", "decay": 0.5, "encoding": "direct"}
    for t in (4, 8):
        store.put_model(f"k{t}", "e", f"snn@timesteps={t}", "-", config | {"timesteps": t}, 0.9, {})
        for grad, asr in (("stbp", 0.5 + t / 100), ("hart", 0.6 + t / 100)):
            row = _row(grad, [5, 1, 2, 3], rid=f"{grad}{t}")
            row.update(target=f"snn@timesteps={t}", source=f"snn@timesteps={t}", metrics={"n": 4, "asr": asr,
                       "robust_accuracy": 0.5, "clean_accuracy": 0.75, "vanishing": 0})
            store.put(row["id"], row | {"seconds": 0.0})
    paths = write_report(store, tmp_path / "out")
    store.close()
    md = paths["markdown"].read_text()
    sweep = section(md, "ASR vs time steps")
    assert "| attack | scenario | estimator | eps | T=4 | T=8 |" in sweep
    line = next(line for line in sweep.splitlines() if line.startswith("| pgd | white-box | hart | 0.1 |"))
    assert re.fullmatch(r"\| pgd \| white-box \| hart \| 0.1 \| 64.0 \[[\d.]+, [\d.]+\] \| 68.0 \[[\d.]+, [\d.]+\] \|",
                        line), line
    assert "![" in sweep
    # sections without data are left out (and from the contents), not printed empty
    for title in ("White-box vs black-box", "Cross-model transfer", "Spike-shuffle test", "ASR vs membrane decay",
                  "ASR vs eps"):
        assert f"## {title}" not in md and f"[{title}" not in md
    contents = [line.split("](")[0].split("[", 1)[1] for line in md.splitlines() if re.match(r"\d+\. \[", line)]
    assert contents == [line[3:] for line in md.splitlines() if line.startswith("## ")]
    assert contents[0].startswith("Headline") and "ASR vs time steps" in contents
    # an empty store gives a report that says so once, with no empty section
    empty = ResultsStore(tmp_path / "empty.sqlite")
    paths = write_report(empty, tmp_path / "empty")
    empty.close()
    md = paths["markdown"].read_text()
    assert "no results and no models" in md and "## " not in md and "Contents" not in md
    assert "<h2" not in paths["html"].read_text()


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_report_json(run_dir, tmp_path, capsys, stored):
    assert main(["report", str(run_dir), "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["schema"] == "spikeattack/report/v1"
    assert result["report"]["markdown"] == str(tmp_path / "report.md") and (tmp_path / "report.html").is_file()
    assert result["headline"] == [public(h.to_dict()) for h in headline(stored[0])]
    assert all(len(h["robust_accuracy_ci"]) == 2 for h in result["headline"])
    assert result["cells"] == len(stored[0])
    assert main(["report", str(run_dir / "results.sqlite"), "--out", str(tmp_path), "--experiment", "nope"]) == 2
    assert "no results or models named 'nope'" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no run folder or results store" in capsys.readouterr().err


def test_cli_results_formats(run_dir, capsys, stored):
    rows = stored[0]
    assert main(["results", str(run_dir), "--grad", "rga", "--scenario", "white-box", "--format", "csv"]) == 0
    parsed = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    header, body = parsed[0], parsed[1:]
    expected = [r for r in rows if r["grad"] == "rga" and r["scenario"] == "white-box"]
    assert len(body) == len(expected) == 8
    assert {line[header.index("id")] for line in body} == {r["id"] for r in expected}
    assert main(["results", str(run_dir / "results.sqlite"), "--scenario", "cross", "--eps", "0.3",
                 "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)["cells"]
    assert len(cells) == 4 and all(c["scenario"] == "cross:ann" and c["eps"] == 0.3 for c in cells)
    assert main(["results", str(run_dir), "--target", "snn@decay=0.5", "--attack", "pgd"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["target", "source", "scenario", "attack", "grad", "eps"]
    assert len(lines) == 2 + 10 and all(line.startswith("snn@decay=0.5 ") for line in lines[2:])


@pytest.mark.parametrize("command", ["report", "results"])
def test_cli_help_has_example_lines(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert any(line.startswith("Example") for line in capsys.readouterr().out.splitlines())


def test_masking_flag_needs_a_paired_difference_beyond_the_noise():
    """With per-input outcomes, a transfer attack counts as stronger than the white-box one only
    when an exact McNemar test on the same inputs says so: 2 inputs more of 100 is noise (the
    demo's 86.3% vs 84.3% case), 30 inputs more is a masked gradient."""
    def cell(scenario, fooled):
        labels = [i % 10 for i in range(100)]
        adv = [(y + 1) % 10 if i < fooled else y for i, y in enumerate(labels)]
        row = _cell(scenario=scenario, grad="rga", eps=0.2, asr=fooled / 100)
        row["per_input"] = {"label": labels, "clean_pred": list(labels), "adv_pred": adv, "target": None}
        return row

    white = cell("white-box", 60)
    assert [f for f in hygiene_flags([white, cell("black-box", 62)], MODELS) if f.name == "gradient-masking"] == []
    flags = [f for f in hygiene_flags([white, cell("black-box", 90)], MODELS) if f.name == "gradient-masking"]
    assert [(f.name, f.severity) for f in flags] == [("gradient-masking", "high")]

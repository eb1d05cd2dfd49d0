"""Every ``--json`` output validates against its documented schema (issue 19).

Each command runs for real (tiny settings on the embedded digits data) and its one JSON
object is validated against ``output.schema.json`` (JSON Schema draft 2020-12, with
``unevaluatedProperties: false``: a field that is not documented fails). Beyond the schema:
floats carry at most 6 significant digits, ``norm`` is spelled ``Linf``/``L2``/``L0``, one key
name per concept across commands, ``grad`` says ``none``/``exact`` where no estimator ran, and
``docs/json-schemas.md`` holds exactly the field reference generated from the schema.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from spikeattack import __version__  # noqa: E402
from spikeattack.cli.main import main  # noqa: E402
from spikeattack.cli.schemas import VERSIONS, envelope, kind_schema, load_schema, schema_name  # noqa: E402
from spikeattack.cli.schemas.reference import BEGIN, END, markdown_reference  # noqa: E402
from spikeattack.evaluation import BUDGETS  # noqa: E402
from spikeattack.results.output import norm_name, public, round_significant  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRID = """
name = "{name}"
seed = 0
[data]
dataset = "digits"
limit = 12
[train]
epochs = 1
lr = 5e-3
[models.snn]
arch = "small_cnn"
timesteps = 2
arch_options = {{ channels = [4, 8], hidden = 16 }}
[[grid]]
targets = ["snn"]
attacks = ["fgsm"]
estimators = ["stbp", "rga"]
eps = [0.1, 0.2]
"""
SMALL_BUDGET = {"apgd_steps": 1, "restarts": 1, "targets": 1, "sapgd_steps": 1, "sapgd_restarts": 1,
                "mdse_steps": 1, "square_queries": 2, "square_p_init": 0.8, "fixed_apgd_steps": 0, "eot": 1, "escalation_rounds": 1, "escalation_sample": 4,
                "escalation_stages": 1, "escalation_tolerance": 0.0}
EVALUATE = """
[[evaluate]]
targets = ["snn"]
eps = [0.1]
limit = 6
"""
#: names a command used before issue 19, each renamed to the one name of its concept
OLD_NAMES = {"test_accuracy", "snn_accuracy", "ann_accuracy", "source_ann", "estimator", "markdown_path"}


def run(capsys, argv) -> dict:
    assert main(argv + ["--json", "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


def floats(value, path=""):
    """Every float in a JSON value, with where it is."""
    if isinstance(value, float):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from floats(v, f"{path}[{i}]")


def keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from keys(v)


def check(kind: str, obj: dict) -> dict:
    """``obj`` is a valid ``kind`` object: its own definition and the whole file (dispatch on ``schema``)."""
    assert obj["schema"] == schema_name(kind) and obj["spikeattack_version"] == __version__
    assert list(obj)[:2] == ["schema", "spikeattack_version"]
    jsonschema.Draft202012Validator(kind_schema(kind)).validate(obj)
    jsonschema.Draft202012Validator(load_schema()).validate(obj)
    for where, x in floats(obj):
        assert math.isfinite(x) and float(f"{x:.6g}") == x, (where, x)  # rounded once, at the boundary
    for key, value in keys(obj):
        assert key not in OLD_NAMES, key
        if key == "norm" and value is not None:
            assert value in ("Linf", "L2", "L0"), value
    return obj


def run_quiet(argv) -> dict:
    """``run`` for module-scoped fixtures (no capsys there): stdout read from a buffer."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(argv + ["--json", "--quiet"]) == 0
    out = buffer.getvalue().strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny SNN and ANN trained by the CLI (and the two ``train`` objects)."""
    folder = tmp_path_factory.mktemp("json")
    snn, ann = folder / "snn.pt", folder / "ann.pt"
    common = ["--dataset", "digits", "--epochs", "1", "--width", "0.25", "--lr", "5e-3", "--limit-train", "256"]
    outputs = {"train": run_quiet(["train", *common, "--timesteps", "2", "--out", str(snn)]),
               "train-ann": run_quiet(["train", *common, "--ann", "--out", str(ann)])}
    return folder, snn, ann, outputs


# ---------------------------------------------------------------------------------------------- the schema itself
def test_the_schema_is_valid_and_documents_every_field():
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"]["enum"] == [schema_name(k) for k in VERSIONS]

    def undocumented(node, where):
        for name, sub in (node.get("properties") or {}).items():
            if name in ("schema", "spikeattack_version") or not isinstance(sub, dict):
                continue
            if not sub.get("description"):
                yield f"{where}.{name}"
            yield from undocumented(sub, f"{where}.{name}")
            if isinstance(sub.get("items"), dict):
                yield from undocumented(sub["items"], f"{where}.{name}[]")

    missing = [w for key, node in schema["$defs"].items() for w in undocumented(node, key)]
    assert not missing, missing


def test_docs_page_holds_the_generated_field_reference():
    page = (ROOT / "docs" / "json-schemas.md").read_text(encoding="utf-8")
    assert BEGIN in page and END in page
    block = BEGIN + page.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"
    assert block == markdown_reference(), "run: python -m spikeattack.cli.schemas.reference docs/json-schemas.md"
    for kind in VERSIONS:
        assert f"`{schema_name(kind)}`" in page
    for example in page.split("```json")[1:]:  # the page's examples are valid outputs
        jsonschema.Draft202012Validator(load_schema()).validate(json.loads(example.split("```")[0]))


def test_public_values_are_rounded_and_norms_spelled_one_way():
    assert public({"linf": 0.10000002384185791, "robust_accuracy": 0.05000000074505806, "n": 40,
                   "norm": "linf", "ci": (0.00126508949795, 0.248732762772)}) == {
        "linf": 0.1, "robust_accuracy": 0.05, "n": 40, "norm": "Linf", "ci": [0.00126509, 0.248733]}
    assert [norm_name(n) for n in ("linf", "LINF", "Linf", "l2", "L2", "spikes", "l0", None)] == \
        ["Linf", "Linf", "Linf", "L2", "L2", "L0", "L0", None]
    assert round_significant(float("nan")) is None and round_significant(123456789.0) == 123457000.0
    assert public({"norm": "spikes", "x": True, "y": None}) == {"norm": "L0", "x": True, "y": None}
    with pytest.raises(ValueError, match="set here"):
        envelope("attack", {"schema": "mine"})
    with pytest.raises(ValueError, match="kind"):
        schema_name("nope")


# ---------------------------------------------------------------------------------------------- every command
def test_train_and_convert(models, capsys, tmp_path):
    folder, snn, ann, outputs = models
    train = check("train", outputs["train"])
    assert train["checkpoint"] == str(snn) and train["n"] == 450 and train["kind"] == "lif"
    low, high = train["clean_accuracy_ci"]
    assert low <= train["clean_accuracy"] <= high
    assert check("train", outputs["train-ann"])["kind"] == "ann"
    out = tmp_path / "converted.pt"
    convert = check("convert", run(capsys, ["convert", str(ann), "--timesteps", "8", "--calibration", "64",
                                            "--limit", "40", "--out", str(out)]))
    assert convert["checkpoint"] == str(out) and convert["ann_checkpoint"] == str(ann) and convert["n"] == 40
    for prefix in ("", "ann_"):
        low, high = convert[f"{prefix}clean_accuracy_ci"]
        assert low <= convert[f"{prefix}clean_accuracy"] <= high


def test_eval_and_the_standard_evaluation(models, capsys, monkeypatch):
    _, snn, _, _ = models
    result = check("eval", run(capsys, ["eval", str(snn), "--limit", "30"]))
    assert result["checkpoint"] == str(snn) and result["n"] == 30
    monkeypatch.setitem(BUDGETS, "standard", SMALL_BUDGET)
    std = check("standard-evaluation", run(capsys, ["evaluate", str(snn), "--eps", "0.1", "--norm", "l2",
                                                    "--version", "standard", "--limit", "8"]))
    assert std["norm"] == "L2" and std["checkpoint"] == str(snn) and len(std["records"]) == 8
    assert std["converged"] in (True, False) and std["convergence"]["sample"] <= 4
    assert {s["grad"] for s in std["stages"]} >= {"assg", "hart", "mdse", "none"}
    assert all(s["config"]["norm"] == "L2" for s in std["stages"])
    broken = sum(not r["robust"] and r["clean_pred"] == r["label"] for r in std["records"])
    correct = sum(r["clean_pred"] == r["label"] for r in std["records"])
    assert std["asr"] == (round_significant(broken / correct) if correct else None)


@pytest.mark.parametrize("argv, grad, norm", [
    (["--attack", "pgd", "--grad", "rga", "--eps", "8/255", "--steps", "2"], "rga", "Linf"),
    (["--attack", "pgd", "--eps", "0.5", "--steps", "2", "--norm", "L2"], "stbp", "L2"),
    (["--attack", "square", "--eps", "0.1", "--steps", "5"], "none", "Linf"),
    (["--attack", "boundary", "--steps", "5"], "none", "L2"),
    (["--attack", "fgsm", "--eps", "0.1", "--targeted", "given", "--target-class", "3"], "stbp", "Linf"),
])
def test_attack(models, capsys, argv, grad, norm):
    _, snn, _, _ = models
    result = check("attack", run(capsys, ["attack", str(snn), "--limit", "16", *argv]))
    assert result["grad"] == grad and result["norm"] == norm and result["checkpoint"] == str(snn)
    assert result["scenario"] == "white-box" and result["source"] is None
    for rate in ("clean_accuracy", "robust_accuracy", "asr"):
        if result[rate] is not None:
            low, high = result[f"{rate}_ci"]
            assert low <= result[rate] <= high
    if "--targeted" in argv:
        assert result["targeted"] == "given" and result["target_class"] == 3
    if "boundary" in argv:
        assert "minimal_perturbation" in result


def test_attack_from_an_ann_source_reports_its_exact_gradient(models, capsys):
    _, snn, ann, _ = models
    argv = ["attack", str(snn), "--attack", "fgsm", "--eps", "0.1", "--limit", "16", "--source", str(ann),
            "--targeted", "least-likely"]
    result = check("attack", run(capsys, argv))
    assert result["grad"] == "exact" and result["config"]["grad"] == {"name": "exact"}
    assert result["scenario"] == "transfer" and result["source"] == str(ann)
    assert main(argv + ["--quiet"]) == 0  # the one-line summary says what ran
    line = capsys.readouterr().out
    assert "targeted (least-likely)" in line and f"black-box transfer from {ann}" in line and "[95% CI" in line


def test_bench_report_results_demo_reproduce(models, capsys, tmp_path, monkeypatch):
    exp = tmp_path / "tiny.toml"
    exp.write_text(GRID.format(name="tiny"))
    bench = check("bench", run(capsys, ["bench", str(exp), "--out", str(tmp_path / "run")]))
    assert bench["computed"] == 4 and bench["report"]["tables"] == str(tmp_path / "run" / "tables")
    report = check("report", run(capsys, ["report", str(tmp_path / "run"), "--out", str(tmp_path / "rep")]))
    assert report["cells"] == 4 and len(report["headline"]) == 2 and report["experiment"] is None
    assert all(h["norm"] == "Linf" for h in report["headline"])
    for argv in (["--json"], ["--format", "json"]):
        assert main(["results", str(tmp_path / "run"), *argv]) == 0
        results = check("results", json.loads(capsys.readouterr().out))
        assert len(results["cells"]) == 4
        assert all(c["config"]["attack_config"]["norm"] == "Linf" for c in results["cells"])
    assert main(["results", str(tmp_path / "run"), "--format", "csv"]) == 0  # CSV: rounded the same way
    for line in list(csv.DictReader(io.StringIO(capsys.readouterr().out))):
        for key in ("robust_accuracy", "linf", "l2", "asr_ci_low", "robust_accuracy_ci_high"):
            assert line[key] == "" or float(f"{float(line[key]):.6g}") == float(line[key]) and len(line[key]) <= 12
    monkeypatch.setitem(BUDGETS, "standard", SMALL_BUDGET)
    monkeypatch.setattr("spikeattack.cli.demo.preset_text", lambda name: GRID.format(name="demo") + EVALUATE)
    demo = check("demo", run(capsys, ["demo", "--out", str(tmp_path / "demo")]))
    assert demo["experiment"] == "demo" and len(demo["headline"]) == 2
    assert [(q["target"], q["eps"], q["n"], q["norm"]) for q in demo["quote"]] == [("snn", 0.1, 6, "Linf")]
    report = check("report", run(capsys, ["report", str(tmp_path / "demo"), "--out", str(tmp_path / "rep2")]))
    assert {q["source"] for q in report["quote"]} == {"standard evaluation (standard)", "grid worst case"}
    monkeypatch.setattr("spikeattack.cli.reproduce.preset_text", lambda name: GRID.format(name=name))
    repro = check("reproduce", run(capsys, ["reproduce", "hart", "--out", str(tmp_path / "hart")]))
    assert repro["paper"] == "hart" and repro["scale"] == "small" and Path(repro["comparison"]).is_file()

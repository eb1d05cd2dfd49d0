"""Event inputs on the command line (issue 17, stage 2): ``evaluate --norm L0`` runs the event
evaluation and prints the standard evaluation's JSON shape; ``attack`` runs SDA, count-frame PGD
and spike retiming with their budgets from the flags; bad L0 budgets are one-line errors naming the
flag (exit 2, nothing written). Tiny MLPs trained by the CLI on ``nmnist-sim`` (4 time bins)."""

from __future__ import annotations

import json
import math

import pytest

from spikeattack.attacks.threat import Budget, spike_bim_eps
from spikeattack.cli.main import main
from spikeattack.cli.schemas import kind_schema
from spikeattack.evaluation import event_evaluation
from spikeattack.evaluation.convergence import ConvergenceReport, EscalationRound
from spikeattack.training import load_checkpoint

from helpers import assert_one_line_error, run_cli, snapshot

jsonschema = pytest.importorskip("jsonschema")

ELEMENTS = 4 * 2 * 12 * 12  # nmnist-sim at 4 time bins: T*C*H*W
TRAIN = ["train", "--dataset", "nmnist-sim", "--arch", "mlp", "--time-bins", "4", "--epochs", "8",
         "--limit-train", "1000", "--lr", "5e-3", "--quiet"]


def quiet_main(argv):
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(argv) == 0
    return buffer.getvalue()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``(folder, binary-frame model, count-frame model, image model)`` checkpoints."""
    folder = tmp_path_factory.mktemp("events-cli")
    binary, counts, image = folder / "ev.pt", folder / "evc.pt", folder / "img.pt"
    quiet_main(TRAIN + ["--out", str(binary)])
    quiet_main(TRAIN + ["--frames", "count", "--out", str(counts)])
    quiet_main(["train", "--dataset", "digits", "--epochs", "1", "--width", "0.25", "--timesteps", "2",
                "--limit-train", "256", "--quiet", "--out", str(image)])
    return folder, binary, counts, image


def run_json(capsys, argv, kind):
    code, out, err = run_cli(argv + ["--json", "--quiet"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, lines
    obj = json.loads(lines[0])
    jsonschema.Draft202012Validator(kind_schema(kind)).validate(obj)
    return obj


# ---------------------------------------------------------------------------------------------- evaluate
def test_evaluate_norm_l0_runs_the_event_evaluation_in_the_standard_shape(models, capsys):
    _, binary, _, _ = models
    out = run_json(capsys, ["evaluate", str(binary), "--norm", "L0", "--eps", "1%", "--limit", "16"],
                   "standard-evaluation")
    k = math.floor(0.01 * ELEMENTS)
    assert (out["eps"], out["budget"], out["elements"], out["norm"]) == (k, "1%", ELEMENTS, "L0")
    assert out["frames"] == "binary" and out["version"] == "standard" and out["minimal"] is False
    assert [s["attack"] for s in out["stages"]][:4] == ["sda", "sda", "sda", "spike-bim"]
    assert out["converged"] in (True, False) and out["hart_gamma"] is None
    assert len(out["records"]) == out["n"] == 16
    robust = [r["robust"] for r in out["records"]]
    assert out["robust_accuracy"] == pytest.approx(sum(robust) / 16)
    for r in out["records"]:
        if not r["robust"] and r["clean_pred"] == r["label"]:
            assert 0 < r["flips"] <= k and r["adv_pred"] != r["label"]
    low, high = out["robust_accuracy_ci"]
    assert low <= out["robust_accuracy"] <= high
    # the same numbers as the library on the same frames
    model, _ = load_checkpoint(binary)
    from spikeattack.data import load_dataset

    x, y = load_dataset("nmnist-sim", time_bins=4).split("test", limit=16)
    direct = event_evaluation(model, x, y, eps="1%", seed=0, progress=False)
    assert direct.robust_accuracy == pytest.approx(out["robust_accuracy"], abs=1e-6)
    assert [r.robust for r in direct.records] == robust
    code, text, _ = run_cli(["evaluate", str(binary), "--norm", "L0", "--eps", "1%", "--limit", "16", "--quiet"],
                            capsys)
    assert code == 0 and text.startswith(f"event evaluation (standard, L0, eps={k} of {ELEMENTS} elements = 1%")
    assert "[95% CI" in text


def test_an_event_evaluation_that_did_not_converge_says_so(models, capsys, monkeypatch):
    _, binary, _, _ = models
    moving = ConvergenceReport(False, 4, 0.0, [EscalationRound(1, 2, ["sda/pdsg"], 4, 2, 0.1)])
    monkeypatch.setattr("spikeattack.evaluation.events.certify", lambda *a, **k: moving)
    code, text, _ = run_cli(["evaluate", str(binary), "--norm", "L0", "--eps", "3", "--limit", "8", "--quiet"],
                            capsys)
    assert code == 0
    first, second = text.strip().splitlines()
    assert "robust accuracy at most" in first
    assert second.startswith("NOT CONVERGED: the last escalation round (x2 iterations) still broke 2 of 4")


def test_minimal_reports_each_inputs_minimal_flips(models, capsys):
    _, binary, _, _ = models
    out = run_json(capsys, ["evaluate", str(binary), "--minimal", "--limit", "12"], "standard-evaluation")
    assert out["minimal"] is True and out["budget"] == "100%" and out["eps"] == ELEMENTS
    q = out["minimal_flips"]
    fooled = [r["minimal_flips"] for r in out["records"] if r["minimal_flips"] is not None]
    assert q["fooled"] == len(fooled) > 0 and q["q10"] <= q["q50"] <= q["q90"] <= max(fooled)
    assert sorted(fooled)[(len(fooled) - 1) // 2] == q["q50"]  # lower interpolation: a count some input needed
    code, text, _ = run_cli(["evaluate", str(binary), "--minimal", "--eps", "4", "--limit", "12", "--quiet"], capsys)
    assert code == 0 and f"minimal flips on the {q['fooled']} of" in text.splitlines()[1]


def test_count_frames_get_the_count_cascade(models, capsys):
    _, _, counts, _ = models
    out = run_json(capsys, ["evaluate", str(counts), "--eps", "6", "--version", "standard", "--limit", "8"],
                   "standard-evaluation")  # an event model: --norm defaults to L0
    assert out["frames"] == "count" and out["norm"] == "L0" and out["eps"] == 6
    assert [s["attack"] for s in out["stages"]][:3] == ["count-pgd-ce", "count-pgd-cw", "count-pgd-ce"]


# ---------------------------------------------------------------------------------------------- attack
def test_attack_sda_reports_flips_and_minimal_quantiles(models, capsys):
    _, binary, _, _ = models
    free = run_json(capsys, ["attack", str(binary), "--attack", "sda", "--limit", "16",
                             "--attack-param", "rounds=40"], "attack")
    assert free["grad"] == "pdsg" and free["norm"] == "L0" and free["eps"] is None and free["budget"] is None
    assert free["elements"] == ELEMENTS and free["config"]["rounds"] == 40
    q = free["minimal_flips"]
    correct = round(free["clean_accuracy"] * 16)
    assert q["n"] == correct and q["fooled"] == round(free["asr"] * correct)
    assert 0 < q["q10"] <= q["q50"] <= q["q90"]
    budgeted = run_json(capsys, ["attack", str(binary), "--attack", "sda", "--eps", "1%", "--grad", "stbp",
                                 "--limit", "16", "--attack-param", "rounds=40"], "attack")
    k = math.floor(0.01 * ELEMENTS)
    assert (budgeted["eps"], budgeted["budget"], budgeted["config"]["eps"]) == (k, "1%", "1%")
    assert budgeted["minimal_flips"]["q90"] is None or budgeted["minimal_flips"]["q90"] <= k
    code, text, _ = run_cli(["attack", str(binary), "--attack", "sda", "--eps", "1%", "--limit", "16", "--quiet",
                             "--attack-param", "rounds=40"], capsys)
    assert code == 0 and f"L0 eps={k} of {ELEMENTS} elements = 1%" in text and "flip rate" in text


def test_attack_count_pgd_and_spike_bim_under_l0(models, capsys):
    _, binary, counts, _ = models
    out = run_json(capsys, ["attack", str(counts), "--attack", "count-pgd", "--eps", "8", "--limit", "12"], "attack")
    assert (out["eps"], out["budget"], out["norm"]) == (8, 8, "L0") and out["flips"] <= 8
    bim = run_json(capsys, ["attack", str(binary), "--attack", "spike-bim", "--norm", "L0", "--eps", "30",
                            "--limit", "12"], "attack")
    assert bim["eps"] == 30 and bim["config"]["eps"] == pytest.approx(spike_bim_eps(30, ELEMENTS), rel=1e-5)
    assert bim["flips"] <= 30
    own = run_json(capsys, ["attack", str(binary), "--attack", "spike-bim", "--eps", "0.05", "--limit", "12"],
                   "attack")  # without --norm L0: Liang et al.'s size per point, as before
    assert own["eps"] == 0.05 and "budget" not in own


def test_attack_retime_keeps_counts_within_its_budgets(models, capsys):
    _, binary, _, _ = models
    out = run_json(capsys, ["attack", str(binary), "--attack", "retime", "--jitter", "1", "--tamper", "5%",
                            "--limit", "12"], "attack")
    b = out["retime"]
    assert out["norm"] == "retime" and out["eps"] is None
    assert (b["jitter"], b["delay"], b["tamper"]) == (1, None, "5%")
    assert b["counts_kept"] is True and b["max_jitter"] <= 1
    assert b["mean_tampered"] <= 0.05 * b["mean_events"] + 1e-9  # each input: floor(5% of its events)
    assert b["mean_delay"] == pytest.approx(b["mean_tampered"])   # jitter 1: every moved event moved one bin


# ---------------------------------------------------------------------------------------------- bad input
BAD = [
    (["evaluate", "{ev}", "--norm", "L0", "--eps", "0.5"], "evaluate", "--eps"),
    (["evaluate", "{ev}", "--norm", "L0", "--eps", "150%"], "evaluate", "--eps"),
    (["evaluate", "{ev}", "--norm", "L0", "--eps", "x%"], "evaluate", "--eps"),
    (["evaluate", "{ev}", "--norm", "L0"], "evaluate", "--eps"),
    (["evaluate", "{ev}", "--norm", "linf", "--version", "standard", "--eps", "0.1"], "evaluate", "--norm"),
    (["evaluate", "{ev}", "--norm", "L0", "--version", "rand", "--eps", "4"], "evaluate", "--version"),
    (["evaluate", "{img}", "--norm", "L0", "--eps", "4"], "evaluate", "--norm"),
    (["evaluate", "{img}", "--minimal", "--eps", "0.1"], "evaluate", "--minimal"),
    (["evaluate", "{img}", "--version", "standard", "--eps", "1%"], "evaluate", "--eps"),
    (["attack", "{ev}", "--attack", "sda", "--eps", "0.5"], "attack", "--eps"),
    (["attack", "{ev}", "--attack", "sda", "--eps", "200%"], "attack", "--eps"),
    (["attack", "{ev}", "--attack", "sda", "--norm", "linf"], "attack", "--norm"),
    (["attack", "{ev}", "--attack", "sda", "--jitter", "2"], "attack", "--jitter"),
    (["attack", "{ev}", "--attack", "count-pgd", "--eps", "-3"], "attack", "--eps"),
    (["attack", "{ev}", "--attack", "retime", "--eps", "4"], "attack", "--eps"),
    (["attack", "{ev}", "--attack", "retime", "--tamper", "200%"], "attack", "--tamper"),
    (["attack", "{ev}", "--attack", "retime", "--jitter", "0"], "attack", "--jitter"),
    (["attack", "{ev}", "--attack", "spike-bim", "--eps", "1%"], "attack", "--eps"),
    (["attack", "{img}", "--attack", "pgd", "--eps", "1%"], "attack", "--eps"),
    (["attack", "{img}", "--attack", "pgd", "--eps", "0.1", "--norm", "l0"], "attack", "--norm"),
    (["attack", "{img}", "--attack", "sda"], "attack", "--attack"),
    (["attack", "{img}", "--attack", "spike-bim", "--norm", "l0", "--eps", "4"], "attack", "--norm"),
]


@pytest.mark.parametrize("argv, command, flag", BAD)
def test_bad_event_budgets_are_one_line_errors_and_write_nothing(models, capsys, argv, command, flag):
    folder, binary, _, image = models
    before = snapshot(folder)
    argv = [a.format(ev=binary, img=image) for a in argv] + ["--limit", "4", "--json"]
    code, out, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, command, flag)
    assert out == "" and snapshot(folder) == before


def test_budget_parsing_keeps_percentages_for_l0():
    from spikeattack.cli.common import budget, image_budget, l0_budget

    assert budget("8/255") == pytest.approx(8 / 255) and budget("1%") == "1%"
    assert l0_budget(budget("64")) == 64 and l0_budget(budget(" 2.5 %")) == "2.5%" and l0_budget(None) is None
    assert Budget.parse(l0_budget(budget("1%"))).resolve(ELEMENTS) == math.floor(0.01 * ELEMENTS)
    with pytest.raises(ValueError, match="^--eps: an L0 budget"):
        l0_budget(budget("8/255"))
    with pytest.raises(ValueError, match="^--eps: 1% is an L0 budget"):
        image_budget("1%")

"""The peer suite's bookkeeping (perf/peers, perf/vs_peers.py): two tiny foreign SNNs built the
suite's way (a SpikingJelly soft-reset IF MLP run step by step, an snnTorch tutorial-5 MLP with
membrane readout), a handful of digits inputs, cheap budgets. Every verdict is recomputed
independently with the raw network's own forward."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("spikingjelly")
pytest.importorskip("snntorch")
pytest.importorskip("torchattacks")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "perf"))

from peers import suite  # noqa: E402
from peers.build import build_one  # noqa: E402
from peers.cascade_sim import Evidence, Stage, peer_check, simulate  # noqa: E402
from peers.execute import run  # noqa: E402
from peers.models import native_logits  # noqa: E402
from peers.report import missed  # noqa: E402
from peers.runner import Context, Record  # noqa: E402

EPS, N = 0.05, 12
TINY = {
    "tiny-sj-softreset": {
        "about": "test", "framework": "spikingjelly", "builder": "SoftResetMLP",
        "kwargs": {"in_features": 64, "hidden": 16}, "dataset": "digits", "T": 4, "time": "step",
        "readout": "mean", "encoding": "direct", "input_shape": (1, 8, 8), "loss": "ce", "seed": 0,
        "train": {"epochs": 4, "batch": 64, "lr": 1e-2},
    },
    "tiny-snn-membrane": {
        "about": "test", "framework": "snntorch", "builder": "Tutorial5Net",
        "kwargs": {"num_inputs": 64, "num_hidden": 16, "num_steps": 4}, "dataset": "digits", "T": 4,
        "time": "inside", "readout": "membrane", "encoding": "direct", "input_shape": (1, 8, 8), "seed": 0,
        "train": {"epochs": 4, "batch": 64, "lr": 1e-2},
    },
}
CATALOG = {
    "pgd": {"kind": "attack", "attack": "pgd", "grad": "stbp", "steps": 5},
    "apgd-t": {"kind": "targeted", "attack": "apgd", "loss": "dlr", "grad": "rga", "steps": 3, "targets": 2},
    "pgd-r2": {"kind": "restart", "base": "pgd"},
    "sapgd@pgd": {"kind": "warm", "from": "pgd", "attack": "sapgd", "grad": "assg", "steps": 3},
    "square": {"kind": "square", "queries": 15},
    "aa": {"kind": "autoattack", "steps": 3, "queries": 15},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("peers")
    saved = dict(suite.SUITE)
    suite.SUITE.update(TINY)
    try:
        metas = {name: build_one(name, root / "weights") for name in TINY}
        yield root, metas
    finally:
        suite.SUITE.clear()
        suite.SUITE.update(saved)


@pytest.fixture(scope="module", params=list(TINY))
def records(request, built):
    root, _ = built
    saved = dict(suite.SUITE)
    suite.SUITE.update(TINY)
    try:
        ctx = Context(request.param, EPS, N, weights=root / "weights", results=root / "results")
        recs = {name: run(ctx, name, CATALOG, save_adv=True) for name in CATALOG}
        yield ctx, recs
    finally:
        suite.SUITE.clear()
        suite.SUITE.update(saved)


def test_build_checks_wrap_against_the_native_loop(built):
    _, metas = built
    for meta in metas.values():
        assert meta["clean_accuracy"] > 0.5
        assert meta["wrap_check"]["prediction_agreement"] == 1.0
        assert meta["wrap_check"]["max_abs_logit_diff"] < 1e-4


def test_records_are_consistent(records):
    ctx, recs = records
    for rec in recs.values():
        assert rec.n == N and len(rec.broken) == len(rec.cost) == len(rec.clean_correct) == N
        assert all(c for c, b in zip(rec.clean_correct, rec.broken) if b)  # broken => clean-correct
        assert all(cost == 0 for c, cost in zip(rec.clean_correct, rec.cost) if not c)
        assert rec.robust == sum(c and not b for c, b in zip(rec.clean_correct, rec.broken))
    assert sum(recs["pgd"].broken) > 0 and recs["pgd"].robust > 0  # the budget separates the inputs


def test_verdicts_match_the_raw_networks_own_forward(records):
    ctx, recs = records
    saved = torch.load(ctx.folder / "pgd.adv.pt", weights_only=True)
    with torch.no_grad():
        wrong = native_logits(ctx.net, ctx.spec, saved["x_adv"]).argmax(-1) != ctx.y[saved["idx"]]
    assert (saved["x_adv"] - ctx.x[saved["idx"]]).abs().max() <= EPS + 1e-6
    expected = torch.zeros(N, dtype=torch.bool)
    expected[saved["idx"][wrong]] = True
    assert recs["pgd"].broken == expected.int().tolist()


def test_composites_contain_their_base_and_costs_add(records):
    _, recs = records
    base = np.array(recs["pgd"].broken, dtype=bool)
    for name in ("pgd-r2", "sapgd@pgd"):
        rec = recs[name]
        assert (np.array(rec.broken, dtype=bool) >= base).all()
        assert (np.array(rec.cost) >= np.array(recs["pgd"].cost) - 1e-9).all()
        assert rec.extra["second_run_broke"] == int(np.array(rec.broken).sum() - base.sum())


def test_targeted_and_square_bookkeeping(records):
    _, recs = records
    t = recs["apgd-t"]
    at = np.array(t.extra["broken_at"])
    assert ((at >= 0) == np.array(t.broken, dtype=bool)).all()
    per = np.array(t.extra["cost_targets"])
    assert np.allclose(per.sum(0), t.cost, atol=1e-5)
    assert (per[1][at == 0] == 0).all()  # broken at the first target: not attacked again
    sq = recs["square"]
    q = np.array(sq.extra["queries"])
    clean = np.array(sq.clean_correct, dtype=bool)
    robust = clean & ~np.array(sq.broken, dtype=bool)
    assert (q[robust] == 1 + CATALOG["square"]["queries"]).all()  # never fooled: every query spent
    assert (q[~clean] == 0).all() and (q[clean] >= 1).all()


def test_autoattack_components_account_for_every_break(records):
    _, recs = records
    aa = recs["aa"]
    comps = aa.extra["components"]
    assert sum(c["broke"] for c in comps.values()) == sum(aa.broken)
    assert comps["apgd-ce"]["attacked"] == sum(aa.clean_correct)


def test_runs_resume_from_their_records(records):
    ctx, recs = records
    stamp = ctx.path("pgd").stat().st_mtime_ns
    again = run(ctx, "pgd", CATALOG, save_adv=True)
    assert again.broken == recs["pgd"].broken and ctx.path("pgd").stat().st_mtime_ns == stamp


def test_missed_and_simulated_cascade_match_independent_sets(records):
    ctx, recs = records
    pgd, square, t = recs["pgd"], recs["square"], recs["apgd-t"]
    expected = [i for i in range(N) if square.broken[i] and pgd.clean_correct[i] and not pgd.broken[i]]
    assert missed(square, pgd) == expected
    ev = Evidence(ctx.name, EPS, N, np.array(pgd.clean_correct, dtype=bool),
                  {n: Stage(np.array(r.broken, dtype=bool), np.array(r.cost)) for n, r in recs.items()},
                  {"pgd": pgd})
    robust, cpu, trace = simulate(ev, ["pgd", "apgd-t", "square"])
    b = [np.array(r.broken, dtype=bool) for r in (pgd, t, square)]
    assert (robust == (ev.clean & ~b[0] & ~b[1] & ~b[2])).all()
    alive0, alive1 = ev.clean, ev.clean & ~b[0]
    alive2 = alive1 & ~b[1]
    want = sum(float(np.array(r.cost)[a].sum()) for r, a in zip((pgd, t, square), (alive0, alive1, alive2)))
    assert cpu == pytest.approx(want)
    assert [x[2] for x in trace] == [int((a & bb).sum()) for a, bb in zip((alive0, alive1, alive2), b)]
    check = peer_check(ev, robust, cpu)
    assert check["peer_only"] == 0 and check["ok_robust"]


def test_standard_evaluation_record(built):
    root, _ = built
    saved = dict(suite.SUITE)
    suite.SUITE.update(TINY)
    try:
        ctx = Context("tiny-sj-softreset", EPS, 8, weights=root / "weights", results=root / "results-std")
        rec = run(ctx, "standard", {"standard": {"kind": "standard"}})
    finally:
        suite.SUITE.clear()
        suite.SUITE.update(saved)
    assert rec.robust == round(rec.extra["robust_accuracy"] * 8)
    first = rec.extra["first_stage"]
    assert [f >= 0 for f in first] == [bool(b) for b in rec.broken]
    assert isinstance(Record.load(ctx.path("standard")).extra["stages"], list)


def test_standard_evaluation_keeps_every_input_sapgd_or_torchattacks_apgd_ce_breaks(built):
    """The issue's bar on two small foreign models: no input broken by SA-PGD + ASSG alone (its
    published 100 steps) or by torchattacks' APGD-CE (100 steps, the net's own autograd) survives
    the standard evaluation (its default, parameter-free budgets)."""
    root, _ = built
    catalog = {"sapgd-assg-100": {"kind": "attack", "attack": "sapgd", "grad": "assg", "steps": 100},
               "ta-apgd-ce": {"kind": "autoattack", "components": ["apgd-ce"], "steps": 100},
               "standard": {"kind": "standard"}}
    saved = dict(suite.SUITE)
    suite.SUITE.update(TINY)
    try:
        for name in TINY:
            ctx = Context(name, EPS, 2 * N, weights=root / "weights", results=root / "results-bar")
            recs = {recipe: run(ctx, recipe, catalog) for recipe in catalog}
            standard = np.array(recs["standard"].broken, dtype=bool)
            for peer in ("sapgd-assg-100", "ta-apgd-ce"):
                broken = np.array(recs[peer].broken, dtype=bool)
                assert broken.any(), (name, peer)  # the peer breaks something, so the check can fail
                assert not (broken & ~standard).any(), (name, peer, np.flatnonzero(broken & ~standard))
    finally:
        suite.SUITE.clear()
        suite.SUITE.update(saved)

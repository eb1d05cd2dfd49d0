"""Evaluation hygiene: warning signs that a robustness number is overstated.

AutoAttack-style sanity checks for ANN evaluations (Croce & Hein 2020; Carlini et al.
2019, "On evaluating adversarial robustness"), adapted to spiking models. Each check reads
only stored rows (and the models' configs) and returns :class:`Flag` objects that name the
cells involved:

1. ``vanishing-gradients`` — an estimator whose input gradient was all zero for more than
   5 % of the inputs of some cell (``metrics.vanishing / metrics.n``; the ``noise`` baseline,
   which computes no gradient, is skipped). Spiking nets with
   silent layers give STBP/BPTR no gradient at all; an attack with no gradient fails and
   the model looks robust.
2. ``no-eot`` — a cell crafted on a model with a stochastic encoder (``poisson`` or
   ``bernoulli`` encoding) with ``eot == 1`` in ``config["attack_config"]``: one noise
   sample per gradient is a noisy, weak attack.
3. ``gradient-masking`` — for the same target, attack and eps, a transfer attack
   (black-box source or a ``cross:`` source) has a higher ASR than the white-box attack
   with the same estimator, or the ``noise`` baseline (random signs of the same size) has a
   higher ASR than a white-box gradient attack at that eps — beyond the paired noise (exact
   McNemar on the same inputs) where the cells carry per-input outcomes. Severity ``high`` when it beats
   the *strongest* white-box estimator (then the headline worst case overstates robustness),
   ``medium`` when only some estimators are beaten.
4. ``asr-not-saturating`` — for each white-box (target, attack, estimator) with at least
   two eps values: the ASR at the largest eps is below 90 %, or the ASR is not
   non-decreasing in eps. (The ``noise`` baseline and attacks without an eps are skipped.)
5. ``gradient-free-wins`` — per (target, norm, eps), white-box: a gradient-free attack
   (``square``: score-based, Andriushchenko et al. 2020; ``boundary``: decision-based,
   Brendel et al. 2018) fools clean-correct inputs that *no* gradient attack with any
   estimator fools at that budget. A gradient-free attack needs no gradient, so this is the
   classic sign of masked gradients (Croce & Hein 2020 run Square for this reason). Cells
   without an eps (minimal-perturbation runs) are not compared.
6. ``robustness-overestimated`` — per (target, norm, eps), white-box: the cells of a surrogate
   that follows the victim fool more of the same inputs than the fixed-surrogate ensemble
   (every other gradient attack with ``stbp``, ``bptr``, ``rga``, ``hart``, ``cba`` or
   ``exact``) by more than the paired noise (exact McNemar, two-sided 5%): numbers from the
   fixed-surrogate ensemble alone overestimated robustness. Two such categories, each tested
   on its own: the *adaptive* surrogate (estimator ``assg`` or attack ``sapgd``, Wang et al.
   2025: stateful, it learns its shape during the attack) and the *potential-dependent* one
   (estimator ``pdsg``, Lun et al. 2025: stateless, a Gaussian whose width is the spread of
   the victim's membrane potential, recomputed per call). The event evaluation's stages (SDA
   with PDSG, STBP, HART) fall in these same categories; its records are checked against the
   grid by ``grid-beats-standard`` (:mod:`.quote`).

Rules 1-4 compare rates strictly (``>``, ``<``) up to 1e-9 float noise with no statistical
tolerance, so with small ``limit`` a one-input difference can raise them; rule 5 counts
inputs; rule 6 is a paired test. Read the flagged cells before concluding.

:func:`hygiene_flags` returns one flag per kind: the findings of a kind are grouped into one
:class:`Flag` (highest severity, every affected cell, one ``details`` line per finding);
:func:`hygiene_findings` returns them one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .statistics import compare_paired
from .robust import broken_mask, clean_correct
from .output import norm_name
from .rows import CellRecord, attack_base, budget_key, eps_key, estimator_label, format_eps, scenario_kind

VANISHING_SHARE = 0.05
MIN_ASR_AT_LARGEST_EPS = 0.9
STOCHASTIC_ENCODINGS = ("poisson", "bernoulli")
NOISE_ATTACK = "noise"
TOL = 1e-9

VANISHING_ADVICE = ("use a rate-path estimator (rga/hart) or raise the penultimate threshold; "
                    "vanishing gradients overstate robustness")
EOT_ADVICE = ("attack with expectation over transformation (attack param eot = 8 or more, or --eot) so the gradient "
              "averages the encoder's noise; a single sample overstates robustness")
MASKING_ADVICE = ("a transfer or random-noise attack should not beat a white-box gradient attack: the white-box "
                  "gradient is masked or the attack is too weak; try other estimators (rga/hart), more steps, "
                  "random restarts, and quote the per-input worst case over all attacks")
EPS_ADVICE = "increase eps/steps; non-monotone or saturating-low ASR suggests masked gradients"
GRADIENT_FREE_ADVICE = ("a gradient-free attack should not fool inputs that every gradient attack misses: the gradient "
                        "is masked (vanishing, shattered or stochastic); quote the per-input worst case including the "
                        "gradient-free attack, and try rate-path estimators (rga/hart), ASSG, more steps and EOT")
OVERESTIMATED_ADVICE = ("quote the per-input worst case with the adaptive (assg / sapgd) or potential-dependent "
                        "(pdsg) surrogate included; the fixed-surrogate numbers alone overestimate robustness "
                        "(Wang et al. 2025; Lun et al. 2025)")
GRADIENT_FREE_ATTACKS = ("square", "boundary")
ADAPTIVE_ESTIMATORS = ("assg",)
ADAPTIVE_ATTACKS = ("sapgd",)
#: surrogates shaped by the victim's membrane potential, per call (stateless): PDSG (Lun et al. 2025)
POTENTIAL_DEPENDENT_ESTIMATORS = ("pdsg",)
FIXED_SURROGATE_ESTIMATORS = ("stbp", "bptr", "rga", "hart", "cba", "exact")
SEVERITY_RANK = {"high": 0, "medium": 1}


@dataclass(frozen=True)
class Flag:
    """One hygiene warning: ``severity`` is ``high`` or ``medium``; ``cells`` names the cells involved."""

    name: str
    severity: str
    message: str
    advice: str
    cells: tuple[str, ...] = field(default_factory=tuple)
    details: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity, "message": self.message, "advice": self.advice,
                "cells": list(self.cells), "details": list(self.details)}


def describe_cell(row: dict[str, Any]) -> str:
    """``snn pgd/stbp eps=0.1 white-box`` or ``snn pgd/stbp eps=0.1 black-box from snn#seed1``."""
    text = f"{row['target']} {row['attack']}/{estimator_label(row)} eps={format_eps(row['eps'])} {row['scenario']}"
    if row["source"] != row["target"]:
        text += f" from {row['source']}"
    return text


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def vanishing_flags(rows: Iterable[dict[str, Any]], threshold: float = VANISHING_SHARE) -> list[Flag]:
    """Rule 1: per estimator, the cells where more than ``threshold`` of the inputs had an all-zero gradient."""
    by_grad: dict[str, list[dict]] = {}
    for r in rows:
        if r["attack"].split("@")[0] != NOISE_ATTACK:  # the noise baseline computes no gradient
            by_grad.setdefault(r["grad"], []).append(r)
    flags = []
    for grad, group in by_grad.items():
        bad = [r for r in group if r["metrics"].get("n") and (r["metrics"].get("vanishing") or 0) / r["metrics"]["n"]
               > threshold + TOL]
        if not bad:
            continue
        total_n = sum(r["metrics"]["n"] for r in group)
        total_v = sum(r["metrics"].get("vanishing") or 0 for r in group)
        worst = max(bad, key=lambda r: r["metrics"]["vanishing"] / r["metrics"]["n"])
        share = worst["metrics"]["vanishing"] / worst["metrics"]["n"]
        cells = tuple(f"{describe_cell(r)}: {r['metrics']['vanishing']}/{r['metrics']['n']} vanishing" for r in bad)
        flags.append(Flag(
            "vanishing-gradients", "high" if share > 0.5 else "medium",
            f"estimator {grad}: all-zero input gradient for {_pct(total_v / total_n if total_n else 0)} of the inputs "
            f"over its {len(group)} cells; above {threshold:.0%} in {len(bad)} cell(s), worst {_pct(share)} "
            f"({describe_cell(worst)})",
            VANISHING_ADVICE, cells))
    return flags


def _model_lookup(models: Iterable[dict[str, Any]]) -> tuple[dict, dict]:
    by_key, by_name = {}, {}
    for m in models:
        by_key[m.get("key")] = m
        by_name[(m.get("experiment"), m["name"])] = m
        by_name.setdefault((None, m["name"]), m)
    return by_key, by_name


def source_model(row: dict[str, Any], by_key: dict, by_name: dict) -> dict[str, Any] | None:
    """The crafting model of a row: by the config's model key, else by experiment and name."""
    key = (row.get("config") or {}).get("source")
    if key in by_key:
        return by_key[key]
    return by_name.get((row.get("experiment"), row["source"])) or by_name.get((None, row["source"]))


def eot_flags(rows: Iterable[dict[str, Any]], models: Iterable[dict[str, Any]]) -> list[Flag]:
    """Rule 2: cells crafted on a stochastic-encoder model with ``eot == 1`` (one flag per crafting model)."""
    by_key, by_name = _model_lookup(models)
    bad: dict[str, list[dict]] = {}
    encodings: dict[str, str] = {}
    for r in rows:
        if r["attack"].split("@")[0] == NOISE_ATTACK:
            continue
        model = source_model(r, by_key, by_name)
        encoding = ((model or {}).get("config") or {}).get("encoding")
        if encoding not in STOCHASTIC_ENCODINGS:
            continue
        eot = ((r.get("config") or {}).get("attack_config") or {}).get("eot", 1)
        if eot is None or int(eot) <= 1:
            bad.setdefault(r["source"], []).append(r)
            encodings[r["source"]] = encoding
    return [Flag("no-eot", "high",
                 f"model {source} has a stochastic {encodings[source]} encoder but {len(cells)} cell(s) crafted on it "
                 f"use eot = 1 (one noise sample per gradient)",
                 EOT_ADVICE, tuple(describe_cell(r) for r in cells))
            for source, cells in bad.items()]


def _stronger(a: dict[str, Any], b: dict[str, Any], level: float = 0.05) -> bool:
    """Whether cell ``a`` reached its goal on more inputs than cell ``b``: beyond the paired
    noise (exact McNemar on the inputs both targets classify correctly) where both carry
    per-input outcomes on the same inputs, else (older stores) by ASR alone."""
    pa, pb = a.get("per_input") or {}, b.get("per_input") or {}
    if pa.get("adv_pred") is None or pb.get("adv_pred") is None or pa.get("label") != pb.get("label"):
        return a["metrics"]["asr"] > b["metrics"]["asr"] + TOL
    idx = [i for i, y in enumerate(pa["label"]) if pa["clean_pred"][i] == y and pb["clean_pred"][i] == y]
    sa, sb = CellRecord.from_row(a).success, CellRecord.from_row(b).success
    return compare_paired([sa[i] for i in idx], [sb[i] for i in idx], level=level).verdict == "a"


def masking_flags(rows: Iterable[dict[str, Any]]) -> list[Flag]:
    """Rule 3: transfer or random-noise attacks stronger than the white-box attack for the same
    target/attack/eps, beyond the paired noise (:func:`_stronger`)."""
    rows = list(rows)
    white: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        if r["scenario"] == "white-box" and r["attack"].split("@")[0] != NOISE_ATTACK and r["metrics"].get("asr") is not None:
            white.setdefault((r.get("experiment", ""), r["target"], r["attack"], eps_key(r["eps"])), {})[
                estimator_label(r)] = r
    flags = []
    # transfer (black-box / cross) against the white-box cells of the same target, attack and eps
    for r in rows:
        if r["scenario"] == "white-box" or r["metrics"].get("asr") is None:
            continue
        wb = white.get((r.get("experiment", ""), r["target"], r["attack"], eps_key(r["eps"])))
        if not wb:
            continue
        asr = r["metrics"]["asr"]
        best = max(wb.values(), key=lambda c: c["metrics"]["asr"])
        same = wb.get(estimator_label(r))
        beaten = [c for c in wb.values() if _stronger(r, c)]
        if best in beaten:
            flags.append(Flag(
                "gradient-masking", "high",
                f"{scenario_kind(r['scenario'])} transfer ASR {_pct(asr)} ({describe_cell(r)}) is higher than the "
                f"strongest white-box estimator's {_pct(best['metrics']['asr'])} ({describe_cell(best)})",
                MASKING_ADVICE, (describe_cell(r),) + tuple(describe_cell(c) for c in beaten)))
        elif same is not None and same in beaten:
            flags.append(Flag(
                "gradient-masking", "medium",
                f"{scenario_kind(r['scenario'])} transfer ASR {_pct(asr)} ({describe_cell(r)}) is higher than the "
                f"white-box ASR {_pct(same['metrics']['asr'])} with the same estimator ({describe_cell(same)}); "
                f"the strongest white-box estimator ({_pct(best['metrics']['asr'])}, {describe_cell(best)}) is not beaten",
                MASKING_ADVICE, (describe_cell(r), describe_cell(same))))
    # the random-noise baseline against every white-box gradient attack at the same eps
    noise: dict[tuple, dict] = {}
    for r in rows:
        if r["attack"].split("@")[0] == NOISE_ATTACK and r["metrics"].get("asr") is not None:
            key = (r.get("experiment", ""), r["target"], eps_key(r["eps"]))
            if key not in noise or r["metrics"]["asr"] > noise[key]["metrics"]["asr"]:
                noise[key] = r
    for (experiment, target, attack, eps), wb in white.items():
        nr = noise.get((experiment, target, eps))
        if nr is None:
            continue
        asr = nr["metrics"]["asr"]
        beaten = [c for c in wb.values() if _stronger(nr, c)]
        if not beaten:
            continue
        best = max(wb.values(), key=lambda c: c["metrics"]["asr"])
        strongest_beaten = best in beaten
        flags.append(Flag(
            "gradient-masking", "high" if strongest_beaten else "medium",
            f"random-noise ASR {_pct(asr)} ({describe_cell(nr)}) is higher than white-box {attack} with "
            + ", ".join(f"{estimator_label(c)} ({_pct(c['metrics']['asr'])})" for c in beaten)
            + (" — every estimator" if strongest_beaten else ""),
            MASKING_ADVICE, (describe_cell(nr),) + tuple(describe_cell(c) for c in beaten)))
    return flags


def eps_flags(rows: Iterable[dict[str, Any]], min_asr: float = MIN_ASR_AT_LARGEST_EPS) -> list[Flag]:
    """Rule 4: white-box ASR that is below ``min_asr`` at the largest eps, or decreases as eps grows."""
    series: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["scenario"] != "white-box" or r["eps"] is None or r["attack"].split("@")[0] == NOISE_ATTACK:
            continue
        if r["metrics"].get("asr") is None:
            continue
        series.setdefault((r.get("experiment", ""), r["target"], r["attack"], estimator_label(r)), []).append(r)
    flags = []
    for (_, target, attack, grad), cells in series.items():
        by_eps: dict[float, dict] = {}
        for c in cells:
            by_eps[eps_key(c["eps"])] = c
        if len(by_eps) < 2:
            continue
        ordered = [by_eps[e] for e in sorted(by_eps)]
        problems = []
        last = ordered[-1]
        if last["metrics"]["asr"] < min_asr - TOL:
            problems.append(f"ASR at the largest eps {format_eps(last['eps'])} is {_pct(last['metrics']['asr'])} "
                            f"(< {min_asr:.0%})")
        drops = [(a, b) for a, b in zip(ordered, ordered[1:]) if b["metrics"]["asr"] < a["metrics"]["asr"] - TOL]
        for a, b in drops:
            problems.append(f"ASR falls from {_pct(a['metrics']['asr'])} at eps {format_eps(a['eps'])} to "
                            f"{_pct(b['metrics']['asr'])} at eps {format_eps(b['eps'])}")
        if problems:
            flags.append(Flag("asr-not-saturating", "medium",
                              f"white-box {attack}/{grad} on {target}: " + "; ".join(problems),
                              EPS_ADVICE, tuple(f"{describe_cell(c)}: ASR {_pct(c['metrics']['asr'])}" for c in ordered)))
    return flags


_attack_base = attack_base


def _budget_groups(rows: Iterable[dict[str, Any]]) -> dict[tuple, list[dict]]:
    """White-box rows with an eps and per-input predictions, by (experiment, target, norm, eps)."""
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        per = r.get("per_input") or {}
        if r["scenario"] != "white-box" or r["eps"] is None or per.get("adv_pred") is None:
            continue
        out.setdefault(budget_key(r), []).append(r)
    return out


def _broken(rows: list[dict], idx: list[int]) -> list[bool]:
    """Per clean-correct input (``idx``): misclassified after some row's adversarial example."""
    labels = rows[0]["per_input"]["label"]
    broken = broken_mask(labels, [r["per_input"]["adv_pred"] for r in rows])
    return [broken[i] for i in idx]


def _clean_correct(rows: list[dict]) -> list[int] | None:
    labels = rows[0]["per_input"]["label"]
    if any(r["per_input"]["label"] != labels for r in rows):
        return None  # not aligned: the worst-case section reports it
    correct = clean_correct(labels, [r["per_input"]["clean_pred"] for r in rows])
    return [i for i, ok in enumerate(correct) if ok]


def gradient_free_flags(rows: Iterable[dict[str, Any]]) -> list[Flag]:
    """Rule 5: inputs fooled by ``square``/``boundary`` but by no gradient attack at the same budget."""
    flags = []
    for (_, target, norm, eps), members in _budget_groups(rows).items():
        free = [r for r in members if _attack_base(r) in GRADIENT_FREE_ATTACKS]
        grad = [r for r in members if _attack_base(r) not in GRADIENT_FREE_ATTACKS + (NOISE_ATTACK,)]
        idx = _clean_correct(members) if free and grad else None
        if not idx:
            continue
        by_grad = _broken(grad, idx)
        only = {}
        for r in free:
            mine = _broken([r], idx)
            count = sum(m and not g for m, g in zip(mine, by_grad))
            if count:
                only[describe_cell(r)] = count
        if not only:
            continue
        total = sum(m and not g for m, g in zip(_broken(free, idx), by_grad))
        flags.append(Flag(
            "gradient-free-wins", "high",
            f"{target} at {norm} eps={format_eps(eps)}: {total} of {len(idx)} clean-correct input(s) fooled by a "
            f"gradient-free attack but by none of the {len(grad)} gradient attack cell(s)",
            GRADIENT_FREE_ADVICE, tuple(f"{cell}: {k} input(s) no gradient attack fooled" for cell, k in only.items())))
    return flags


def _adaptive(row: dict[str, Any]) -> bool:
    return row["grad"] in ADAPTIVE_ESTIMATORS or _attack_base(row) in ADAPTIVE_ATTACKS


def _potential_dependent(row: dict[str, Any]) -> bool:
    return row["grad"] in POTENTIAL_DEPENDENT_ESTIMATORS and not _adaptive(row)


#: rule 6's categories of surrogates that follow the victim: (name, which rows)
FOLLOWING_SURROGATES = (("adaptive surrogate (assg / sapgd)", _adaptive),
                        ("potential-dependent surrogate (pdsg)", _potential_dependent))


def overestimation_flags(rows: Iterable[dict[str, Any]], level: float = 0.05) -> list[Flag]:
    """Rule 6: ``assg``/``sapgd`` cells, or ``pdsg`` cells, beat the fixed-surrogate ensemble beyond the
    paired noise (McNemar); each category on its own."""
    flags = []
    for (_, target, norm, eps), members in _budget_groups(rows).items():
        fixed = [r for r in members if r["grad"] in FIXED_SURROGATE_ESTIMATORS and not _adaptive(r)
                 and _attack_base(r) not in GRADIENT_FREE_ATTACKS + (NOISE_ATTACK,)]
        for category, belongs in FOLLOWING_SURROGATES:
            following = [r for r in members if belongs(r)]
            idx = _clean_correct(members) if following and fixed else None
            if not idx:
                continue
            test = compare_paired(_broken(following, idx), _broken(fixed, idx), level=level)
            if test.verdict != "a":
                continue
            n_fixed = sum(_broken(fixed, idx))
            n_all = sum(_broken(following + fixed, idx))
            flags.append(Flag(
                "robustness-overestimated", "high",
                f"{target} at {norm_name(norm)} eps={format_eps(eps)}: the {category} fooled {test.only_a} input(s) "
                f"the fixed-surrogate ensemble missed (the reverse: {test.only_b}; McNemar p = {test.pvalue:.2g}); "
                f"worst-case ASR {_pct(n_fixed / len(idx))} with fixed surrogates only, "
                f"{_pct(n_all / len(idx))} with them",
                OVERESTIMATED_ADVICE, tuple(describe_cell(r) for r in following)))
    return flags


def group_flags(flags: Iterable[Flag]) -> list[Flag]:
    """One flag per kind (``name``): highest severity, the cells of every finding, one detail line per finding.

    A kind with a single finding is returned unchanged.
    """
    kinds: dict[str, list[Flag]] = {}
    for f in flags:
        kinds.setdefault(f.name, []).append(f)
    out = []
    for name, members in kinds.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        severity = min((f.severity for f in members), key=lambda s: SEVERITY_RANK.get(s, 2))
        high = sum(f.severity == "high" for f in members)
        cells = tuple(dict.fromkeys(c for f in members for c in f.cells))
        advice = members[0].advice if len({f.advice for f in members}) == 1 else " / ".join(
            dict.fromkeys(f.advice for f in members))
        ordered = sorted(members, key=lambda f: SEVERITY_RANK.get(f.severity, 2))
        out.append(Flag(name, severity,
                        f"{len(members)} findings ({high} high, {len(members) - high} medium) "
                        f"over {len(cells)} cell(s)",
                        advice, cells, tuple(f"[{f.severity}] {f.message}" for f in ordered)))
    return out


def hygiene_findings(rows: Iterable[dict[str, Any]], models: Iterable[dict[str, Any]] = ()) -> list[Flag]:
    """Every finding of the six checks, one :class:`Flag` each, most severe first."""
    rows, models = list(rows), list(models)
    flags = (vanishing_flags(rows) + eot_flags(rows, models) + masking_flags(rows) + eps_flags(rows)
             + gradient_free_flags(rows) + overestimation_flags(rows))
    return sorted(flags, key=lambda f: SEVERITY_RANK.get(f.severity, 2))


def hygiene_flags(rows: Iterable[dict[str, Any]], models: Iterable[dict[str, Any]] = ()) -> list[Flag]:
    """The six checks grouped one flag per kind (:func:`group_flags`), most severe first."""
    return sorted(group_flags(hygiene_findings(rows, models)), key=lambda f: SEVERITY_RANK.get(f.severity, 2))

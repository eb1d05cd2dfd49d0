"""The attacks run on the suite, as data: the published recipes (``PEERS``, each alone at its
published budget) and the candidate stages of a cascade (``STAGES``, each alone on every
clean-correct input). Kinds (executed by :mod:`.execute`):

- ``attack``: one spikeattack attack (``make_attack``) with estimator ``grad``; ``hart`` gets the
  gamma tuned on training data (:func:`.execute.hart_gamma`), ``mdse`` the five estimators with it.
- ``targeted``: APGD-T as AutoAttack runs it: the DLR-targeted loss against each of the
  ``targets`` most likely other classes of the clean input in turn, on the inputs still robust;
  the record keeps the target at which each input broke, so 1- and 2-target variants are read off.
- ``restart``: a second run of ``base`` from a fresh random start (seed + 1) on the inputs ``base``
  left robust (SA-PGD's own restart rule).
- ``warm``: ``from`` followed by a run that starts from ``from``'s kept point (its highest-loss
  iterate) on the inputs ``from`` left robust, instead of a random start. Like ``restart``, the
  record is the composite of both runs (a drop-in alternative to its base in a cascade).
- ``square``: spikeattack's Square with ``queries`` queries (``p_init`` its default 0.05, or
  AutoAttack's 0.8 in the ``-p08`` stages); the per-input cost is split by the queries each input used.
- ``autoattack``: torchattacks' APGD-CE, APGD-T, FAB-T and Square in AutoAttack's order, each on
  the inputs still robust, at AutoAttack's *original* budgets (torchattacks' ``AutoAttack``
  wrapper builds its APGD/APGD-T/FAB with 10 steps), on the raw network's own autograd.
- ``standard``: ``spikeattack.evaluation.standard_evaluation(version="standard")``, HART tuned
  by it on the training split (its CPU time includes that tuning).

MDSE's budget: the MDSE paper (Xu et al.) is not in the project's papers and our docstring names
none; it is compared there with Auto-PGD, so the peer recipe runs it inside APGD-CE at
AutoAttack's APGD budget, 100 steps (the cascade's MDSE stage uses 25).
"""

from __future__ import annotations

ESTIMATORS = ("stbp", "bptr", "rga", "hart", "cba")
ESTIMATORS_ASSG = ESTIMATORS + ("assg",)

PEERS: dict[str, dict] = {
    "sapgd-assg-100": {"kind": "attack", "attack": "sapgd", "grad": "assg", "steps": 100,
                       "about": "SA-PGD + ASSG, 100 steps (Wang et al. 2025)"},
    "autoattack": {"kind": "autoattack", "steps": 100, "queries": 5000,
                   "about": "torchattacks AutoAttack standard at its original budget (APGD-CE 100, APGD-T 100 x 9, "
                            "FAB-T 100 x 9, Square 5000) on the net's own autograd"},
    **{f"pgd100-{e}": {"kind": "attack", "attack": "pgd", "grad": e, "steps": 100, "about": f"PGD-100, {e}"}
       for e in ESTIMATORS},
    "mdse-100": {"kind": "attack", "attack": "apgd", "grad": "mdse", "steps": 100,
                 "about": "APGD-CE with MDSE (Xu et al.), 100 steps"},
    "standard": {"kind": "standard", "about": "spikeattack standard_evaluation, version standard (the cascade)"},
}

STAGES: dict[str, dict] = {
    **{f"apgd-ce-25-{e}": {"kind": "attack", "attack": "apgd", "grad": e, "steps": 25} for e in ESTIMATORS_ASSG},
    **{f"apgd-t3-25-{e}": {"kind": "targeted", "attack": "apgd", "loss": "dlr", "grad": e, "steps": 25, "targets": 3}
       for e in ESTIMATORS_ASSG},
    **{f"sapgd-assg-{s}": {"kind": "attack", "attack": "sapgd", "grad": "assg", "steps": s} for s in (25, 50, 100, 200)},
    "sapgd-assg-50-r2": {"kind": "restart", "base": "sapgd-assg-50"},
    "sapgd-assg-100-r2": {"kind": "restart", "base": "sapgd-assg-100"},
    **{k: v for k, v in PEERS.items() if k.startswith("pgd100-") or k == "mdse-100"},
    "mdse-25": {"kind": "attack", "attack": "apgd", "grad": "mdse", "steps": 25},
    **{f"square-{q}": {"kind": "square", "queries": q} for q in (500, 1000, 5000)},
    **{f"square-{q}-p08": {"kind": "square", "queries": q, "p_init": 0.8} for q in (500, 1000, 5000)},
    "sapgd-assg-50@apgd-ce-25-stbp": {"kind": "warm", "from": "apgd-ce-25-stbp", "attack": "sapgd", "grad": "assg",
                                      "steps": 50},
    "sapgd-assg-100@apgd-ce-25-stbp": {"kind": "warm", "from": "apgd-ce-25-stbp", "attack": "sapgd", "grad": "assg",
                                       "steps": 100},
    "sapgd-assg-50@sapgd-assg-50": {"kind": "warm", "from": "sapgd-assg-50", "attack": "sapgd", "grad": "assg",
                                    "steps": 50},
}

WARM_BASES = sorted({s["from"] for s in STAGES.values() if s["kind"] == "warm"})


def order(names: list[str], catalog: dict[str, dict]) -> list[str]:
    """``names`` with every ``base``/``from`` dependency placed before its dependants."""
    out: list[str] = []

    def visit(name: str) -> None:
        if name in out:
            return
        dep = catalog[name].get("base") or catalog[name].get("from")
        if dep:
            visit(dep)
        out.append(name)

    for name in names:
        visit(name)
    return out

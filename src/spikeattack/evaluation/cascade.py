"""The standard evaluation's cascade: which attacks run, in which order, with which budgets.

A :class:`Stage` is data (an attack name and its keyword arguments), so the same stage can
be rebuilt with a larger budget for the convergence check (:mod:`.convergence`).

The order and budgets come from the peer suite (``perf/peers``, ``docs/peers.md``): SNNs other
people wrote and trained, each attacked by every stage alone, inputs broken per CPU second
measured per stage. What the evidence says, and the cascade does (``E`` = the fixed gradient
estimators: ``stbp`` with the model's own surrogate, ``bptr``, ``rga``, ``hart`` with ``gamma``
tuned on a held-out slice of the training set, ``cba``):

1. SA-PGD with the ASSG surrogate (Wang et al. 2025) at its published budget, first: the most
   inputs broken per CPU second on every suite model;
2. APGD-CE with HART, ``gamma`` tuned per model: the strongest fixed estimator at PGD-100 on most
   suite models, and on the project's own digits SNN stronger than SA-PGD;
3. APGD-DLR-targeted (Croce & Hein's APGD-T: DLR loss, the ``targets`` most likely other
   classes of the clean input, one run each), with ASSG: the inputs whose margin CE cannot move;
4. APGD-CE with the MDSE mixture of the estimators in ``E`` (Xu et al.): the fixed estimators'
   views in one stage (each alone, at 100 steps, breaks no input SA-PGD + ASSG leaves);
5. Square (score-based, gradient-free) at AutoAttack's budget (``p_init`` 0.8, 5000 queries):
   the check against masked gradients, and on models with a poor surrogate the strongest stage.

``plus`` runs APGD-CE with each estimator in ``E`` as stage 2 and doubles every budget;
``rand`` is ``standard`` with every gradient (and Square's margin) averaged over 4 samplings
(EOT) for stochastic, e.g. Poisson-coded, models, and Square at 1000 queries (x4 samplings).
An ANN has one exact gradient: APGD-CE, APGD-T and Square with it.

Budgets per version (iterations are per run and restart):

============  ==============  =======  =====  ======  ====  ======  ===============
version       SA-PGD (rest.)  APGD-T   tgts   MDSE    EOT   Square  fixed APGD-CE
============  ==============  =======  =====  ======  ====  ======  ===============
standard      100 (1)         25       3      25      1     5000    HART, 25
plus          100 (2)         100      9      100     1     10000   each, 100
rand          100 (1)         25       3      25      4     1000    HART, 25
============  ==============  =======  =====  ======  ====  ======  ===============

``escalation_*`` set the convergence check (:mod:`.convergence`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..attacks import Attack, make_attack
from ..gradients import MDSE, make_estimator
from ..models import SpikingModel

VERSIONS = ("standard", "plus", "rand")
_ESCALATION = {"escalation_rounds": 3, "escalation_sample": 64, "escalation_stages": 2,
               "escalation_tolerance": 0.0}
_SQUARE_P_INIT = 0.8  # AutoAttack's Linf Square (Andriushchenko et al. 2020 use 0.05 on ImageNet)
BUDGETS: dict[str, dict[str, Any]] = {
    "standard": {"sapgd_steps": 100, "sapgd_restarts": 1, "apgd_steps": 25, "restarts": 1, "targets": 3,
                 "mdse_steps": 25, "square_queries": 5000, "square_p_init": _SQUARE_P_INIT, "fixed_apgd_steps": 0,
                 "eot": 1, **_ESCALATION},
    "plus": {"sapgd_steps": 100, "sapgd_restarts": 2, "apgd_steps": 100, "restarts": 1, "targets": 9,
             "mdse_steps": 100, "square_queries": 10000, "square_p_init": _SQUARE_P_INIT, "fixed_apgd_steps": 100,
             "eot": 1, **_ESCALATION},
    "rand": {"sapgd_steps": 100, "sapgd_restarts": 1, "apgd_steps": 25, "restarts": 1, "targets": 3,
             "mdse_steps": 25, "square_queries": 1000, "square_p_init": _SQUARE_P_INIT, "fixed_apgd_steps": 0,
             "eot": 4, **_ESCALATION},
}
ESTIMATORS = ("stbp", "bptr", "rga", "hart", "cba")
HART_GAMMAS = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Stage:
    """One stage: ``label`` (``apgd-ce``, ``apgd-t``, ...), the estimator's name, the attack and
    its keyword arguments, and for targeted stages the number of target classes (one run each)."""

    label: str
    estimator: str
    attack: str
    params: dict[str, Any] = field(default_factory=dict)
    targets: int = 0

    @property
    def uses_gradient(self) -> bool:
        return self.estimator != "none"

    def build(self, model: SpikingModel, scale: int = 1, round_: int = 0) -> Attack:
        """The stage's attack; ``scale`` multiplies its iterations (or queries) and, for an
        escalation round ``round_ > 0``, adds a random restart and moves the seed."""
        params = dict(self.params)
        if scale > 1 and "steps" in params:
            params["steps"] = params["steps"] * scale
        if round_:
            params["seed"] = params.get("seed", 0) + 1000 * round_
            if "restarts" in params:
                params["restarts"] = params["restarts"] + 1
                params["random_start"] = True
        return make_attack(self.attack, model, **params)


def build_stages(model: SpikingModel, eps: float, norm: str, budgets: dict[str, Any], hart_gamma: float,
                 seed: int) -> list[Stage]:
    """The cascade's stages for ``model`` (see the module docstring)."""
    b = budgets
    common = {"eps": eps, "norm": norm, "eot": b["eot"], "seed": seed}
    apgd = {"steps": b["apgd_steps"], "restarts": b["restarts"], **common}
    targeted = min(b["targets"], model.num_classes - 1) if model.num_classes >= 4 else 0
    square = Stage("square", "none", "square", {"steps": b["square_queries"], "p_init": b["square_p_init"], **common})
    if not model.is_spiking:
        first = {"steps": b["sapgd_steps"], "restarts": b["sapgd_restarts"], **common}
        stages = [Stage("apgd-ce", "exact", "apgd", {**first, "loss": "ce"})]
        if targeted:
            stages.append(Stage("apgd-t", "exact", "apgd", {**apgd, "loss": "dlr", "targeted": "given"},
                                targets=targeted))
        return stages + [square]
    estimators = [(name, {"gamma": hart_gamma} if name == "hart" else {}) for name in ESTIMATORS]
    stages = [Stage("sapgd", "assg", "sapgd", {"steps": b["sapgd_steps"], "restarts": b["sapgd_restarts"],
                                               "grad": "assg", **common})]
    if b["fixed_apgd_steps"]:
        fixed = {"steps": b["fixed_apgd_steps"], "restarts": 1, "loss": "ce", **common}
        stages += [Stage("apgd-ce", name, "apgd", {**fixed, "grad": name, "grad_params": params})
                   for name, params in estimators]
    else:
        stages.append(Stage("apgd-ce", "hart", "apgd", {**apgd, "loss": "ce", "grad": "hart",
                                                        "grad_params": {"gamma": hart_gamma}}))
    if targeted:
        stages.append(Stage("apgd-t", "assg", "apgd", {**apgd, "loss": "dlr", "targeted": "given", "grad": "assg"},
                            targets=targeted))
    members = [make_estimator(name, **params) for name, params in estimators]
    stages.append(Stage("apgd-ce", "mdse", "apgd", {"steps": b["mdse_steps"], "restarts": 1,
                                                    "grad": MDSE(members), **common}))
    return stages + [square]

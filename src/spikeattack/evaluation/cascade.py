"""The standard evaluation's cascade: which attacks run, in which order, with which budgets.

A :class:`Stage` is data (an attack name and its keyword arguments), so the same stage can
be rebuilt with a larger budget for the convergence check (:mod:`.convergence`). Stages, in
order (``E`` = the fixed gradient estimators: ``stbp`` with the model's own surrogate,
``bptr``, ``rga``, ``hart`` with ``gamma`` tuned on a held-out slice of the training set,
``cba``; an ANN has one exact gradient, ``E = [exact]``):

1. APGD-CE with each estimator in ``E``, then APGD-DLR-targeted (Croce & Hein's APGD-T: DLR
   loss, the ``targets`` most likely other classes of the clean input, one run each) with
   each estimator in ``E``;
2. SA-PGD with the ASSG surrogate (Wang et al. 2025);
3. APGD-CE with the MDSE mixture of the estimators in ``E`` (Xu et al.);
4. Square (score-based, gradient-free): the check against masked gradients.

Budgets per version (iterations are per run):

============  =======  ========  =======  =================  ====  ======  ====
version       APGD     restarts  targets  SA-PGD (restarts)  MDSE  Square  EOT
============  =======  ========  =======  =================  ====  ======  ====
standard      25       1         3        50 (1)             25    500     1
plus          50       2         9        100 (2)            50    2000    1
rand          25       1         3        50 (1)             25    500     4
============  =======  ========  =======  =================  ====  ======  ====

``rand`` averages every gradient (and Square's margin) over 4 samplings (EOT) for stochastic,
e.g. Poisson-coded, models. ``escalation_*`` set the convergence check (:mod:`.convergence`).
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
BUDGETS: dict[str, dict[str, Any]] = {
    "standard": {"apgd_steps": 25, "restarts": 1, "targets": 3, "sapgd_steps": 50, "sapgd_restarts": 1,
                 "mdse_steps": 25, "square_queries": 500, "eot": 1, **_ESCALATION},
    "plus": {"apgd_steps": 50, "restarts": 2, "targets": 9, "sapgd_steps": 100, "sapgd_restarts": 2,
             "mdse_steps": 50, "square_queries": 2000, "eot": 1, **_ESCALATION},
    "rand": {"apgd_steps": 25, "restarts": 1, "targets": 3, "sapgd_steps": 50, "sapgd_restarts": 1,
             "mdse_steps": 25, "square_queries": 500, "eot": 4, **_ESCALATION},
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
    if model.is_spiking:
        estimators = [(name, {"gamma": hart_gamma} if name == "hart" else {}) for name in ESTIMATORS]
    else:
        estimators = [("exact", None)]

    def grad_kwargs(name: str, params: dict | None) -> dict:
        return {} if params is None else {"grad": name, "grad_params": params}

    apgd = {"steps": b["apgd_steps"], "restarts": b["restarts"], **common}
    stages = [Stage("apgd-ce", name, "apgd", {**apgd, "loss": "ce", **grad_kwargs(name, params)})
              for name, params in estimators]
    if model.num_classes >= 4:
        targets = min(b["targets"], model.num_classes - 1)
        stages += [Stage("apgd-t", name, "apgd", {**apgd, "loss": "dlr", "targeted": "given",
                                                  **grad_kwargs(name, params)}, targets=targets)
                   for name, params in estimators]
    if model.is_spiking:
        stages.append(Stage("sapgd", "assg", "sapgd", {"steps": b["sapgd_steps"], "restarts": b["sapgd_restarts"],
                                                       "grad": "assg", **common}))
        members = [make_estimator(name, **params) for name, params in estimators]
        stages.append(Stage("apgd-ce", "mdse", "apgd", {"steps": b["mdse_steps"], "restarts": 1,
                                                        "grad": MDSE(members), **common}))
    stages.append(Stage("square", "none", "square", {"steps": b["square_queries"], **common}))
    return stages

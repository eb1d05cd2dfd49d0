"""Attacks: ``make_attack("pgd", model, eps=0.1, grad="rga")(x, y) -> x_adv``.

One attack per module over two bases (:mod:`.base`): :class:`GradientAttack` (FGSM, R-FGSM,
BIM, PGD, APGD, SA-PGD, CW, spike-BIM, SDA, count-frame PGD, retiming; every one takes every
gradient estimator) and the gradient-free :class:`Attack` (Square, Boundary, random noise).
Event frames: ``spike-bim`` (Liang et al.), ``sda`` (Lun et al.), ``count-pgd`` (count frames
under L0) and ``retime`` (timing only); their threat models are in :mod:`.threat`.
"""

from __future__ import annotations

from typing import Any

from .._registry import Registry
from ..models import SpikingModel
from .apgd import APGD
from .base import TARGET_MODES, Attack, GradientAttack
from .boundary import Boundary
from .count_pgd import CountPGD
from .cw import CWL2, LiangCW
from .fgsm import FGSM
from .noise import RandomNoise
from .pgd import BIM, PGD
from .retime import Retime
from .rfgsm import RFGSM
from .sapgd import SAPGD
from .sda import SDA
from .spike_bim import SpikeBIM
from .square import Square

ATTACKS: Registry[type[Attack]] = Registry("attack")
for _cls in (FGSM, RFGSM, BIM, PGD, APGD, CWL2, LiangCW, RandomNoise, SAPGD, Square, Boundary, SpikeBIM, SDA, CountPGD,
             Retime):
    ATTACKS.register(_cls.name, aliases=("ifgsm",) if _cls is BIM else ())(_cls)  # ifgsm: Sharmin et al.'s name


def make_attack(name: str, model: SpikingModel, **params: Any) -> Attack:
    """Build attack ``name`` for ``model``; unknown names or parameters give a ``ValueError``."""
    return ATTACKS.make(name, model, **params)


def attack_parameters(name: str) -> tuple[str, ...]:
    """The keyword parameters attack ``name`` takes (its declared ``parameters``)."""
    return ATTACKS.get_builder(name).parameters


__all__ = ["TARGET_MODES", "Attack", "GradientAttack", "FGSM", "RFGSM", "BIM", "PGD", "APGD", "CWL2", "LiangCW",
           "RandomNoise", "ATTACKS", "make_attack", "attack_parameters", "SpikeBIM", "SDA", "CountPGD", "Retime",
           "SAPGD", "Square", "Boundary"]

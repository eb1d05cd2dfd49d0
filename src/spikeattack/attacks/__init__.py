"""Attacks: ``make_attack("pgd", model, eps=0.1, grad="rga")(x, y) -> x_adv``.

One attack per module over the shared :class:`Attack` base; every attack takes every
gradient estimator. Event frames: ``spike-bim`` (Liang et al.), ``sda`` (Lun et al.),
``count-pgd`` (count frames under L0) and ``retime`` (timing only; threat models in
:mod:`.threat`).
"""

from __future__ import annotations

from typing import Any

from ..models import SpikingModel
from .base import TARGET_MODES, Attack
from .apgd import APGD
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

ATTACKS: dict[str, type[Attack]] = {cls.name: cls for cls in (FGSM, RFGSM, BIM, PGD, APGD, CWL2, LiangCW, RandomNoise,
                                                            SAPGD, Square, Boundary)}
ATTACKS["ifgsm"] = BIM  # Sharmin et al.'s name for BIM
ATTACKS["spike-bim"] = SpikeBIM
ATTACKS["sda"] = SDA
ATTACKS["count-pgd"] = CountPGD
ATTACKS["retime"] = Retime


def make_attack(name: str, model: SpikingModel, **params: Any) -> Attack:
    """Build attack ``name`` for ``model``; unknown names or parameters give a ``ValueError``."""
    if name not in ATTACKS:
        raise ValueError(f"attack: unknown name {name!r}; expected one of {', '.join(sorted(ATTACKS))}")
    try:
        return ATTACKS[name](model, **params)
    except TypeError as exc:
        raise ValueError(f"attack: bad parameters for {name}: {exc}") from exc


__all__ = ["TARGET_MODES", "Attack", "FGSM", "RFGSM", "BIM", "PGD", "APGD", "CWL2", "LiangCW", "RandomNoise", "ATTACKS",
           "make_attack", "SpikeBIM", "SDA", "CountPGD", "Retime", "SAPGD", "Square", "Boundary"]

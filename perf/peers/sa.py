"""Every piece of spikeattack the peer scripts use, imported in one place (so a package move
touches this file only)."""

from spikeattack.attacks import APGD, SAPGD, Square, make_attack
from spikeattack.data import ImageDataset
from spikeattack.evaluation import clopper_pearson, standard_evaluation, tune_estimator
from spikeattack.evaluation.standard import HART_GAMMAS
from spikeattack.gradients import make_estimator
from spikeattack.interop import wrap

__all__ = ["APGD", "SAPGD", "Square", "make_attack", "ImageDataset", "clopper_pearson", "standard_evaluation",
           "tune_estimator", "HART_GAMMAS", "make_estimator", "wrap"]

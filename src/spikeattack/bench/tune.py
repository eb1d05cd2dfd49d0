"""Choosing an estimator's width on held-out data: moved to :mod:`spikeattack.evaluation.tune`
(the standard evaluation, a layer below, tunes HART with it); re-exported here."""

from ..evaluation.tune import TuneResult, tune_estimator

__all__ = ["TuneResult", "tune_estimator"]

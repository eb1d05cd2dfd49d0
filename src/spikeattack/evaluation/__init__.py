"""The standard evaluation: a fixed cascade of attacks x estimators, the per-input worst case,
and the statistics for the numbers to quote (intervals, paired tests); its event counterpart
under an L0 budget (:mod:`.events`)."""

from .events import EventEvaluation, EventInputRecord, FlipsComparison, compare_sda_spike_bim, event_evaluation
from .standard import BUDGETS, VERSIONS, InputRecord, StageResult, StandardEvaluation, standard_evaluation
from .statistics import PairedComparison, clopper_pearson, compare_paired, mcnemar_pvalue, proportion_ci
from .tune import TuneResult, attack_success_rate, tune_estimator

__all__ = ["EventEvaluation", "EventInputRecord", "FlipsComparison", "compare_sda_spike_bim", "event_evaluation",
           "BUDGETS", "VERSIONS", "InputRecord", "StageResult", "StandardEvaluation", "standard_evaluation",
           "PairedComparison", "clopper_pearson", "compare_paired", "mcnemar_pvalue", "proportion_ci",
           "TuneResult", "attack_success_rate", "tune_estimator"]

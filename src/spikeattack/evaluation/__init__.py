"""Scoring a live model: one attack (:func:`evaluate`), clean accuracy, metrics, estimator
tuning, the standard evaluation (a fixed cascade of attacks x estimators, per-input worst
case, intervals) and its event counterpart under an L0 budget (:mod:`.events`)."""

from ..results.statistics import PairedComparison, clopper_pearson, compare_paired, mcnemar_pvalue, proportion_ci
from .accuracy import accuracy, evaluating
from .evaluate import EvaluationResult, evaluate
from .events import EventEvaluation, EventInputRecord, FlipsComparison, compare_sda_spike_bim, event_evaluation
from .metrics import PerInput, Summary, perturbation_norms, summarize
from .standard import BUDGETS, VERSIONS, InputRecord, StageResult, StandardEvaluation, standard_evaluation
from .tune import TuneResult, attack_success_rate, tune_estimator

__all__ = ["accuracy", "evaluating", "EvaluationResult", "evaluate", "PerInput", "Summary", "perturbation_norms",
           "summarize", "BUDGETS", "VERSIONS", "InputRecord", "StageResult", "StandardEvaluation",
           "standard_evaluation", "PairedComparison", "clopper_pearson", "compare_paired", "mcnemar_pvalue",
           "proportion_ci", "TuneResult", "attack_success_rate", "tune_estimator",
           "EventEvaluation", "EventInputRecord", "FlipsComparison", "compare_sda_spike_bim", "event_evaluation"]

"""Benchmark layer: evaluation scenarios, metrics (and later grids, results store, reports)."""

from .evaluate import evaluate
from .metrics import PerInput, Summary, perturbation_norms, summarize
from .tune import TuneResult, tune_estimator

__all__ = ["evaluate", "PerInput", "Summary", "perturbation_norms", "summarize", "TuneResult", "tune_estimator"]

"""Benchmark layer: evaluation scenarios, metrics (and later grids, results store, reports)."""

from .evaluate import evaluate
from .metrics import PerInput, Summary, perturbation_norms, summarize

__all__ = ["evaluate", "PerInput", "Summary", "perturbation_norms", "summarize"]

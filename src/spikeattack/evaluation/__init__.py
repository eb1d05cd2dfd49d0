"""The standard evaluation: statistics for the numbers to quote (intervals, paired tests)."""

from .statistics import PairedComparison, clopper_pearson, compare_paired, mcnemar_pvalue, proportion_ci

__all__ = ["PairedComparison", "clopper_pearson", "compare_paired", "mcnemar_pvalue", "proportion_ci"]

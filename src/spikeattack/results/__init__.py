"""Stored results and their analysis, without torch: the results store (SQLite), typed cell
records, the per-input worst-case kernel every caller uses, the headline, the per-attack
breakdown, hygiene flags, intervals, paper comparisons and the report."""

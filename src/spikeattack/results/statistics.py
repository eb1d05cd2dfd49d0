"""Statistics for robustness numbers: exact binomial intervals and paired tests.

With a few hundred inputs, one or two points between two attacks or estimators is
within noise. Every rate we report (robust accuracy, attack success rate) carries a 95%
Clopper-Pearson interval, and "A is stronger than B" is claimed only when an exact
McNemar test on the *same inputs* rejects equality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy.special import betaincinv


def _check_counts(successes: int, n: int) -> None:
    if isinstance(successes, bool) or isinstance(n, bool):
        raise ValueError("successes, n: expected integers, got a bool")
    if int(n) != n or n < 0:
        raise ValueError(f"n: expected a non-negative integer, got {n!r}")
    if int(successes) != successes or not 0 <= successes <= n:
        raise ValueError(f"successes: expected an integer in [0, n={n}], got {successes!r}")


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a binomial proportion ``successes / n``.

    ``low = B(alpha/2; k, n-k+1)`` and ``high = B(1-alpha/2; k+1, n-k)`` with ``B`` the beta
    quantile and ``alpha = 1 - confidence``; ``low = 0`` at ``k = 0``, ``high = 1`` at
    ``k = n``. With ``n = 0`` nothing is known: ``(0, 1)``.
    """
    _check_counts(successes, n)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a value in (0, 1), got {confidence!r}")
    k, n = int(successes), int(n)
    if n == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return low, high


def proportion_ci(flags: Sequence[bool], confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval for the share of true entries in ``flags``."""
    flags = [bool(f) for f in flags]
    return clopper_pearson(sum(flags), len(flags), confidence)


def mcnemar_pvalue(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts of a paired comparison.

    ``only_a``: inputs on which A succeeded and B did not; ``only_b`` the reverse. Under
    the null hypothesis (A and B equally strong) each discordant input is a fair coin:
    ``p = min(1, 2 * P(X <= min(b, c)))``, ``X ~ Binomial(b + c, 1/2)``.
    """
    _check_counts(only_a, only_a + only_b)
    _check_counts(only_b, only_a + only_b)
    m = int(only_a) + int(only_b)
    if m == 0:
        return 1.0
    k = min(int(only_a), int(only_b))
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2.0 ** m
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class PairedComparison:
    """Outcome of comparing two attacks (or estimators) on the same inputs."""

    only_a: int
    only_b: int
    pvalue: float
    verdict: str  # "a", "b" or "tie"


def compare_paired(success_a: Sequence[bool], success_b: Sequence[bool], *, level: float = 0.05) -> PairedComparison:
    """Which of A and B fooled more of the *same* inputs, or ``"tie"`` within the noise.

    ``success_a[i]`` / ``success_b[i]``: whether A / B broke input ``i``. The verdict names
    a winner only when the exact McNemar test rejects equality at ``level``.
    """
    if len(success_a) != len(success_b):
        raise ValueError(f"success_b: expected {len(success_a)} entries (one per input of success_a), "
                         f"got {len(success_b)}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected a value in (0, 1), got {level!r}")
    only_a = sum(1 for a, b in zip(success_a, success_b) if a and not b)
    only_b = sum(1 for a, b in zip(success_a, success_b) if b and not a)
    p = mcnemar_pvalue(only_a, only_b)
    verdict = "tie" if p >= level or only_a == only_b else ("a" if only_a > only_b else "b")
    return PairedComparison(only_a, only_b, p, verdict)

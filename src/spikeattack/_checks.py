"""Argument validation shared by every layer: one message style, ``"<name>: expected ..., got ..."``.

Each check returns the value in its canonical type or raises ``ValueError`` naming the
argument, so a bad input never travels further than the call that received it.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Collection


def check_number(name: str, value: Any, *, low: float | None = None, low_open: bool = False,
                 high: float | None = None, high_open: bool = False) -> float:
    """A finite real number (not a bool) within the bounds, as ``float``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name}: expected a value {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name}: expected a value {'<' if high_open else '<='} {high}, got {value}")
    return float(value)


def check_int(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """An integer ``>= low`` (and ``< high``) as a Python ``int``; numpy integers pass, bools and
    floats (even ``2.0``) do not."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}") from None
    if n < low or (high is not None and n >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name}: expected an integer {bound}, got {n}")
    return n


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices`` (compared as given: no case folding)."""
    try:
        ok = value in choices
    except TypeError:  # unhashable
        ok = False
    if not ok:
        raise ValueError(f"{name}: expected one of {', '.join(map(str, choices))}, got {value!r}")
    return value


SEED_LIMIT = 2 ** 63  # torch and numpy seeds are 64-bit


def check_seed(name: str, value: Any) -> int:
    """A seed: an integer in ``[0, 2**63)``."""
    return check_int(name, value, low=0, high=SEED_LIMIT)

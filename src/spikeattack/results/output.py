"""What leaves the package as data: numbers rounded once, threat models spelled one way.

Every machine-readable output (``--json`` objects, ``results`` CSV/JSON, the report's CSV
tables) passes its values through :func:`public` at the boundary:

- a float is rounded to :data:`SIGNIFICANT_DIGITS` = 6 significant digits. Six is float32's
  ``FLT_DIG``: every 6-digit decimal survives a float32 round trip, so a rate or a norm
  computed in float32 prints as ``0.1``, not ``0.10000002384185791``; a float that is not
  finite becomes ``null`` (JSON has no NaN);
- the value of every ``norm`` key is spelled ``Linf``, ``L2``, ``L0`` or ``retime`` (the
  library's internal ``linf`` / ``l2`` / ``l0``, and ``spikes`` as stores of 0.1 spelled the
  event attacks' L0, are converted here);
- integers, strings, booleans and ``None`` pass unchanged; tuples become lists.
"""

from __future__ import annotations

import math
from typing import Any

#: significant digits of every float that leaves the package (float32's FLT_DIG)
SIGNIFICANT_DIGITS = 6

#: the one spelling of each threat model: internal name (any case) -> public name
NORM_NAMES = {"linf": "Linf", "l2": "L2", "l0": "L0", "spikes": "L0", "retime": "retime"}


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float | None:
    """``value`` rounded to ``digits`` significant digits; None when it is not finite."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def norm_name(norm: str | None) -> str | None:
    """``linf`` / ``LINF`` / ``Linf`` -> ``Linf``; ``l2`` -> ``L2``; ``l0`` / ``spikes`` -> ``L0``;
    ``retime`` -> ``retime``.
    Anything else is returned unchanged (None stays None)."""
    if not isinstance(norm, str):
        return norm
    return NORM_NAMES.get(norm.lower(), norm)


def public(value: Any, key: str | None = None) -> Any:
    """``value`` as it leaves the package: floats rounded (:func:`round_significant`), ``norm``
    values spelled ``Linf``/``L2``/``L0``/``retime``, nested dicts and lists converted alike."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return round_significant(value)
    if isinstance(value, str):
        return norm_name(value) if key == "norm" else value
    if isinstance(value, dict):
        return {str(k): public(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [public(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # a numpy or torch scalar
        return public(value.item(), key)
    raise TypeError(f"value: {type(value).__name__} is not JSON data (key {key!r})")

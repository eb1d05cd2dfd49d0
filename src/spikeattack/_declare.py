"""Declared capabilities that stay true for subclasses.

Classes declare what they can do as class attributes (an attack's first gradient ignoring
its budget, an estimator sharing the rate forward, a neuron running the fused path). A
subclass that overrides the methods such a declaration rests on, without declaring the
attribute again in its own body, falls back to the safe value: a declaration is never
inherited by code it does not describe.
"""

from __future__ import annotations

from typing import Any, Iterable


def keep_declaration_honest(cls: type, attribute: str, methods: Iterable[str], safe: Any) -> None:
    """Call from ``__init_subclass__``: set ``cls.attribute = safe`` when ``cls`` overrides one of
    ``methods`` but does not declare ``attribute`` itself."""
    own = vars(cls)
    if attribute not in own and any(m in own for m in methods):
        setattr(cls, attribute, safe)

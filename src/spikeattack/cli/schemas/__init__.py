"""The versioned JSON objects the commands print with ``--json``, and their JSON Schema.

Every object starts with ``"schema": "spikeattack/<kind>/v<N>"`` and ``"spikeattack_version"``;
its values have passed :func:`spikeattack.results.output.public` (floats to 6 significant
digits, ``norm`` spelled ``Linf``/``L2``/``L0``). ``output.schema.json`` beside this module (JSON
Schema draft 2020-12, shipped with the package) describes every kind: validate any output
against it, its ``schema`` field picks the kind. ``<N>`` changes only when a field of that kind
is removed, renamed or changes meaning; new fields keep the version.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from ... import __version__
from ...results.output import public

#: kind -> version; the kinds in the order of the documentation
VERSIONS: dict[str, int] = {"train": 1, "convert": 1, "eval": 1, "standard-evaluation": 1, "attack": 1,
                            "bench": 1, "demo": 1, "reproduce": 1, "report": 1, "results": 1}
SCHEMA_FILE = "output.schema.json"


def schema_name(kind: str) -> str:
    """``spikeattack/<kind>/v<N>``."""
    if kind not in VERSIONS:
        raise ValueError(f"kind: expected one of {', '.join(VERSIONS)}, got {kind!r}")
    return f"spikeattack/{kind}/v{VERSIONS[kind]}"


def envelope(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` as the ``--json`` object of ``kind``: the two header fields first, values made public."""
    if "schema" in result or "spikeattack_version" in result:
        raise ValueError("result: 'schema' and 'spikeattack_version' are set here, not by the command")
    return {"schema": schema_name(kind), "spikeattack_version": __version__, **public(result)}


def accuracy_fields(accuracy: float, n: int, prefix: str = "") -> dict[str, Any]:
    """``{prefix}clean_accuracy`` and its 95% Clopper-Pearson interval (``accuracy = k / n``)."""
    from ...results.statistics import clopper_pearson

    return {f"{prefix}clean_accuracy": accuracy,
            f"{prefix}clean_accuracy_ci": list(clopper_pearson(round(accuracy * n), n))}


@lru_cache(maxsize=1)
def _text() -> str:
    return resources.files(__name__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The JSON Schema of every ``--json`` output (a fresh copy)."""
    return json.loads(_text())


def kind_schema(kind: str) -> dict[str, Any]:
    """A schema that accepts only ``kind``'s object (the whole file, rooted at that kind's definition)."""
    schema = load_schema()
    key = f"{kind}.v{VERSIONS[kind]}" if kind in VERSIONS else kind
    if key not in schema["$defs"]:
        raise ValueError(f"kind: no definition {key!r} in {SCHEMA_FILE}")
    return {"$schema": schema["$schema"], "$id": schema["$id"], "$defs": schema["$defs"],
            "$ref": f"#/$defs/{key}"}

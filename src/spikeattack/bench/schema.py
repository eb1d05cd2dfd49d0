"""The experiment file's schema: its keys, and a checker whose every error names ``file:line`` and the key."""

from __future__ import annotations

import math
import re
from typing import Any

MODEL_FIELDS = {"arch", "neuron", "decay", "threshold", "reset", "v_reset", "surrogate", "surrogate_width",
                "timesteps", "encoding", "mean", "std", "arch_options"}
SWEEPABLE = MODEL_FIELDS - {"mean", "std", "arch_options"}  # a list value sweeps these
TRAIN_FIELDS = {"epochs", "lr", "loss", "batch_size", "optimizer", "schedule", "weight_decay", "momentum", "amp"}
MODEL_EXTRA = {"adv", "convert_from", "convert_method", "convert_percentile", "seed", "normalize"}
FOREIGN_KEYS = {"factory", "weights", "blackbox_weights", "time", "readout"}
FOREIGN_CONFIG = {"timesteps", "encoding", "mean", "std"}
SCENARIOS = ("white-box", "black-box")
TOP_KEYS = {"name", "seed", "description", "paper", "data", "train", "models", "grid", "analyses", "max_cells",
            "evaluate"}
DATA_KEYS = {"dataset", "root", "limit", "batch_size", "resize", "frames", "time_bins"}
GRID_KEYS = {"targets", "attacks", "estimators", "eps", "scenarios", "cross", "params", "grad_params", "variant",
             "amp"}
ANALYSES_KEYS = {"spike_shuffle", "hart_gamma"}
EVALUATE_KEYS = {"targets", "eps", "norm", "version", "limit", "minimal"}


class ExperimentError(ValueError):
    """A malformed experiment file: the message names the line and the key."""


RESERVED = "#@=,"  # generated names: "snn#seed1" (black-box twin), "snn@decay=0.5,timesteps=4" (sweep member)
MAX_CELLS = 10_000  # a larger grid needs an explicit top-level ``max_cells = N``
SEED_LIMIT = 2 ** 63


class Locator:
    """Finds the line of a key in the TOML text (good enough for messages: the table's header
    is found first, then the key's first component that appears below it)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def header(self, section: str, nth: int = 0) -> int | None:
        """0-based index of the ``nth`` ``[section]`` / ``[[section]]`` header."""
        pattern = re.compile(rf"^\s*\[\[?\s*{re.escape(section)}\s*\]\]?\s*(#.*)?$")
        hits = [i for i, line in enumerate(self.lines) if pattern.match(line.replace('"', "").replace("'", ""))]
        return hits[nth] if nth < len(hits) else None

    def line(self, key: str, section: str | None = None, nth: int = 0) -> int | None:
        start = 0
        if section is not None:
            head = self.header(section, nth)
            if head is None:  # an inline table (data = {...}): look for the table's own key in its parent
                parent, _, own = section.rpartition(".")
                return self.line(own, parent or None)
            start = head + 1
        end = len(self.lines)
        for i in range(start, len(self.lines)):
            if section is not None and re.match(r"^\s*\[", self.lines[i]):
                end = i
                break
        for part in reversed(key.split(".")):
            pattern = re.compile(rf"^\s*[\"']?{re.escape(part)}[\"']?\s*=|[{{,]\s*[\"']?{re.escape(part)}[\"']?\s*=")
            for i in range(start, end):
                if pattern.search(self.lines[i]):
                    return i + 1
        return start if section is not None and start else None


class Checker:
    def __init__(self, text: str, path: str) -> None:
        self.path, self.where = path, Locator(text)

    def fail(self, key: str, message: str, section: str | None = None, nth: int = 0) -> ExperimentError:
        line = self.where.line(key.split(".", 1)[1] if section and key.startswith(section + ".") else key, section, nth)
        return ExperimentError(f"{self.path}:{line}: key {key!r}: {message}" if line else
                               f"{self.path}: key {key!r}: {message}")

    def table(self, value: Any, key: str, section: str | None = None, nth: int = 0) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {kind(value)}", section, nth)
        return value

    def keys(self, table: dict, allowed: set[str], where: str, section: str | None = None, nth: int = 0) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(f"{where}.{key}" if where else key,
                                f"unknown key; expected one of {', '.join(sorted(allowed))}", section, nth)

    def names(self, values: Any, valid: Any, key: str, section: str | None = None, nth: int = 0) -> list:
        values = self.strings(values, key, section, nth)
        for v in values:
            if v not in valid:
                raise self.fail(key, f"unknown name {v!r}; valid: {', '.join(sorted(map(str, valid)))}", section, nth)
        return values

    def strings(self, values: Any, key: str, section: str | None = None, nth: int = 0) -> list[str]:
        """A string or a non-empty list of strings."""
        values = values if isinstance(values, list) else [values]
        if not values:
            raise self.fail(key, "empty list: the grid would have no cells", section, nth)
        for v in values:
            if not isinstance(v, str):
                raise self.fail(key, f"expected a string or a list of strings, got {kind(v)} {v!r}", section, nth)
        return values

    def integer(self, value: Any, key: str, section: str | None = None, low: int = 1, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value >= high):
            bound = f"in [{low}, {high})" if high is not None else f">= {low}"
            raise self.fail(key, f"expected an integer {bound}, got {kind(value)} {value!r}", section)
        return value

    def number(self, value: Any, key: str, section: str | None = None, nth: int = 0, low: float | None = None,
               positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                low is not None and value < low) or (positive and value <= 0):
            bound = " > 0" if positive else f" >= {low}" if low is not None else ""
            raise self.fail(key, f"expected a finite number{bound}, got {kind(value)} {value!r}", section, nth)
        return float(value)


def kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def error_key(exc: Exception) -> str | None:
    """The argument a library ``ValueError`` names (``"timesteps: expected ..."`` -> ``timesteps``)."""
    head, sep, _ = str(exc).partition(":")
    return head.strip() if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", head.strip()) else None

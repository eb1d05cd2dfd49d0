"""The data model of an experiment: models, cells and their content hashes.

A cell is one independent unit of work (target, source, attack, estimator, eps) of one
experiment; its id is a hash of everything that fixes its result *and of the experiment's
name*, so a re-run skips finished cells and two experiments with the same grid in one run
folder each get their own cells (stores written before the name was part of the id are
adopted cell by cell on the next run of the same experiment: :meth:`Cell.legacy_id`).

A cell's ``eps`` is the budget as the grid gives it: a number for the image attacks (and
spike-BIM's own size per point), and for the L0 event attacks a count of elements or a
percentage (``64``, ``"1%"``; spike-BIM takes one too, translated by
:func:`~spikeattack.attacks.threat.spike_bim_eps`). The stored row's ``eps`` is that budget
in elements (:func:`row_eps`), so cells of ``"1%"`` and of its count combine per input.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..attacks import ATTACKS, attack_parameters


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def digest(obj: Any, length: int = 16) -> str:
    return hashlib.sha1(canonical(obj).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class ModelSpec:
    """One model of the experiment: how to build and train it (its key is a config hash)."""

    name: str
    config: dict[str, Any]
    train: dict[str, Any]
    seed: int
    adv: dict[str, Any] | None = None
    convert_from: str | None = None
    convert: dict[str, Any] = field(default_factory=dict)
    normalize: bool = False
    foreign: dict[str, Any] | None = None  # a user model: factory, weights, blackbox_weights, time, readout

    def key(self, data: dict[str, Any], resolve: "Experiment") -> str:
        base = {"config": self.config, "train": self.train, "seed": self.seed, "adv": self.adv,
                "normalize": self.normalize, "data": {k: data.get(k) for k in ("dataset", "resize", "frames", "time_bins")}}
        if self.foreign is not None:
            weights = self.foreign.get("weights")
            stat = Path(weights).stat() if weights and Path(weights).is_file() else None
            base["foreign"] = self.foreign | {"weights_file": None if stat is None else [stat.st_size, stat.st_mtime_ns]}
        if self.convert_from:
            base["convert"] = {"from": resolve.models[self.convert_from].key(data, resolve), **self.convert}
        return digest(base)

    def with_seed(self, seed: int) -> "ModelSpec":
        foreign = self.foreign
        if foreign is not None:  # a user model's "other seed" is its separately trained black-box weights
            foreign = {k: v for k, v in foreign.items() if k != "blackbox_weights"} | {"weights": foreign["blackbox_weights"]}
        return ModelSpec(f"{self.name}#seed{seed}", self.config, self.train, seed, self.adv, self.convert_from,
                         self.convert, self.normalize, foreign)

    @property
    def is_spiking(self) -> bool:
        return self.config.get("neuron", "lif") != "relu"


@dataclass(frozen=True)
class Cell:
    """One independent unit of work: (target, source, attack, estimator, eps)."""

    target: str
    source: str
    scenario: str
    attack: str
    grad: str
    eps: float | int | str | None  # an L0 budget: an int count or "x%" (see the module docstring)
    params: dict[str, Any]
    grad_params: dict[str, Any]
    variant: str = ""
    amp: str | None = None  # crafting under torch.autocast ("bf16" / "fp16"), None = full precision

    @property
    def label(self) -> str:
        """The attack as stored and reported: ``spike-bim@uth=2`` for a grid with ``variant``."""
        return f"{self.attack}@{self.variant}" if self.variant else self.attack

    def config(self, experiment: "Experiment") -> dict[str, Any]:
        data = experiment.data
        config = {"target": experiment.model_key(self.target), "source": experiment.model_key(self.source),
                  "scenario": self.scenario, "attack": self.attack, "grad": self.grad, "eps": self.eps,
                  "params": self.params, "grad_params": self.grad_params, "variant": self.variant,
                  "data": {k: data.get(k) for k in ("dataset", "resize", "frames", "time_bins", "limit")},
                  "seed": experiment.seed}
        if self.amp is not None:  # only then: full-precision cells keep the ids they always had
            config["amp"] = self.amp
        return config | {"experiment": experiment.name}

    def id(self, experiment: "Experiment") -> str:
        return digest(self.config(experiment), 24)

    def legacy_id(self, experiment: "Experiment") -> str:
        """The id this cell had before the experiment's name was part of it (stores of 0.1.0)."""
        return digest({k: v for k, v in self.config(experiment).items() if k != "experiment"}, 24)


def is_l0_budget(cell: Cell) -> bool:
    """Whether the cell's eps is an L0 budget: always for SDA and count-frame PGD, for spike-BIM
    when it is a count (an int) or a percentage rather than its own size per point (a float)."""
    cls = ATTACKS[cell.attack]
    if cls.l0_eps:
        return cell.eps is not None
    return cls.threat == "L0" and (isinstance(cell.eps, str) or (isinstance(cell.eps, int)
                                                                 and not isinstance(cell.eps, bool)))


def attack_eps(cell: Cell, elements: int | None) -> Any:
    """The ``eps`` the cell's attack is built with, for inputs of ``elements`` elements
    (``T*C*H*W``): an L0 budget as given to SDA / count-frame PGD, translated for spike-BIM."""
    if is_l0_budget(cell) and not ATTACKS[cell.attack].l0_eps:
        from ..attacks.threat import Budget, spike_bim_eps

        return spike_bim_eps(Budget.parse(cell.eps).resolve(elements), elements)
    return cell.eps


def row_eps(cell: Cell, elements: int | None) -> float | int | None:
    """The stored row's ``eps``: an L0 budget in elements (``"1%"`` resolved), else the cell's."""
    if is_l0_budget(cell):
        from ..attacks.threat import Budget

        return Budget.parse(cell.eps).resolve(elements)
    return None if cell.eps is None else float(cell.eps)


@dataclass(frozen=True)
class EvaluationSpec:
    """One evaluation of an ``[[evaluate]]`` table: a target at one budget. Images: the standard
    evaluation (``norm`` Linf or L2, ``eps`` a number); event frames: the event evaluation
    (``norm = "L0"``, ``eps`` a count of elements or ``"1%"``, ``minimal``: each input's minimal flips)."""

    target: str
    eps: float | int | str
    norm: str = "Linf"
    version: str = "standard"
    limit: int | None = None  # the first ``limit`` of the experiment's test inputs (None: all of them)
    minimal: bool = False

    def config(self, experiment: "Experiment") -> dict[str, Any]:
        data = experiment.data
        config = {"kind": "standard-evaluation", "experiment": experiment.name,
                  "target": experiment.model_key(self.target), "eps": self.eps, "norm": self.norm,
                  "version": self.version, "limit": self.limit, "seed": experiment.seed,
                  "data": {k: data.get(k) for k in ("dataset", "resize", "frames", "time_bins", "limit")}}
        if self.minimal:  # only then: the ids of evaluations without it stay what they were
            config["minimal"] = True
        return config

    def id(self, experiment: "Experiment") -> str:
        return digest(self.config(experiment), 24)


@dataclass
class Experiment:
    name: str
    seed: int
    data: dict[str, Any]
    models: dict[str, ModelSpec]
    cells: list[Cell]
    analyses: dict[str, Any]
    source_text: str = ""
    paper: str | None = None
    description: str = ""
    evaluations: list[EvaluationSpec] = field(default_factory=list)

    def model_key(self, name: str) -> str:
        return self.models[name].key(self.data, self)


def attack_takes_eps(name: str) -> bool:
    return "eps" in attack_parameters(name)


def cell_gradient(cell: "Cell", spiking: bool) -> dict[str, Any]:
    """The ``grad``/``grad_params`` keywords of a cell's attack on a crafting model (none for a
    gradient-free attack; the exact gradient, i.e. no estimator, for an ANN)."""
    if not ATTACKS[cell.attack].uses_gradient:
        return {}
    if not spiking or cell.grad in ("exact", "none"):
        return {}
    return {"grad": cell.grad, "grad_params": cell.grad_params}

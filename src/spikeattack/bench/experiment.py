"""Experiment files: the datasets, models, attacks, estimators, epsilons and scenarios of a run.

An experiment is a TOML file (see ``spikeattack/bench/presets/*.toml``)::

    name = "demo"
    seed = 0
    # paper = "hart"          # reference numbers to print beside ours (spikeattack reproduce)

    [data]
    dataset = "digits"        # any name of spikeattack.data.DATASETS
    limit = 200               # test inputs attacked per cell
    # root = "/data"; resize = 14; frames = "binary"; time_bins = 8

    [train]                   # defaults for every model (TrainConfig fields)
    epochs = 10

    [models.snn]              # one table per model: ModelConfig fields + training overrides
    arch = "small_cnn"
    decay = 0.5               # a list sweeps: decay = [0.5, 1.0] makes snn@decay=0.5, snn@decay=1.0
    timesteps = 8

    [models.ann]
    neuron = "relu"

    [[grid]]                  # one or more attack grids
    targets = ["snn"]
    attacks = ["fgsm", "pgd"]
    estimators = ["stbp", "bptr", "rga", "hart", "cba"]
    eps = [0.05, 0.1]
    scenarios = ["white-box", "black-box"]   # black-box: same config, seed + 1
    cross = ["ann"]           # crafted on these models (ANN vs SNN, conversion vs BPTT ...)
    params = { steps = 10 }   # attack parameters
    # variant = "uth=2"       # label for grids that differ only in params (stored as attack@variant)

Model-table keys besides ModelConfig fields: ``epochs, lr, loss, batch_size, optimizer,
schedule, weight_decay`` (training), ``adv = {attack, eps, steps, grad, ...}`` (adversarial
training), ``convert_from = "<ann model>"`` with ``convert_method``/``convert_percentile``
(ANN-to-SNN conversion, Sharmin et al.'s SNN-I). A malformed file raises
:class:`ExperimentError` naming the line and the key.

A user's own model (SpikingJelly, snnTorch, any PyTorch SNN; :mod:`spikeattack.interop`)::

    [models.mine]
    factory = "nets.py:csnn"        # RUNS that code when the experiment runs: only code you trust
    weights = "csnn.pth"            # loaded with weights_only=True, keys must match exactly
    blackbox_weights = "csnn-seed1.pth"   # the black-box source: same network, trained apart
    timesteps = 4                   # + time, readout, encoding, mean, std where needed

Relative paths are relative to the experiment file. Such a model is never trained; its key
hashes the factory, the options and the weights files' sizes and modification times.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import itertools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..attacks import ATTACKS, Attack
from ..data import DATASETS
from ..gradients import ESTIMATORS
from ..models import ARCHS, ModelConfig

MODEL_FIELDS = {"arch", "neuron", "decay", "threshold", "reset", "v_reset", "surrogate", "surrogate_width",
                "timesteps", "encoding", "mean", "std", "arch_options"}
TRAIN_FIELDS = {"epochs", "lr", "loss", "batch_size", "optimizer", "schedule", "weight_decay", "momentum"}
MODEL_EXTRA = {"adv", "convert_from", "convert_method", "convert_percentile", "seed", "normalize"}
FOREIGN_KEYS = {"factory", "weights", "blackbox_weights", "time", "readout"}
FOREIGN_CONFIG = {"timesteps", "encoding", "mean", "std"}
SCENARIOS = ("white-box", "black-box")
TOP_KEYS = {"name", "seed", "description", "paper", "data", "train", "models", "grid", "analyses"}
DATA_KEYS = {"dataset", "root", "limit", "batch_size", "resize", "frames", "time_bins"}
GRID_KEYS = {"targets", "attacks", "estimators", "eps", "scenarios", "cross", "params", "grad_params", "variant"}
ANALYSES_KEYS = {"spike_shuffle", "hart_gamma"}


class ExperimentError(ValueError):
    """A malformed experiment file: the message names the line and the key."""


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
    eps: float | None
    params: dict[str, Any]
    grad_params: dict[str, Any]
    variant: str = ""

    @property
    def label(self) -> str:
        """The attack as stored and reported: ``spike-bim@uth=2`` for a grid with ``variant``."""
        return f"{self.attack}@{self.variant}" if self.variant else self.attack

    def config(self, experiment: "Experiment") -> dict[str, Any]:
        data = experiment.data
        return {"target": experiment.model_key(self.target), "source": experiment.model_key(self.source),
                "scenario": self.scenario, "attack": self.attack, "grad": self.grad, "eps": self.eps,
                "params": self.params, "grad_params": self.grad_params, "variant": self.variant,
                "data": {k: data.get(k) for k in ("dataset", "resize", "frames", "time_bins", "limit")},
                "seed": experiment.seed}

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

    def model_key(self, name: str) -> str:
        return self.models[name].key(self.data, self)


def attack_parameters(name: str) -> set[str]:
    """Keyword parameters attack ``name`` takes: its own and those of the shared base class."""
    own = set(inspect.signature(ATTACKS[name].__init__).parameters)
    base = set(inspect.signature(Attack.__init__).parameters)
    return (own | base) - {"self", "model", "kwargs"}


def attack_takes_eps(name: str) -> bool:
    return "eps" in attack_parameters(name)


def _line_of(text: str, key: str, after: str | None = None) -> int | None:
    """1-based line where ``key = ...`` (or ``[key]``) appears, searching after ``after``'s line."""
    lines = text.splitlines()
    start = 0
    if after is not None:
        found = _line_of(text, after)
        start = found or 0
    pattern = re.compile(rf"^\s*(\[+\s*)?[\"']?{re.escape(key)}[\"']?\s*(=|\]|\.)")
    for i in range(start, len(lines)):
        if pattern.search(lines[i]):
            return i + 1
    return None


class _Checker:
    def __init__(self, text: str, path: str) -> None:
        self.text, self.path = text, path

    def fail(self, key: str, message: str, section: str | None = None) -> ExperimentError:
        line = _line_of(self.text, key.split(".")[-1], section)
        where = f"{self.path}:{line}" if line else self.path
        return ExperimentError(f"{where}: key {key!r}: {message}")

    def keys(self, table: dict, allowed: set[str], where: str, section: str | None = None) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(f"{where}.{key}" if where else key,
                                f"unknown key; expected one of {', '.join(sorted(allowed))}", section)

    def names(self, values: Any, valid: Any, key: str, section: str | None = None) -> list:
        values = values if isinstance(values, list) else [values]
        for v in values:
            if v not in valid:
                raise self.fail(key, f"unknown name {v!r}; valid: {', '.join(sorted(map(str, valid)))}", section)
        return values


def _expand_sweeps(name: str, table: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``decay = [0.5, 1.0]`` -> models ``name@decay=0.5`` and ``name@decay=1.0``."""
    sweep = {k: v for k, v in table.items() if k in MODEL_FIELDS - {"mean", "std", "arch_options"} and isinstance(v, list)}
    if not sweep:
        return [(name, table)]
    out = []
    for combo in itertools.product(*sweep.values()):
        values = dict(zip(sweep, combo))
        label = ",".join(f"{k}={v}" for k, v in values.items())
        out.append((f"{name}@{label}", table | values))
    return out


def _foreign_spec(check: "_Checker", name: str, table: dict[str, Any], section: str, seed: int,
                  folder: Path) -> ModelSpec:
    """The spec of a ``factory = "file.py:function"`` model table (see the module docstring)."""
    from ..interop import READOUTS, TIMES

    check.keys(table, FOREIGN_KEYS | FOREIGN_CONFIG | {"seed"}, section, section)
    foreign = {k: table[k] for k in FOREIGN_KEYS if k in table}
    for key in ("factory", "weights", "blackbox_weights"):
        if key in foreign and not isinstance(foreign[key], str):
            raise check.fail(f"{section}.{key}", "expected a string", section)
    where, _, func = foreign["factory"].rpartition(":")
    if not where or not func.isidentifier():
        raise check.fail(f"{section}.factory", "expected 'path/to/file.py:function' or 'module:function'", section)
    if where.endswith(".py") and not Path(where).is_absolute():
        foreign["factory"] = f"{folder / where}:{func}"
    for key in ("weights", "blackbox_weights"):
        if key in foreign and not Path(foreign[key]).is_absolute():
            foreign[key] = str(folder / foreign[key])
    if foreign.get("time") not in (None, *TIMES):
        raise check.fail(f"{section}.time", f"expected one of {', '.join(TIMES)}", section)
    if foreign.get("readout") not in (None, *READOUTS):
        raise check.fail(f"{section}.readout", f"expected one of {', '.join(READOUTS)}", section)
    config = {k: table[k] for k in FOREIGN_CONFIG if k in table}
    try:
        ModelConfig(arch="interop", in_channels=1, input_size=(32, 32), num_classes=10, **config)
    except (TypeError, ValueError) as exc:
        key = str(exc).split(":")[0] if ":" in str(exc) else "timesteps"
        raise check.fail(f"{section}.{key}", str(exc), section) from exc
    return ModelSpec(name, config, {}, int(table.get("seed", seed)), foreign=foreign)


def parse_experiment(text: str, path: str = "<experiment>") -> Experiment:
    """Parse and validate an experiment; errors name the line and the key."""
    check = _Checker(text, path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: not valid TOML: {exc}") from exc
    check.keys(raw, TOP_KEYS, "")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise check.fail("seed", "expected an integer")
    data = dict(raw.get("data", {}))
    check.keys(data, DATA_KEYS, "data", "data")
    data.setdefault("dataset", "digits")
    check.names(data["dataset"], DATASETS, "data.dataset", "data")
    data.setdefault("limit", 200)
    if not isinstance(data["limit"], int) or data["limit"] < 1:
        raise check.fail("data.limit", "expected an integer >= 1", "data")
    train_defaults = dict(raw.get("train", {}))
    check.keys(train_defaults, TRAIN_FIELDS, "train", "train")

    models: dict[str, ModelSpec] = {}
    model_tables = raw.get("models", {})
    if not isinstance(model_tables, dict) or not model_tables:
        raise check.fail("models", "expected at least one [models.NAME] table")
    sweeps: dict[str, list[str]] = {}
    for base_name, table in model_tables.items():
        if not isinstance(table, dict):
            raise check.fail(f"models.{base_name}", "expected a table")
        section = f"models.{base_name}"
        if "factory" in table:  # a user model: loaded, never trained
            models[base_name] = _foreign_spec(check, base_name, table, section, seed, Path(path).parent)
            sweeps[base_name] = [base_name]
            continue
        check.keys(table, MODEL_FIELDS | TRAIN_FIELDS | MODEL_EXTRA, section, section)
        if "arch" in table:
            check.names(table["arch"], ARCHS, f"{section}.arch", section)
        expanded = _expand_sweeps(base_name, table)
        sweeps[base_name] = [n for n, _ in expanded]
        for name, t in expanded:
            config = {k: t[k] for k in MODEL_FIELDS if k in t}
            config.setdefault("arch", "small_cnn")
            try:  # validate the fields now (shape-free), so the error can name the line
                ModelConfig(in_channels=1, input_size=(32, 32), num_classes=10, **config)
            except (TypeError, ValueError) as exc:
                key = str(exc).split(":")[0] if ":" in str(exc) else "arch"
                raise check.fail(f"{section}.{key}", str(exc), section) from exc
            train = train_defaults | {k: t[k] for k in TRAIN_FIELDS if k in t}
            adv = t.get("adv")
            if adv is not None and not isinstance(adv, dict):
                raise check.fail(f"{section}.adv", "expected a table {attack, eps, steps, grad}", section)
            convert = {k.removeprefix("convert_"): t[k] for k in ("convert_method", "convert_percentile") if k in t}
            models[name] = ModelSpec(name, config, train, int(t.get("seed", seed)), adv, t.get("convert_from"),
                                     convert, bool(t.get("normalize", False)))
    for spec in models.values():
        if spec.convert_from is not None:
            if spec.convert_from not in models or models[spec.convert_from].is_spiking:
                raise check.fail(f"models.{spec.name.split('@')[0]}.convert_from",
                                 f"expected the name of an ANN model (neuron = \"relu\"), got {spec.convert_from!r}")

    def model_names(values: Any, key: str) -> list[str]:
        names = []
        for v in values if isinstance(values, list) else [values]:
            if v in sweeps:
                names += sweeps[v]
            elif v in models:
                names.append(v)
            else:
                raise check.fail(key, f"unknown model {v!r}; valid: {', '.join(sorted(models))}", "grid")
        return names

    def seed_twin(name: str) -> str:
        """The black-box source of ``name``: the same config trained with seed + 1 (a converted
        SNN is converted from its ANN's own seed + 1 twin; a user model's blackbox_weights)."""
        spec = models[name]
        if spec.foreign is not None and not spec.foreign.get("blackbox_weights"):
            raise check.fail("grid.scenarios", f"black-box on the user model {name!r} needs its blackbox_weights "
                             "(the same network trained separately)", "grid")
        other = spec.with_seed(spec.seed + 1)
        if spec.convert_from is not None:
            other = dataclasses.replace(other, convert_from=seed_twin(spec.convert_from))
        models.setdefault(other.name, other)
        return other.name

    cells: list[Cell] = []
    grids = raw.get("grid", [])
    if not isinstance(grids, list):
        raise check.fail("grid", "expected [[grid]] tables")
    for g in grids:
        check.keys(g, GRID_KEYS, "grid", "grid")
        targets = model_names(g.get("targets", list(model_tables)), "grid.targets")
        attacks = check.names(g.get("attacks", ["fgsm", "pgd"]), ATTACKS, "grid.attacks", "grid")
        estimators = check.names(g.get("estimators", ["stbp"]), ESTIMATORS, "grid.estimators", "grid")
        eps_values = g.get("eps", [8 / 255])
        eps_values = eps_values if isinstance(eps_values, list) else [eps_values]
        for e in eps_values:
            if isinstance(e, bool) or not isinstance(e, (int, float)) or e < 0:
                raise check.fail("grid.eps", f"expected numbers >= 0, got {e!r}", "grid")
        scenarios = check.names(g.get("scenarios", ["white-box"]), SCENARIOS, "grid.scenarios", "grid")
        cross = model_names(g.get("cross", []), "grid.cross")
        params = dict(g.get("params", {}))
        takers = set().union(*(attack_parameters(a) for a in attacks)) if attacks else set()
        for key in params:
            if key in ("eps", "grad", "grad_params"):
                raise check.fail(f"grid.params.{key}", f"set {key} with the grid's own key, not in params", "grid")
            if key not in takers:
                raise check.fail(f"grid.params.{key}", f"no attack of this grid ({', '.join(attacks)}) takes it; "
                                 f"valid: {', '.join(sorted(takers))}", "grid")
        grad_params = dict(g.get("grad_params", {}))
        variant = str(g.get("variant", ""))
        for target in targets:
            sources: list[tuple[str, str]] = []
            if "white-box" in scenarios:
                sources.append((target, "white-box"))
            if "black-box" in scenarios:
                sources.append((seed_twin(target), "black-box"))
            sources += [(c, f"cross:{c}") for c in cross if c != target]
            for (source, scenario), attack, eps in itertools.product(sources, attacks, eps_values):
                if not attack_takes_eps(attack):
                    if eps != eps_values[0]:
                        continue  # one cell: the attack has no budget (CW)
                    eps = None
                if not ATTACKS[attack].uses_gradient:
                    grads = ["none"]  # gradient-free: one cell, whatever the estimators
                else:
                    grads = estimators if models[source].is_spiking else ["exact"]
                for grad in grads:
                    gp = grad_params.get(grad, {}) if isinstance(grad_params.get(grad), dict) else {}
                    cells.append(Cell(target, source, scenario, attack, grad, None if eps is None else float(eps),
                                      params, gp, variant))
    analyses = dict(raw.get("analyses", {}))
    check.keys(analyses, ANALYSES_KEYS, "analyses", "analyses")
    return Experiment(str(raw.get("name", Path(path).stem)), seed, data, models, cells, analyses, text,
                      raw.get("paper"), str(raw.get("description", "")))


def load_experiment(path: str | Path) -> Experiment:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"experiment: no file at {str(path)!r}")
    return parse_experiment(path.read_text(), str(path))

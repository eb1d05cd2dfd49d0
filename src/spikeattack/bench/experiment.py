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
    # amp = "bf16"            # craft under torch.autocast ("bf16" or "fp16"); evaluation stays full precision

Model-table keys besides ModelConfig fields: ``epochs, lr, loss, batch_size, optimizer,
schedule, weight_decay`` (training), ``adv = {attack, eps, steps, grad, ...}`` (adversarial
training), ``convert_from = "<ann model>"`` with ``convert_method``/``convert_percentile``
(ANN-to-SNN conversion, Sharmin et al.'s SNN-I). A malformed file raises
:class:`ExperimentError` naming the line and the key.

Generated model names have their own namespace: ``NAME#seed1`` is the black-box twin and
``NAME@key=value`` a sweep member, so user names may not contain ``# @ = ,``. The whole file
is validated before anything runs (attacks are built once on stand-in models); a grid of
more than 10,000 cells needs a top-level ``max_cells = N``.

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
import itertools
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..attacks import ATTACKS, attack_parameters
from ..data import DATASETS
from ..gradients import ESTIMATORS
from ..models import ARCHS, ModelConfig
from .budgets import cell_eps, check_budget_units, parse_evaluations
from .cells import Cell, Experiment, ModelSpec, attack_takes_eps, cell_gradient, digest
from .standins import StandIns, check_cell
from .schema import (ANALYSES_KEYS, DATA_KEYS, FOREIGN_CONFIG, FOREIGN_KEYS, GRID_KEYS, MAX_CELLS, MODEL_EXTRA,
                     MODEL_FIELDS, RESERVED, SCENARIOS, SEED_LIMIT, SWEEPABLE, TOP_KEYS, TRAIN_FIELDS, Checker,
                     ExperimentError, error_key, kind)

__all__ = ["Cell", "Experiment", "ExperimentError", "ModelSpec", "cell_gradient", "digest", "load_experiment",
           "parse_experiment"]


def _expand_sweeps(name: str, table: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``decay = [0.5, 1.0]`` -> models ``name@decay=0.5`` and ``name@decay=1.0``."""
    sweep = {k: v for k, v in table.items() if k in SWEEPABLE and isinstance(v, list)}
    if not sweep:
        return [(name, table)]
    out = []
    for combo in itertools.product(*sweep.values()):
        values = dict(zip(sweep, combo))
        label = ",".join(f"{k}={v}" for k, v in values.items())
        out.append((f"{name}@{label}", table | values))
    return out


def _check_train(check: Checker, train: dict, key: str, section: str) -> None:
    from ..training import TrainConfig

    for name in ("epochs", "batch_size"):
        if name in train:
            check.integer(train[name], f"{key}.{name}", section)
    try:
        TrainConfig(**train)
    except (TypeError, ValueError) as exc:
        raise check.fail(f"{key}.{error_key(exc) or 'train'}", str(exc), section) from exc


def _check_data(check: Checker, data: dict) -> None:
    check.keys(data, DATA_KEYS, "data", "data")
    check.names(data["dataset"], DATASETS, "data.dataset", "data")
    if not isinstance(data["dataset"], str):
        raise check.fail("data.dataset", "expected one dataset name", "data")
    for key in ("limit", "batch_size", "resize", "time_bins"):
        if data.get(key) is not None:
            check.integer(data[key], f"data.{key}", "data")
    if data.get("frames") is not None and data["frames"] not in ("binary", "count"):
        raise check.fail("data.frames", f"expected 'binary' or 'count', got {data['frames']!r}", "data")
    if data.get("root") is not None and not isinstance(data["root"], str):
        raise check.fail("data.root", f"expected a folder path, got {kind(data['root'])}", "data")


def _foreign_spec(check: "Checker", name: str, table: dict[str, Any], section: str, seed: int,
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
    """Parse and fully validate an experiment before anything runs: types, ranges, names
    (user names may not hold the generated names' characters ``# @ = ,``), unknown keys,
    empty grids, attack and estimator parameters (by building each attack on a stand-in
    model), duplicate models; every error names ``file:line`` and the key."""
    check = Checker(text, path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: not valid TOML: {exc}") from exc
    check.keys(raw, TOP_KEYS, "")
    seed = check.integer(raw.get("seed", 0), "seed", low=0, high=SEED_LIMIT)
    for key in ("name", "description", "paper"):
        if key in raw and not isinstance(raw[key], str):
            raise check.fail(key, f"expected a string, got {kind(raw[key])}")
    if "paper" in raw:
        from .presets import PAPERS

        check.names(raw["paper"], PAPERS, "paper")
    max_cells = check.integer(raw.get("max_cells", MAX_CELLS), "max_cells")
    data = dict(check.table(raw.get("data", {}), "data"))
    data.setdefault("dataset", "digits")
    data.setdefault("limit", 200)
    _check_data(check, data)
    from ..data import EVENT_DATASETS

    stand_ins = StandIns(data["dataset"] in EVENT_DATASETS)
    train_defaults = dict(check.table(raw.get("train", {}), "train"))
    check.keys(train_defaults, TRAIN_FIELDS, "train", "train")
    _check_train(check, train_defaults, "train", "train")

    models, sweeps = _parse_models(check, raw, data, train_defaults, seed, Path(path).parent)
    cells = _parse_grids(check, raw, models, sweeps, stand_ins, max_cells) if "grid" in raw or "evaluate" not in raw \
        else []
    analyses = _parse_analyses(check, raw)
    evaluations = parse_evaluations(check, raw, models, sweeps, data)
    return Experiment(str(raw.get("name", Path(path).stem)), seed, data, models, cells, analyses, text,
                      raw.get("paper"), str(raw.get("description", "")), evaluations)




def _parse_models(check: Checker, raw: dict, data: dict, train_defaults: dict, seed: int, folder: Path
                  ) -> tuple[dict[str, ModelSpec], dict[str, list[str]]]:
    """The ``[models.NAME]`` tables: specs by name (sweeps expanded) and each table's members."""
    models: dict[str, ModelSpec] = {}
    model_tables = check.table(raw.get("models", {}), "models")
    if not model_tables:
        raise check.fail("models", "expected at least one [models.NAME] table")
    sweeps: dict[str, list[str]] = {}
    for base_name, table in model_tables.items():
        section = f"models.{base_name}"
        if not base_name or any(c in base_name for c in RESERVED) or base_name != base_name.strip():
            raise check.fail(section, f"model name {base_name!r} may not be empty or hold any of {' '.join(RESERVED)}:"
                             " they mark generated names (NAME#seed1 black-box twins, NAME@key=value sweep members)",
                             section)
        check.table(table, section, section)
        if "factory" in table:  # a user model: loaded, never trained
            models[base_name] = _foreign_spec(check, base_name, table, section, seed, folder)
            sweeps[base_name] = [base_name]
            continue
        check.keys(table, MODEL_FIELDS | TRAIN_FIELDS | MODEL_EXTRA, section, section)
        if "arch" in table:
            check.names(table["arch"], ARCHS, f"{section}.arch", section)
        for key, value in table.items():
            if isinstance(value, list) and key in SWEEPABLE and not value:
                raise check.fail(f"{section}.{key}", "empty sweep list: no model to train", section)
        model_seed = check.integer(table.get("seed", seed), f"{section}.seed", section, low=0, high=SEED_LIMIT)
        if not isinstance(table.get("normalize", False), bool):
            raise check.fail(f"{section}.normalize", "expected true or false", section)
        _check_train(check, train_defaults | {k: table[k] for k in TRAIN_FIELDS if k in table}, section, section)
        adv = table.get("adv")
        if adv is not None:
            from ..training.adversarial import adversarial_perturbation

            check.table(adv, f"{section}.adv", section)
            try:
                adversarial_perturbation(**adv)
            except (TypeError, ValueError) as exc:
                raise check.fail(f"{section}.adv.{error_key(exc) or 'adv'}", str(exc), section) from exc
        convert = {k.removeprefix("convert_"): table[k] for k in ("convert_method", "convert_percentile") if k in table}
        if "method" in convert:
            from ..training.conversion import METHODS

            check.names(convert["method"], METHODS, f"{section}.convert_method", section)
        if "percentile" in convert:
            p = check.number(convert["percentile"], f"{section}.convert_percentile", section, positive=True)
            if p > 100:
                raise check.fail(f"{section}.convert_percentile", f"expected a value in (0, 100], got {p}", section)
        if table.get("convert_from") is not None and not isinstance(table["convert_from"], str):
            raise check.fail(f"{section}.convert_from", "expected the name of an ANN model", section)
        expanded = _expand_sweeps(base_name, table)
        sweeps[base_name] = [n for n, _ in expanded]
        for name, t in expanded:
            config = {k: t[k] for k in MODEL_FIELDS if k in t}
            config.setdefault("arch", "small_cnn")
            try:  # validate the fields now (shape-free), so the error can name the line
                ModelConfig(in_channels=1, input_size=(32, 32), num_classes=10, **config)
            except (TypeError, ValueError) as exc:
                raise check.fail(f"{section}.{error_key(exc) or 'arch'}", str(exc), section) from exc
            train = train_defaults | {k: t[k] for k in TRAIN_FIELDS if k in t}
            models[name] = ModelSpec(name, config, train, model_seed, adv, t.get("convert_from"), convert,
                                     t.get("normalize", False))
    for spec in models.values():
        if spec.convert_from is not None:
            table = f"models.{spec.name.split('@')[0]}"
            if not spec.is_spiking:  # conversion makes a spiking net: so no chain, and no cycle, of conversions
                raise check.fail(f"{table}.convert_from", "only a spiking model is converted from an ANN; this model "
                                 "is an ANN (neuron = \"relu\")", table)
            if spec.convert_from not in models or models[spec.convert_from].is_spiking:
                raise check.fail(f"models.{spec.name.split('@')[0]}.convert_from",
                                 f"expected the name of an ANN model (neuron = \"relu\"), got {spec.convert_from!r}",
                                 f"models.{spec.name.split('@')[0]}")
    seen: dict[str, str] = {}
    for name in models:
        key = ModelSpec.key(models[name], data, _Resolver(models))
        if key in seen:
            base = name.split("@")[0]
            raise check.fail(f"models.{base}", f"model {name!r} has the same configuration as {seen[key]!r} (same "
                             "architecture, training and seed): they would be one model; remove one or give it "
                             "another seed", f"models.{base}")
        seen[key] = name

    return models, sweeps


def _parse_grids(check: Checker, raw: dict, models: dict[str, ModelSpec], sweeps: dict[str, list[str]],
                 stand_ins: StandIns, max_cells: int) -> list[Cell]:
    """The ``[[grid]]`` tables as cells (black-box twins added to ``models`` as needed)."""
    model_tables = raw["models"]

    def model_names(values: Any, key: str, nth: int) -> list[str]:
        names = []
        for v in check.strings(values, key, "grid", nth):
            if v in sweeps:
                names += sweeps[v]
            elif v in models:
                names.append(v)
            else:
                raise check.fail(key, f"unknown model {v!r}; valid: {', '.join(sorted(models))}", "grid", nth)
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
    if not isinstance(grids, list) or not grids:
        raise check.fail("grid", "expected one or more [[grid]] (or [[evaluate]]) tables")
    for nth, g in enumerate(grids):
        check.table(g, "grid", "grid", nth)
        check.keys(g, GRID_KEYS, "grid", "grid", nth)
        targets = model_names(g.get("targets", list(model_tables)), "grid.targets", nth)
        attacks = check.names(g.get("attacks", ["fgsm", "pgd"]), ATTACKS, "grid.attacks", "grid", nth)
        estimators = check.names(g.get("estimators", ["stbp"]), ESTIMATORS, "grid.estimators", "grid", nth)
        eps_given = "eps" in g
        eps_values = g.get("eps", [8 / 255])
        eps_values = eps_values if isinstance(eps_values, list) else [eps_values]
        if not eps_values:
            raise check.fail("grid.eps", "empty list: the grid would have no cells", "grid", nth)
        budgeted = [a for a in attacks if attack_takes_eps(a) and (eps_given or not ATTACKS[a].l0_eps)]
        for attack in budgeted:
            for e in eps_values:
                cell_eps(check, attack, e, nth)
        if not budgeted:  # no attack reads them (CW): still numbers, as ever
            for e in eps_values:
                check.number(e, "grid.eps", "grid", nth, low=0)
        scenarios = check.names(g.get("scenarios", ["white-box"]), SCENARIOS, "grid.scenarios", "grid", nth)
        cross = model_names(g.get("cross", []), "grid.cross", nth) if g.get("cross", []) != [] else []
        params = dict(check.table(g.get("params", {}), "grid.params", "grid", nth))
        takers = set().union(*(attack_parameters(a) for a in attacks))
        for key in params:
            if key in ("eps", "grad", "grad_params"):
                raise check.fail(f"grid.params.{key}", f"set {key} with the grid's own key, not in params", "grid", nth)
            if key not in takers:
                raise check.fail(f"grid.params.{key}", f"no attack of this grid ({', '.join(attacks)}) takes it; "
                                 f"valid: {', '.join(sorted(takers))}", "grid", nth)
        grad_params = dict(check.table(g.get("grad_params", {}), "grid.grad_params", "grid", nth))
        for grad, table in grad_params.items():
            if grad not in estimators:
                raise check.fail(f"grid.grad_params.{grad}", f"estimator {grad!r} is not in this grid's estimators "
                                 f"({', '.join(estimators)}); its parameters would never be used", "grid", nth)
            check.table(table, f"grid.grad_params.{grad}", "grid", nth)
        if "variant" in g and not isinstance(g["variant"], str):
            raise check.fail("grid.variant", f"expected a string, got {kind(g['variant'])}", "grid", nth)
        variant = g.get("variant", "")
        amp = g.get("amp")
        if amp is not None and amp not in ("bf16", "fp16"):
            raise check.fail("grid.amp", f"expected \"bf16\" or \"fp16\" (leave it out for full precision), "
                             f"got {kind(amp)} {amp!r}", "grid", nth)
        built: set = set()
        for target in targets:
            sources: list[tuple[str, str]] = []
            if "white-box" in scenarios:
                sources.append((target, "white-box"))
            if "black-box" in scenarios:
                sources.append((seed_twin(target), "black-box"))
            sources += [(c, f"cross:{c}") for c in cross if c != target]
            for (source, scenario), attack, (k, eps) in itertools.product(sources, attacks, enumerate(eps_values)):
                if not attack_takes_eps(attack) or (ATTACKS[attack].l0_eps and not eps_given):
                    if k:
                        continue  # one cell: the attack has no budget (CW), or an L0 attack given none
                    eps = None
                else:
                    eps = cell_eps(check, attack, eps, nth)
                if not ATTACKS[attack].uses_gradient:
                    grads = ["none"]  # gradient-free: one cell, whatever the estimators
                else:
                    grads = estimators if models[source].is_spiking else ["exact"]
                for grad in grads:
                    gp = grad_params.get(grad, {})
                    cell = Cell(target, source, scenario, attack, grad, eps, params, gp, variant, amp)
                    if len(cells) == max_cells:
                        raise check.fail("grid", f"the experiment has more than {max_cells:,} cells; set "
                                         "max_cells = N at the top of the file to run a grid this large", "grid", nth)
                    check_cell(check, cell, models[source], stand_ins, built, nth)
                    cells.append(cell)
    check_budget_units(check, cells)
    return cells


def _parse_analyses(check: Checker, raw: dict) -> dict[str, Any]:
    """The ``[analyses]`` table."""
    analyses = dict(check.table(raw.get("analyses", {}), "analyses"))
    check.keys(analyses, ANALYSES_KEYS, "analyses", "analyses")
    if not isinstance(analyses.get("spike_shuffle", False), bool):
        raise check.fail("analyses.spike_shuffle", "expected true or false", "analyses")
    gammas = analyses.get("hart_gamma", False)
    if isinstance(gammas, list):
        if not gammas:
            raise check.fail("analyses.hart_gamma", "empty list: no gamma to try", "analyses")
        for v in gammas:
            check.number(v, "analyses.hart_gamma", "analyses", positive=True)
    elif not isinstance(gammas, bool):
        raise check.fail("analyses.hart_gamma", f"expected true (the default gammas) or a list of numbers > 0, got "
                         f"{kind(gammas)} {gammas!r}", "analyses")
    return analyses


class _Resolver:
    """What :meth:`ModelSpec.key` needs from an experiment while it is being parsed."""

    def __init__(self, models: dict[str, ModelSpec]) -> None:
        self.models = models


def load_experiment(path: str | Path) -> Experiment:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"experiment: no file at {str(path)!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ExperimentError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    return parse_experiment(text, str(path))

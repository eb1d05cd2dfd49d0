"""Checking a grid's cells before anything runs: each distinct attack setting is built once on a tiny
stand-in of its crafting model, so attack and estimator parameters (and their combinations) are
validated by the real constructors, and an error names the grid key at fault."""

from __future__ import annotations

import math

from ..attacks import attack_parameters, make_attack
from ..models import ModelConfig, build_model
from .cells import Cell, ModelSpec, attack_eps, canonical, cell_gradient
from .schema import GRID_KEYS, Checker, error_key


class StandIns:
    """Tiny models of each (neuron, encoding) kind on which every grid's attacks are built
    once at parse time, so attack parameters, estimator parameters and their combinations
    are checked by the real constructors before any model is trained."""

    def __init__(self, sequence: bool) -> None:
        self.sequence, self.cache = sequence, {}

    def model(self, spec: ModelSpec):
        encoding = "spikes" if self.sequence else spec.config.get("encoding", "direct")
        kind = (spec.config.get("neuron", "lif") if spec.is_spiking else "relu", encoding)
        if kind not in self.cache:
            self.cache[kind] = build_model(ModelConfig(
                arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10, neuron=kind[0], timesteps=2,
                encoding=encoding, arch_options={"channels": (2, 2), "hidden": 4}))
        return self.cache[kind]


def check_cell(check: Checker, cell: Cell, source: ModelSpec, stand_ins: StandIns, built: set, nth: int) -> None:
    """Build the cell's attack on a stand-in of the crafting model (once per distinct setting)."""
    spiking = source.is_spiking
    model = stand_ins.model(source)
    params = {k: v for k, v in cell.params.items() if k in attack_parameters(cell.attack)}
    signature = (cell.attack, cell.grad, spiking, model.config.encoding, cell.eps, canonical(params),
                 canonical(cell.grad_params))
    if signature in built:
        return
    built.add(signature)
    if cell.eps is not None:
        elements = model.timesteps * math.prod(model.input_shape) if model.takes_sequence else None
        params["eps"] = attack_eps(cell, elements)
    try:
        make_attack(cell.attack, model, **cell_gradient(cell, spiking), **params)
    except (TypeError, ValueError) as exc:
        key = error_key(exc)
        if key == "eps":
            where = "grid.eps"
        elif key == "model":  # the attack does not fit the crafting model (e.g. spike-bim on images)
            where = "grid.attacks"
        elif key in cell.params:
            where = f"grid.params.{key}"
        elif cell.grad_params and (key in cell.grad_params or key in ("grad", "grad_params", None)):
            where = f"grid.grad_params.{cell.grad}" + (f".{key}" if key in cell.grad_params else "")
        else:
            where = f"grid.{key}" if key in GRID_KEYS else "grid.params"
        raise check.fail(where, f"{cell.attack} with {cell.grad} on {source.name}: {exc}", "grid", nth) from exc

"""Building, loading and presenting the suite's models: the raw network (its framework's own
modules), the *native* logits module (what torchattacks attacks: state reset, the framework's
own time loop, logits out) and spikeattack's ``wrap`` of it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from . import zoo_snntorch, zoo_spikingjelly
from .suite import spec as suite_spec

ZOOS = {"spikingjelly": zoo_spikingjelly, "snntorch": zoo_snntorch}
WEIGHTS = Path(os.environ.get("SPIKEATTACK_PEERS", Path(__file__).resolve().parent / "weights"))


def build(spec: dict) -> nn.Module:
    """A freshly initialised network of ``spec`` (seeded by the caller)."""
    factory = getattr(ZOOS[spec["framework"]], spec["builder"])
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.get("kwargs", {}).items()}
    return factory(**kwargs)


def native_logits(net: nn.Module, spec: dict, x: torch.Tensor) -> torch.Tensor:
    """Class scores computed the way the network's own loop computes them."""
    if spec["framework"] == "spikingjelly":
        return zoo_spikingjelly.logits(net, x, spec["T"], spec["time"])
    return zoo_snntorch.logits(net, x, spec["T"], spec["time"], spec.get("readout", "mean"),
                               spec.get("encoding", "direct"))


class Native(nn.Module):
    """The raw network behind a thin module for torchattacks: resets its state, runs its own time
    loop, returns logits; gradients are the network's own autograd (its surrogate: STBP)."""

    def __init__(self, net: nn.Module, spec: dict) -> None:
        super().__init__()
        self.net, self.spec = net, spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return native_logits(self.net, self.spec, x)


def wrapped(net: nn.Module, spec: dict, name: str | None = None):
    """spikeattack's view of the network (``spikeattack.interop.wrap``) with the suite's metadata."""
    from .sa import wrap

    return wrap(net, timesteps=spec["T"], input_shape=tuple(spec["input_shape"]), num_classes=10, time=spec["time"],
                readout=spec["readout"], encoding=spec.get("encoding", "direct"), name=name)


def paths(name: str, root: Path | None = None) -> tuple[Path, Path]:
    root = Path(root or WEIGHTS)
    return root / f"{name}.pt", root / f"{name}.json"


def load(name: str, root: Path | None = None) -> tuple[nn.Module, dict, dict]:
    """``(net, spec, meta)`` of a built suite model (``build.py`` first)."""
    spec = suite_spec(name)
    weights, meta_path = paths(name, root)
    if not weights.exists():
        raise FileNotFoundError(f"{weights}: build it first (python perf/peers/build.py --only {name})")
    torch.manual_seed(0)
    net = build(spec)
    net.load_state_dict(torch.load(weights, weights_only=True))
    return net.eval(), spec, json.loads(meta_path.read_text())

"""A model's full configuration: everything needed to rebuild it from a checkpoint.

JSON-able (``to_dict`` / ``from_dict``); travels with the weights in every checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .._checks import check_number, check_seed
from ..encoding import ENCODINGS
from ..neurons import RESETS, SURROGATES

NEURONS = ("lif", "if", "relu")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture, neuron, time and encoding of a model.

    ``neuron="relu"`` is the ANN twin (same parameters, ReLU in place of the neuron,
    one time step). ``neuron="if"`` is LIF with ``decay = 1``.
    ``mean``/``std`` normalise direct-coded images inside the model, so attack epsilons
    stay in pixel units of the [0, 1] input.
    """

    arch: str
    in_channels: int
    input_size: tuple[int, int]
    num_classes: int
    neuron: str = "lif"
    decay: float = 0.5
    threshold: float = 1.0
    reset: str = "hard"
    v_reset: float = 0.0
    surrogate: str = "rectangular"
    surrogate_width: float = 1.0
    timesteps: int = 8
    encoding: str = "direct"
    encoder_seed: int = 0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    arch_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def positive_int(name: str, value: Any, minimum: int = 1) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")

        positive_int("in_channels", self.in_channels)
        positive_int("num_classes", self.num_classes, 2)
        positive_int("timesteps", self.timesteps)
        check_seed("encoder_seed", self.encoder_seed)
        if not isinstance(self.arch, str) or not self.arch:
            raise ValueError(f"arch: expected an architecture name, got {self.arch!r}")
        if not isinstance(self.arch_options, dict):
            raise ValueError(f"arch_options: expected a table of options, got {self.arch_options!r}")
        size = tuple(self.input_size)
        if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
            raise ValueError(f"input_size: expected (height, width) of positive integers, got {self.input_size!r}")
        object.__setattr__(self, "input_size", size)
        if self.neuron not in NEURONS:
            raise ValueError(f"neuron: expected one of {NEURONS}, got {self.neuron!r}")
        for name in ("decay", "threshold", "v_reset", "surrogate_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {value!r}")
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"decay: expected a value in (0, 1], got {self.decay}")
        if self.threshold <= 0:
            raise ValueError(f"threshold: expected a value > 0, got {self.threshold}")
        if self.surrogate_width <= 0:
            raise ValueError(f"surrogate_width: expected a value > 0, got {self.surrogate_width}")
        if self.reset not in RESETS:
            raise ValueError(f"reset: expected one of {RESETS}, got {self.reset!r}")
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate: expected one of {tuple(SURROGATES)}, got {self.surrogate!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding: expected one of {ENCODINGS}, got {self.encoding!r}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
                    raise ValueError(f"{name}: expected a list of 1 or in_channels={self.in_channels} finite numbers, "
                                     f"got {value!r}")
                value = tuple(check_number(name, v) for v in value)
                if len(value) not in (1, self.in_channels):
                    raise ValueError(f"{name}: expected 1 or in_channels={self.in_channels} values, got {len(value)}")
                object.__setattr__(self, name, value)
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ValueError(f"std: expected values > 0, got {self.std}")
        if self.neuron == "if" and self.decay != 1.0:
            object.__setattr__(self, "decay", 1.0)

    @classmethod
    def for_dataset(cls, data: Any, *, normalize: bool = False, **fields_: Any) -> "ModelConfig":
        """The config of a model for ``data`` (an :class:`~spikeattack.data.ImageDataset`): its input
        shape and classes; event frames are the spike train itself (``encoding="spikes"``, T = the
        frames per sample); ``normalize`` takes per-channel mean/std from the training split."""
        c, h, w = data.input_shape
        if data.is_sequence:
            encoding = fields_.get("encoding", "spikes")
            if encoding not in ("spikes", "direct") or normalize:
                raise ValueError(f"encoding: {data.name} holds spike frames; it takes no encoding or normalisation")
            timesteps = fields_.get("timesteps", data.timesteps)
            if timesteps != data.timesteps:
                raise ValueError(f"timesteps: {data.name} has {data.timesteps} frames per sample, got {timesteps}")
            fields_ = {**fields_, "encoding": "spikes", "timesteps": data.timesteps}
        if normalize:
            x, _ = data.split("train")
            dims = (0, 1, 3, 4) if data.is_sequence else (0, 2, 3)
            fields_ = {**fields_, "mean": tuple(x.mean(dim=dims).tolist()),
                       "std": tuple(x.std(dim=dims).clamp_min(1e-6).tolist())}
        return cls(in_channels=c, input_size=(h, w), num_classes=data.num_classes, **fields_)

    @property
    def is_spiking(self) -> bool:
        return self.neuron != "relu"

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        for name in ("mean", "std"):
            if d[name] is not None:
                d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        if not isinstance(data, dict):
            raise ValueError(f"config: expected a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"config: unknown keys {sorted(unknown)}")
        data = dict(data)
        data["input_size"] = tuple(data.get("input_size", ()))
        return cls(**data)

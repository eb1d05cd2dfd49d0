"""``SpikingModel``: the one object that owns what every attack needs from a model.

It holds the architecture body, the time steps, the encoder and the input layout:
``model(x)`` takes images ``[B, C, H, W]`` in [0, 1] (or, with ``encoding="spikes"``,
spike frames ``[T, B, C, H, W]``), normalises them (direct coding only), encodes them to
``[T, B, ...]``, runs the multi-step body from a fresh state and decodes the output
layer by its time average -> logits ``[B, num_classes]``.

The same class is the ANN twin (``config.neuron == "relu"``): one step, the rate of the
input, ReLU in place of the neuron. ``rate_forward`` runs the spiking body as a *rate
network* on ``[1, B, ...]`` once the gradient layer has put the neurons in rate mode.

Eval mode (batch-norm statistics frozen, dropout off) never cuts input gradients: the
spike function's surrogate is an autograd function independent of ``self.training``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..encoding import make_encoder
from ..neurons import LIFNeuron, ReLUNeuron, foreign_spiking_modules, make_surrogate
from .config import ModelConfig
from .registry import ArchSpec, build_body


class SpikingModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise ValueError(f"config: expected a ModelConfig, got {type(config).__name__}")
        self.config = config
        surrogate = make_surrogate(config.surrogate, config.surrogate_width)

        def neuron() -> nn.Module:
            if not config.is_spiking:
                return ReLUNeuron()
            return LIFNeuron(decay=config.decay, threshold=config.threshold, reset=config.reset,
                             v_reset=config.v_reset, surrogate=surrogate)

        spec = ArchSpec(config.in_channels, config.input_size, config.num_classes, neuron)
        self.body = build_body(config.arch, spec, dict(config.arch_options))
        self.encoder = make_encoder(config.encoding, config.encoder_seed)
        self.timesteps = config.timesteps if config.is_spiking else 1
        self._register_normalisation(config)

    def _register_normalisation(self, config: ModelConfig) -> None:
        """``config.mean``/``std`` as per-channel buffers (not saved: the config carries them)."""
        channels = config.in_channels
        for name in ("mean", "std"):
            value = getattr(config, name)
            tensor = None if value is None else torch.tensor(value).reshape(-1, 1, 1).expand(channels, 1, 1).clone()
            self.register_buffer(f"_{name}", tensor, persistent=False)

    # ------------------------------------------------------------------ structure
    @property
    def is_spiking(self) -> bool:
        return self.config.is_spiking

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def takes_sequence(self) -> bool:
        """True when the input is a ``[T, B, C, H, W]`` spike tensor, not an image."""
        return self.encoder.takes_sequence

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, without batch (and without time)."""
        return (self.config.in_channels, *self.config.input_size)

    def spiking_neurons(self) -> list[LIFNeuron]:
        """The spiking layers in forward order (the last one is the penultimate layer)."""
        return [m for m in self.body.modules() if isinstance(m, LIFNeuron)]

    def foreign_spiking_modules(self) -> list[str]:
        """Spiking modules of the body that are not spikeattack neurons (``"path (Type)"``): a
        foreign neuron left in the network, which the rate path cannot follow."""
        return foreign_spiking_modules(self.body)

    # ------------------------------------------------------------------ forward
    def check_input(self, x: torch.Tensor, name: str = "x") -> None:
        """Raise ``ValueError`` naming ``name`` unless ``x`` has this model's layout, its dtype
        (float64 input to a float32 model is refused, not cast) and only finite values."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{name}: expected a floating-point tensor, got {x.dtype}")
        lead = "[T, B, C, H, W]" if self.takes_sequence else "[B, C, H, W]"
        rank = 5 if self.takes_sequence else 4
        if x.dim() != rank or tuple(x.shape[-3:]) != self.input_shape:
            raise ValueError(
                f"{name}: expected shape {lead} with (C, H, W) = {self.input_shape}, got {tuple(x.shape)}"
            )
        if self.takes_sequence and self.is_spiking and x.shape[0] != self.timesteps:
            raise ValueError(f"{name}: expected T = {self.timesteps} time steps, got {x.shape[0]}")
        weight = next(self.parameters(), None)
        if weight is not None and x.dtype != weight.dtype:
            # refused, not cast: a silent cast would hand attacks float32 gradients for float64 inputs
            raise ValueError(f"{name}: expected dtype {weight.dtype} (the model's weights), got {x.dtype}; "
                             f"convert with x.to({weight.dtype})")
        if x.device.type != "meta" and not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name}: holds NaN or infinite values")

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.encoding != "direct":
            return x
        if self._mean is not None:
            x = x - self._mean
        if self._std is not None:
            x = x / self._std
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The ``[T, B, ...]`` sequence the body sees (``[1, B, ...]`` rate for the ANN twin)."""
        self.check_input(x)
        x = self._normalise(x)
        if not self.is_spiking:
            return self.encoder.rate(x).unsqueeze(0)
        return self.encoder.encode(x, self.timesteps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.encode(x)).mean(0)

    def rate_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The rate network: the body on the input's rate ``[1, B, ...]``.

        Every spiking neuron must be in rate mode (``rate_fn`` set by a gradient estimator).
        """
        self.check_input(x)
        missing = [i for i, n in enumerate(self.spiking_neurons()) if n.rate_fn is None]
        if missing:
            raise RuntimeError(f"rate_forward: spiking layers {missing} are not in rate mode")
        return self.body(self.encoder.rate(self._normalise(x)).unsqueeze(0)).mean(0)

    # ------------------------------------------------------------------ overrides
    @contextlib.contextmanager
    def override_timesteps(self, timesteps: int) -> Iterator["SpikingModel"]:
        """Run with ``timesteps`` steps inside the block (Bu et al. 4.5 time extension)."""
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
            raise ValueError(f"timesteps: expected an integer >= 1, got {timesteps!r}")
        if not self.is_spiking:
            raise ValueError("timesteps: the ANN twin has no time steps to override")
        saved = self.timesteps
        self.timesteps = timesteps
        try:
            yield self
        finally:
            self.timesteps = saved

    @contextlib.contextmanager
    def override_threshold(self, threshold: float, layer: int = -1) -> Iterator["SpikingModel"]:
        """Set one spiking layer's threshold inside the block; restored even on error.

        ``layer=-1`` is the penultimate layer (the last spiking layer before the readout),
        whose threshold Liang et al. (TNNLS 2021, V-B) raise during the attack's forward.
        """
        neurons = self.spiking_neurons()
        if not neurons:
            raise ValueError("threshold: the model has no spiking layer")
        if isinstance(layer, bool) or not isinstance(layer, int) or not -len(neurons) <= layer < len(neurons):
            raise ValueError(f"layer: expected an index into {len(neurons)} spiking layers, got {layer!r}")
        neuron = neurons[layer]
        saved = neuron.threshold
        neuron.threshold = threshold  # validated by the neuron
        try:
            yield self
        finally:
            neuron.threshold = saved

    @contextlib.contextmanager
    def override_encoder(self, encoder) -> Iterator["SpikingModel"]:
        """Use ``encoder`` inside the block (e.g. one that returns a fixed, gradient-carrying
        spike train, so an attack can read the gradient per input spike); restored afterwards."""
        from ..encoding import Encoder

        if not isinstance(encoder, Encoder):
            raise ValueError(f"encoder: expected an Encoder, got {type(encoder).__name__}")
        saved = self.encoder
        self.encoder = encoder
        try:
            yield self
        finally:
            self.encoder = saved

    # ------------------------------------------------------------------ twins
    def twin(self, config: ModelConfig) -> "SpikingModel":
        """A model of ``config`` (same architecture) carrying a copy of these weights."""
        if (config.arch, config.in_channels, config.input_size, config.num_classes, config.arch_options) != (
            self.config.arch, self.config.in_channels, self.config.input_size, self.config.num_classes,
            self.config.arch_options,
        ):
            raise ValueError("config: a twin must share arch, input shape, classes and arch_options")
        other = SpikingModel(config).to(next(self.parameters()).device)
        other.load_state_dict(self.state_dict())
        return other.train(self.training)

    def ann_twin(self) -> "SpikingModel":
        """The ANN with the same weights and ReLU in place of every spiking neuron."""
        return self.twin(self.config.replace(neuron="relu"))


def check_logits(logits: torch.Tensor, name: str = "model") -> torch.Tensor:
    """``logits`` when every value is finite; else a ``ValueError`` naming ``name``: a NaN or
    infinite output is an error, never a prediction (``argmax`` of NaN logits is class 0, so
    it would score as an accuracy, or as an input no attack can change)."""
    if not bool(torch.isfinite(logits).all()):
        bad = int((~torch.isfinite(logits.detach())).flatten(1).any(1).sum()) if logits.dim() else 1
        raise ValueError(f"{name}: its output (logits) holds NaN or infinite values for {bad} of {len(logits)} "
                         "inputs; no prediction of it can be scored (check its weights: a diverged training?)")
    return logits


def build_model(config: ModelConfig | dict) -> SpikingModel:
    """Build a model from a :class:`ModelConfig` or its dict form."""
    if isinstance(config, dict):
        config = ModelConfig.from_dict(config)
    return SpikingModel(config)

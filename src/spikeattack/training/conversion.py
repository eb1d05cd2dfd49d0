"""ANN-to-SNN conversion with layer-wise threshold balancing (Sharmin et al. 2019's SNN-I).

``convert_ann_to_snn(ann, calibration, timesteps=64)`` turns a trained ANN twin
(``neuron="relu"``) into an IF network (``neuron="if"``, threshold 1, soft reset by
default, direct coding) of the *same* architecture and parameter set, so the result is an
ordinary :class:`SpikingModel`: it saves and loads with the checkpoint format, has an
``ann_twin()``, and every attack and gradient estimator works on it.

Method (Diehl et al. IJCNN 2015; Rueckauer et al. Front. Neurosci. 2017; the "weight
normalization / threshold balancing" Sharmin et al. Sec. III-A cite):

1. **Fold batch-norm** (:func:`fold_batch_norm`). In eval mode a BN that directly follows a
   convolution or linear layer inside one ``TimeDistributed`` block is the per-channel affine
   map ``y = k * z + (beta - k * mu)``, ``k = gamma / sqrt(var + eps)``. The scale ``k`` goes
   into the preceding weight; the shift goes into the preceding layer's bias when it has one,
   otherwise into the BN's own ``bias``. The BN module is kept (so the ``state_dict`` keys,
   the checkpoint format and ``twin()`` are unchanged) but made a pure shift: ``weight = 1``,
   ``running_mean = 0``, ``running_var = 1 - eps``, so ``(x - 0) / sqrt(1 - eps + eps) = x``.
   The folded ANN computes the same logits (to float rounding).

2. **Measure** (:func:`normalize_ann`): run the folded ANN on ``calibration`` images and record
   every ReLU layer's activations. ``lambda^l`` is their maximum (``method="max"``, Diehl et
   al.) or the ``percentile``-th percentile of the *positive* activations
   (``method="percentile"``, Rueckauer et al.'s robust normalisation, computed over the
   non-zero activations as in their SNN toolbox); ``lambda^0 = 1`` (the model's input,
   after its own mean/std normalisation).

3. **Normalise weights**: the affine block feeding neuron layer ``l`` is rescaled by
   ``lambda^{l-1} / lambda^l`` on its (first) weight and ``1 / lambda^l`` on every bias of the
   block (conv/linear biases and the folded BN shifts). ReLU is positively homogeneous, so
   by induction the normalised ANN's layer ``l`` outputs exactly ``a^l / lambda^l``: with
   ``method="max"`` every layer's maximum on the calibration set is 1. The readout block gets
   ``lambda^{L-1}`` on its weight and keeps its bias, so the normalised ANN's logits equal the
   original's (checked on the calibration set; a mismatch raises ``RuntimeError``).
   A neuron layer fed by a block without weights (the pool-then-neuron of ``vgg9`` with
   ``pool_neuron=True``) cannot be rescaled; it inherits ``lambda^l = lambda^{l-1}`` (its
   activations are averages of values <= 1 there, so they stay <= 1).

4. **Swap ReLU for IF neurons** with threshold 1 (``twin`` with the SNN config).

*Equivalence with threshold balancing.* Scaling the input weights and bias of layer ``l``
by ``1/lambda^l`` and the outgoing weights by ``lambda^l`` is the same network as keeping the
weights and setting layer ``l``'s IF threshold to ``lambda^l`` (with outputs of that height):
the membrane of an IF neuron is linear in its input, so dividing every input current by
``lambda^l`` and the threshold by ``lambda^l`` produces the same spike times (Rueckauer et al.
2017, Sec. 2.2; Sharmin et al. describe it as per-layer thresholds). Folding the scale into
the weights keeps one model-wide threshold (1.0), which is what :class:`ModelConfig` and the
checkpoint format store.

*Why soft reset is the default.* An IF neuron with reset by subtraction and constant input
current ``z`` per step fires ``floor(T z) / T`` on average, clipped to [0, 1]: its rate
matches the normalised ReLU ``min(max(z, 0), 1)`` with an error below ``1/T`` (Rueckauer et
al. 2017, eq. 6). Reset to zero throws away the charge above threshold at every spike, so
the rate falls systematically below the activation (the more so the larger the input), an
error that does not vanish with T. ``reset="hard"`` is available for comparison.

Scope: sequential architectures whose body is a ``nn.Sequential`` of ``TimeDistributed``
stateless blocks (convolution, linear, batch-norm, average pooling, flatten, dropout) and
neurons: ``small_cnn``, ``mlp``, ``vgg11``, ``vgg9``, ``vgg_dvs``, ``liang_*``. Residual
networks (``resnet17``, ``resnet19``) are rejected: at a block's output neuron the shortcut
and the residual branch arrive on different scales (``lambda`` of the block input vs of the
inner neuron), so one rescaling of the block's convolution cannot normalise both paths;
that needs a residual-aware normalisation (Hu et al. 2018), which is not implemented.
Max-pooling is rejected too (not positively homogeneous per neuron in the spiking domain).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..models import SpikingModel, TimeDistributed
from ..neurons import RESETS, ReLUNeuron

METHODS = ("max", "percentile")

_WEIGHTED = (nn.Conv2d, nn.Linear)
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_PARAMETER_FREE = (nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Dropout, nn.Identity)


@dataclass
class _Segment:
    """The stateless modules between two neuron layers, in forward order.

    ``leaves`` are ``(block, module)`` pairs (``block``: the top-level index of the
    ``TimeDistributed`` they sit in); ``neuron`` is the ReLU they feed, ``None`` for the readout.
    """

    leaves: list[tuple[int, nn.Module]]
    neuron: nn.Module | None
    name: str

    def weighted(self) -> nn.Module | None:
        return next((m for _, m in self.leaves if isinstance(m, _WEIGHTED)), None)

    def bias_like(self) -> list[torch.Tensor]:
        """The tensors that carry the segment's constant offset (scaled by ``1/lambda``)."""
        tensors = []
        for _, m in self.leaves:
            if isinstance(m, _WEIGHTED) and m.bias is not None:
                tensors.append(m.bias)
            elif isinstance(m, _BATCH_NORMS):
                if m.bias is not None:
                    tensors.append(m.bias)
                tensors.append(m.running_mean)
        return tensors


# ---------------------------------------------------------------------- validation
def _check_ann(ann: Any) -> None:
    if not isinstance(ann, SpikingModel):
        raise ValueError(f"ann: expected a SpikingModel, got {type(ann).__name__}")
    if ann.config.neuron != "relu":
        raise ValueError(f"ann: expected an ANN (config.neuron == 'relu'), got neuron={ann.config.neuron!r}; "
                         "convert the ANN twin (model.ann_twin() or a checkpoint trained with --ann)")
    if ann.takes_sequence:
        raise ValueError("ann: takes spike/event sequences (encoding='spikes'); conversion needs an image model")


def _leaves(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def _segments(ann: SpikingModel) -> list[_Segment]:
    """Split the body into the affine segments feeding each ReLU layer and the readout."""
    arch = ann.config.arch
    body = ann.body
    if not isinstance(body, nn.Sequential):
        raise ValueError(f"ann: architecture {arch!r} is not a sequential network; conversion supports "
                         "sequential bodies only")
    segments: list[_Segment] = []
    current: list[tuple[int, nn.Module]] = []
    for index, child in enumerate(body):
        if isinstance(child, ReLUNeuron):
            segments.append(_Segment(current, child, f"body.{index}"))
            current = []
        elif isinstance(child, TimeDistributed):
            for leaf in _leaves(child.module):
                if not isinstance(leaf, _WEIGHTED + _BATCH_NORMS + _PARAMETER_FREE):
                    raise ValueError(f"ann: architecture {arch!r} has a {type(leaf).__name__} at body.{index}; "
                                     "conversion supports convolution, linear, batch-norm, average pooling, "
                                     "flatten and dropout layers between neurons")
                current.append((index, leaf))
        else:
            kind = next((type(m).__name__ for m in child.modules()
                         if not isinstance(m, (nn.Sequential, TimeDistributed)) and next(m.children(), None)),
                        type(child).__name__)
            raise ValueError(
                f"ann: architecture {arch!r} has a {kind} at body.{index}, i.e. residual (non-sequential) "
                "connections; layer-wise weight normalisation needs one scale per sequential layer, but at a "
                "residual block's output the shortcut and the branch arrive on different scales, which one "
                "rescaling of the block cannot normalise (a residual-aware normalisation is not implemented). "
                "Convert a sequential architecture (small_cnn, mlp, vgg11, vgg9, vgg_dvs, liang_*)"
            )
    segments.append(_Segment(current, None, "output"))
    if segments[-1].weighted() is None:
        raise ValueError(f"ann: architecture {arch!r} has no convolution or linear readout after its last neuron")
    return segments


def _check_calibration(ann: SpikingModel, calibration: Any) -> torch.Tensor:
    ann.check_input(calibration, "calibration")
    if calibration.shape[0] < 1:
        raise ValueError("calibration: expected at least one image")
    if calibration.min() < 0 or calibration.max() > 1:
        raise ValueError("calibration: expected pixel values in [0, 1] (normalisation belongs inside the model)")
    return calibration.detach()


def _check_method(method: Any, percentile: Any) -> float:
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if (isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not math.isfinite(percentile)
            or not 0.0 < percentile <= 100.0):
        raise ValueError(f"percentile: expected a number in (0, 100], got {percentile!r}")
    return float(percentile)


# ---------------------------------------------------------------------- batch-norm folding
@torch.no_grad()
def _fold_pair(layer: nn.Module, bn: nn.Module) -> None:
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("ann: a batch-norm layer tracks no running statistics; it cannot be folded")
    channels = layer.weight.shape[0]
    if bn.num_features != channels:
        raise ValueError(f"ann: batch-norm over {bn.num_features} features follows a layer with {channels} outputs")
    std = torch.sqrt(bn.running_var + bn.eps)
    gamma = bn.weight if bn.affine else torch.ones_like(std)
    beta = bn.bias if bn.affine else torch.zeros_like(std)
    k = gamma / std
    shift = beta - k * bn.running_mean
    layer.weight.mul_(k.view(-1, *([1] * (layer.weight.dim() - 1))))
    if layer.bias is not None:
        layer.bias.mul_(k).add_(shift)
        shift = torch.zeros_like(shift)
    bn.running_var.fill_(1.0 - bn.eps)  # (x - mean) / sqrt(1 - eps + eps) = x - mean
    if bn.affine:
        bn.weight.fill_(1.0)
        bn.bias.copy_(shift)
        bn.running_mean.zero_()
    else:  # no bias parameter: the shift lives in the running mean, y = x - (-shift)
        bn.running_mean.copy_(-shift)


def fold_batch_norm(ann: SpikingModel) -> SpikingModel:
    """A copy of ``ann`` (eval mode) with every batch-norm folded into the layer before it.

    Each BN must directly follow a convolution or linear layer inside the same
    ``TimeDistributed`` block. The BN modules stay (identical ``state_dict`` keys) as pure
    per-channel shifts; see the module docstring. The logits are unchanged up to rounding.
    """
    _check_ann(ann)
    folded = copy.deepcopy(ann).eval()
    for segment in _segments(folded):
        previous: tuple[int, nn.Module] | None = None
        for block, module in segment.leaves:
            if isinstance(module, _BATCH_NORMS):
                if previous is None or previous[0] != block or not isinstance(previous[1], _WEIGHTED):
                    raise ValueError(f"ann: a batch-norm in body.{block} does not directly follow a convolution "
                                     "or linear layer in its block; it cannot be folded")
                _fold_pair(previous[1], module)
            previous = (block, module)
    return folded


# ---------------------------------------------------------------------- activations
def _percentile(values: torch.Tensor, q: float) -> float:
    """The ``q``-th percentile (linear interpolation, as ``numpy.percentile``) of a 1-D tensor."""
    n = values.numel()
    if n == 0:
        return 0.0
    position = (n - 1) * q / 100.0
    low = int(math.floor(position))
    high = min(low + 1, n - 1)
    v_low = torch.kthvalue(values, low + 1).values.item()
    v_high = torch.kthvalue(values, high + 1).values.item() if high != low else v_low
    return v_low + (position - low) * (v_high - v_low)


@torch.no_grad()
def _forward_with_hooks(model: SpikingModel, x: torch.Tensor, batch_size: int, hooks: list) -> None:
    """Run ``model`` over ``x`` in batches (for the forward hooks' side effects), then remove ``hooks``."""
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                model(x[start:start + batch_size].to(device))
    finally:
        for h in hooks:
            h.remove()


def record_activations(ann: SpikingModel, x: torch.Tensor, *, batch_size: int = 256) -> list[torch.Tensor]:
    """Every ReLU layer's output of ``ann`` (eval mode) on images ``x``: a list ``[N, ...]``
    per layer in forward order (the ANN twin's ``[1, B, ...]`` time axis removed)."""
    if not isinstance(ann, SpikingModel) or ann.is_spiking:
        raise ValueError("ann: expected an ANN SpikingModel (config.neuron == 'relu')")
    neurons = [m for m in ann.body.modules() if isinstance(m, ReLUNeuron)]
    stored: list[list[torch.Tensor]] = [[] for _ in neurons]
    hooks = [n.register_forward_hook(lambda _m, _i, out, k=k: stored[k].append(out[0].detach().cpu()))
             for k, n in enumerate(neurons)]
    was_training = ann.training
    ann.eval()
    try:
        _forward_with_hooks(ann, x, batch_size, hooks)
    finally:
        ann.train(was_training)
    return [torch.cat(parts) for parts in stored]


@torch.no_grad()
def _measure_lambdas(ann: SpikingModel, segments: list[_Segment], x: torch.Tensor, method: str, q: float,
                     batch_size: int = 256) -> list[float]:
    """lambda^l of every neuron layer on ``x``: max, or the percentile of the positive activations.
    One pass over ``x``; with ``max`` only a running maximum is kept."""
    neurons = [s.neuron for s in segments if s.neuron is not None]
    maxima: list[torch.Tensor | float] = [0.0] * len(neurons)  # running maxima stay on the device (no sync per batch)
    positives: list[list[torch.Tensor]] = [[] for _ in neurons]

    def hook(k: int):
        def record(_module, _inputs, out):
            out = out.detach()
            if method == "max":
                if out.numel():
                    maxima[k] = torch.clamp_min(out.max().float(), 0.0) if isinstance(maxima[k], float) \
                        else torch.maximum(maxima[k], out.max().float())
            else:  # kept on the host: the positive activations of a whole calibration set may not fit a GPU
                positives[k].append(out[out > 0].float().cpu())
        return record

    hooks = [n.register_forward_hook(hook(k)) for k, n in enumerate(neurons)]
    _forward_with_hooks(ann, x, batch_size, hooks)
    if method == "max":
        return [float(m) for m in maxima]
    return [_percentile(torch.cat(parts), q) if parts else 0.0 for parts in positives]


@torch.no_grad()
def _logits(model: SpikingModel, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([model(x[s:s + batch_size].to(device)).cpu() for s in range(0, len(x), batch_size)])


# ---------------------------------------------------------------------- normalisation
@torch.no_grad()
def normalize_ann(ann: SpikingModel, calibration: torch.Tensor, *, method: str = "max",
                  percentile: float = 99.9) -> tuple[SpikingModel, dict[str, Any]]:
    """Fold batch-norm and apply data-based weight normalisation (steps 1-3 of the module
    docstring). Returns the normalised ANN (a copy, eval mode; same logits as ``ann``) and a
    JSON-able dict: ``lambdas`` (one per neuron layer, forward order), ``layers`` (their names
    in the body), ``scaled`` (False where a weightless block made the layer inherit the
    previous lambda), ``method``, ``percentile`` (None for max), ``calibration_size`` and
    ``max_logit_deviation`` (largest absolute difference of the logits on the calibration set).
    """
    _check_ann(ann)
    q = _check_method(method, percentile)
    x = _check_calibration(ann, calibration)
    reference = _logits(copy.deepcopy(ann).eval() if ann.training else ann, x)
    model = fold_batch_norm(ann)
    segments = _segments(model)
    measured = _measure_lambdas(model, segments, x, method, q)
    lambdas: list[float] = []
    scaled: list[bool] = []
    previous = 1.0
    for segment, value in zip(segments[:-1], measured):
        weight = segment.weighted()
        if weight is None:  # pool-only block: the layer keeps the scale of its input
            lam, did_scale = previous, False
        else:
            lam = value if value > 0 else 1.0  # a layer silent on the calibration set: leave its scale
            weight.weight.mul_(previous / lam)
            for tensor in segment.bias_like():
                tensor.div_(lam)
            did_scale = True
        lambdas.append(float(lam))
        scaled.append(did_scale)
        previous = lam
    segments[-1].weighted().weight.mul_(previous)  # readout: lambda^{L-1} on the weight, bias unchanged
    logits = _logits(model, x)
    deviation = float((logits - reference).abs().max())
    tolerance = 1e-4 * (1.0 + float(reference.abs().max()))
    if not deviation <= tolerance:
        raise RuntimeError(f"normalize_ann: the normalised ANN's logits deviate by {deviation:.3g} from the "
                           f"original's (tolerance {tolerance:.3g}); the architecture is not positively homogeneous")
    info = {"method": method, "percentile": q if method == "percentile" else None, "lambdas": lambdas,
            "layers": [s.name for s in segments[:-1]], "scaled": scaled, "calibration_size": int(len(x)),
            "max_logit_deviation": deviation}
    return model, info


def convert_ann_to_snn(ann: SpikingModel, calibration: torch.Tensor, *, timesteps: int, method: str = "max",
                       percentile: float = 99.9, reset: str = "soft") -> tuple[SpikingModel, dict[str, Any]]:
    """Convert the ANN twin ``ann`` into an IF spiking network; returns ``(snn, info)``.

    ``calibration``: images ``[N, C, H, W]`` in [0, 1] (a slice of the *training* set) on
    which the per-layer scales are measured. ``method``: ``"max"`` or ``"percentile"`` (of
    the positive activations; ``percentile`` in (0, 100]). The SNN has ``neuron="if"``
    (decay 1), threshold 1.0, the given ``reset`` (``"soft"``: reset by subtraction, see
    the module docstring), ``timesteps`` steps, direct coding, the ANN's architecture and
    ``arch_options``, and is in eval mode. ``info`` is the JSON-able dict of
    :func:`normalize_ann` plus ``timesteps`` and ``reset``; store it in the checkpoint
    metadata. The ANN itself is not modified.
    """
    _check_ann(ann)
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps: expected an integer >= 1, got {timesteps!r}")
    if reset not in RESETS:
        raise ValueError(f"reset: expected one of {RESETS}, got {reset!r}")
    _check_method(method, percentile)
    normalised, info = normalize_ann(ann, calibration, method=method, percentile=percentile)
    direct = ann.config.encoding == "direct"  # a Poisson ANN twin never applied mean/std
    config = ann.config.replace(neuron="if", decay=1.0, threshold=1.0, reset=reset, v_reset=0.0,
                                timesteps=timesteps, encoding="direct",
                                mean=ann.config.mean if direct else None, std=ann.config.std if direct else None)
    snn = normalised.twin(config).eval()
    info = {**info, "timesteps": timesteps, "reset": reset}
    return snn, info


__all__ = ["METHODS", "convert_ann_to_snn", "fold_batch_norm", "normalize_ann", "record_activations"]

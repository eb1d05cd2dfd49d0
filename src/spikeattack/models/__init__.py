"""Architectures (spiking and their ANN twins), layers that carry time, the model wrapper."""

from .config import NEURONS, ModelConfig
from .folding import fold_batchnorm, folded_conv
from .layers import TimeDistributed, conv_bn, td
from .modes import evaluating
from .network import SpikingModel, build_model, check_logits
from .registry import ARCHS, ArchSpec, register_arch
from . import archs  # noqa: E402,F401  (registers the built-in architectures)

__all__ = ["evaluating", "fold_batchnorm", "folded_conv", "NEURONS", "ModelConfig", "TimeDistributed", "conv_bn", "td", "SpikingModel", "build_model", "check_logits",
           "ARCHS", "ArchSpec", "register_arch"]

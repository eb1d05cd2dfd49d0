"""Neuron dynamics: multi-step LIF/IF neurons, reset modes, surrogate derivatives."""

from .fused import FusedLIF, lif_sequence, set_compile
from .lif import FUSED_OPTIONS, RESETS, LIFNeuron, ReLUNeuron
from .probe import NeuronProbe
from .step import MembraneLIFNeuron, StepLIFNeuron
from .surrogate import SURROGATES, ArcTan, FastSigmoid, Rectangular, Sigmoid, Surrogate, Triangle, make_surrogate, spike

__all__ = [
    "FusedLIF", "lif_sequence", "set_compile", "FUSED_OPTIONS",
    "RESETS", "LIFNeuron", "NeuronProbe", "ReLUNeuron", "MembraneLIFNeuron", "StepLIFNeuron",
    "SURROGATES", "ArcTan", "FastSigmoid", "Rectangular", "Sigmoid", "Surrogate", "Triangle", "make_surrogate", "spike",
]

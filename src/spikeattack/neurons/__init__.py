"""Neuron dynamics: multi-step LIF/IF neurons, reset modes, surrogate derivatives."""

from .fused import FusedLIF, lif_sequence, set_compile
from .foreign import foreign_spiking_modules, register_foreign_neuron_type
from .lif import RESETS, LIFNeuron, ReLUNeuron
from .probe import NeuronProbe
from .step import MembraneLIFNeuron, StepLIFNeuron
from .surrogate import SURROGATES, ArcTan, FastSigmoid, Rectangular, Sigmoid, Surrogate, Triangle, make_surrogate, spike

__all__ = [
    "FusedLIF", "lif_sequence", "set_compile", "foreign_spiking_modules", "register_foreign_neuron_type",
    "RESETS", "LIFNeuron", "NeuronProbe", "ReLUNeuron", "MembraneLIFNeuron", "StepLIFNeuron",
    "SURROGATES", "ArcTan", "FastSigmoid", "Rectangular", "Sigmoid", "Surrogate", "Triangle", "make_surrogate", "spike",
]

"""Neuron dynamics: multi-step LIF/IF neurons, reset modes, surrogate derivatives."""

from .lif import RESETS, LIFNeuron, NeuronProbe, ReLUNeuron
from .surrogate import SURROGATES, ArcTan, Rectangular, Sigmoid, Surrogate, Triangle, make_surrogate, spike

__all__ = [
    "RESETS", "LIFNeuron", "NeuronProbe", "ReLUNeuron",
    "SURROGATES", "ArcTan", "Rectangular", "Sigmoid", "Surrogate", "Triangle", "make_surrogate", "spike",
]

"""Neuron dynamics: multi-step LIF/IF neurons, reset modes, surrogate derivatives."""

from .lif import RESETS, LIFNeuron, NeuronProbe, ReLUNeuron
from .step import MembraneLIFNeuron, StepLIFNeuron
from .surrogate import SURROGATES, ArcTan, FastSigmoid, Rectangular, Sigmoid, Surrogate, Triangle, make_surrogate, spike

__all__ = [
    "RESETS", "LIFNeuron", "NeuronProbe", "ReLUNeuron", "MembraneLIFNeuron", "StepLIFNeuron",
    "SURROGATES", "ArcTan", "FastSigmoid", "Rectangular", "Sigmoid", "Surrogate", "Triangle", "make_surrogate", "spike",
]

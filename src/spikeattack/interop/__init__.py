"""Foreign SNNs (SpikingJelly, snnTorch, any network through a neuron protocol) as models
every attack, estimator, ``evaluate`` and the bench accept.

``wrap(net, timesteps=8, input_shape=(1, 28, 28), num_classes=10)`` -> a
:class:`ForeignModel` (a :class:`~spikeattack.models.SpikingModel`), with ``time`` and
``readout`` decided on a probe batch (:mod:`.reading`) unless given; ``register_neuron``
teaches it another neuron type; ``load_foreign_model`` builds one from user code + weights.
"""

from .foreign import READOUTS, TIMES, ForeignModel
from .loading import load_factory, load_foreign_model
from .model import wrap
from .registry import convert_neurons, foreign_spiking_modules, register_neuron

__all__ = ["READOUTS", "TIMES", "ForeignModel", "wrap", "convert_neurons", "foreign_spiking_modules",
           "register_neuron", "load_factory", "load_foreign_model"]

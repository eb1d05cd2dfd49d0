"""spikeattack: adversarial robustness evaluation for spiking neural networks.

Layers (dependencies point downward): cli -> bench -> attacks -> gradients ->
training -> models -> neurons -> encoding/data. See DESIGN.md in the shared folder.
"""

__version__ = "0.1.0"

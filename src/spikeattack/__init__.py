"""spikeattack: how robust is a spiking neural network against adversarial examples?

The front door (everything a user needs, one import)::

    import spikeattack as sa

    model = sa.wrap(net, timesteps=4, input_shape=(1, 28, 28), num_classes=10)  # any PyTorch SNN
    x, y = sa.load_dataset("fashion-mnist").split("test", limit=200)
    result = sa.standard_evaluation(model, x, y, eps=8 / 255)       # the number to quote
    print(result.robust_accuracy, result.robust_accuracy_ci)
    x_adv = sa.PGD(model, eps=8 / 255, steps=10, grad="rga")(x, y)   # one attack, torchattacks-style
    # event frames [T, B, C, H, W]: L0 budgets (elements changed), SDA and spike-BIM
    ev = sa.event_evaluation(event_model, frames, labels, eps="1%")
    x_adv = sa.SDA(event_model, grad="pdsg")(frames, labels)         # few flips

Layers (each imports only the ones below it; checked by import-linter in CI): ``cli`` ->
``bench`` -> ``training`` -> ``evaluation`` -> ``attacks`` -> ``gradients`` | ``interop`` ->
``models`` -> ``neurons`` -> ``encoding`` -> ``data`` -> ``results`` -> the core modules
(``_checks``, ``_registry``, ``_declare``, ``device``, ``io``). ``results`` needs no torch.
The names below are imported on first use, so ``import spikeattack.results`` stays torch-free.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # models: bring your own, or build ours
    "wrap": "interop", "load_foreign_model": "interop", "register_neuron": "interop",
    "SpikingModel": "models", "ModelConfig": "models", "build_model": "models",
    "load_checkpoint": "training", "save_checkpoint": "training", "train_model": "training", "TrainConfig": "training",
    # data
    "load_dataset": "data", "ImageDataset": "data",
    # attacks and gradient estimators
    "make_attack": "attacks", "ATTACKS": "attacks", "Attack": "attacks", "GradientAttack": "attacks",
    "FGSM": "attacks", "RFGSM": "attacks", "BIM": "attacks", "PGD": "attacks", "APGD": "attacks", "SAPGD": "attacks",
    "CWL2": "attacks", "LiangCW": "attacks", "Square": "attacks", "Boundary": "attacks", "SpikeBIM": "attacks",
    "RandomNoise": "attacks", "SDA": "attacks", "CountPGD": "attacks", "Retime": "attacks",
    "make_estimator": "gradients", "ESTIMATORS": "gradients",
    # scoring
    "evaluate": "evaluation", "EvaluationResult": "evaluation", "standard_evaluation": "evaluation",
    "StandardEvaluation": "evaluation", "accuracy": "evaluation", "tune_estimator": "evaluation",
    "event_evaluation": "evaluation", "EventEvaluation": "evaluation", "compare_sda_spike_bim": "evaluation",
    "clopper_pearson": "results.statistics",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module 'spikeattack' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

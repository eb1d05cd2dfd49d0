"""The peer suite as data (RobustBench-style): one entry per model.

Fields: ``framework`` (``spikingjelly`` | ``snntorch``), ``builder`` (a name in that framework's
zoo module) with ``kwargs``, ``dataset``, ``T``, how spikeattack wraps it (``time``, ``readout``,
``encoding``, ``input_shape``) and the training recipe (``loss``, ``train``: epochs, batch size,
learning rate, training subset, optional ``pgd`` adversarial training). ``seed`` fixes weights
and batch order.
"""

from __future__ import annotations

FMNIST, DIGITS = (1, 28, 28), (1, 8, 8)
AT_FMNIST = {"eps": 8 / 255, "steps": 3}   # PGD-3 at the test budget, through the net's own surrogate
AT_DIGITS = {"eps": 8 / 255, "steps": 5}

SUITE: dict[str, dict] = {
    "sj-tutorial-if-fmnist-t4": {
        "about": "SpikingJelly conv_fashion_mnist tutorial CSNN: Conv-BN-IF x2, IF head, ATan; forward repeats x "
                 "over T itself and returns the firing rate; one-hot MSE",
        "framework": "spikingjelly", "builder": "TutorialCSNN", "kwargs": {"T": 4, "channels": 8},
        "dataset": "fashion-mnist", "T": 4, "time": "inside", "readout": "logits", "encoding": "direct",
        "input_shape": FMNIST, "loss": "mse_rate", "seed": 1,
        "train": {"epochs": 2, "batch": 64, "lr": 1e-3},
    },
    "sj-lif-sigmoid-fmnist-t4": {
        "about": "SpikingJelly multi-step Conv-BN-LIF x2 (tau 2, decay_input, Sigmoid(4), detach_reset), "
                 "Linear head averaged over T; cross-entropy",
        "framework": "spikingjelly", "builder": "LIFConvNet",
        "kwargs": {"channels": [8, 16], "surrogate_name": "sigmoid", "alpha": 4.0, "decay_input": True},
        "dataset": "fashion-mnist", "T": 4, "time": "sequence", "readout": "mean", "encoding": "direct",
        "input_shape": FMNIST, "loss": "ce", "seed": 2,
        "train": {"epochs": 2, "batch": 64, "lr": 1e-3},
    },
    "sj-plif-fmnist-t4": {
        "about": "SpikingJelly ParametricLIF net (Fang et al. 2021): Conv-BN-PLIF x2, Linear-PLIF x2, ATan, "
                 "detach_reset; firing rate, one-hot MSE",
        "framework": "spikingjelly", "builder": "PLIFNet", "kwargs": {"channels": 8},
        "dataset": "fashion-mnist", "T": 4, "time": "sequence", "readout": "mean", "encoding": "direct",
        "input_shape": FMNIST, "loss": "mse_rate", "seed": 3,
        "train": {"epochs": 2, "batch": 64, "lr": 1e-3},
    },
    "sj-softreset-if-digits-t8": {
        "about": "SpikingJelly single-step MLP of IF neurons with soft reset (v_reset=None), ATan; Linear head "
                 "averaged over T steps run by the loop; cross-entropy",
        "framework": "spikingjelly", "builder": "SoftResetMLP", "kwargs": {"in_features": 64, "hidden": 128},
        "dataset": "digits", "T": 8, "time": "step", "readout": "mean", "encoding": "direct",
        "input_shape": DIGITS, "loss": "ce", "seed": 4,
        "train": {"epochs": 30, "batch": 32, "lr": 1e-3},
    },
    "sj-lif-atan-digits-t4-at": {
        "about": "SpikingJelly multi-step Conv-BN-LIF x2 (tau 2, ATan, decay_input), adversarially trained: "
                 "PGD-5 at 8/255 through its own ATan surrogate",
        "framework": "spikingjelly", "builder": "LIFConvNet",
        "kwargs": {"channels": [16, 32], "in_size": 8, "surrogate_name": "atan", "alpha": 2.0, "decay_input": True},
        "dataset": "digits", "T": 4, "time": "sequence", "readout": "mean", "encoding": "direct",
        "input_shape": DIGITS, "loss": "ce", "seed": 5,
        "train": {"epochs": 30, "batch": 32, "lr": 2e-3, "pgd": AT_DIGITS},
    },
    "snn-tutorial5-membrane-fmnist-t8": {
        "about": "snnTorch tutorial 5 MLP (Leaky beta 0.95, ATan, subtract reset, membranes by hand), its own "
                 "loop over T; per-step CE on the output membrane (membrane readout)",
        "framework": "snntorch", "builder": "Tutorial5Net", "kwargs": {"num_hidden": 128, "num_steps": 8},
        "dataset": "fashion-mnist", "T": 8, "time": "inside", "readout": "membrane", "encoding": "direct",
        "input_shape": FMNIST, "seed": 6,
        "train": {"epochs": 2, "batch": 128, "lr": 5e-4},
    },
    "snn-tutorial6-fastsig-fmnist-t8": {
        "about": "snnTorch tutorial 6 CSNN: Conv-MaxPool-Leaky(init_hidden) x2, fast_sigmoid(25), beta 0.5; "
                 "forward_pass step by step after utils.reset; ce_rate_loss",
        "framework": "snntorch", "builder": "tutorial6_csnn", "kwargs": {"channels": [6, 12]},
        "dataset": "fashion-mnist", "T": 8, "time": "step", "readout": "mean", "encoding": "direct",
        "input_shape": FMNIST, "seed": 7,
        "train": {"epochs": 3, "batch": 128, "lr": 5e-3},
    },
    "snn-poisson-digits-t8": {
        "about": "snnTorch MLP on Poisson spike trains (spikegen.rate, straight-through), Leaky(init_hidden) "
                 "beta 0.9, ATan; ce_rate_loss",
        "framework": "snntorch", "builder": "poisson_mlp", "kwargs": {"in_features": 64, "hidden": 128},
        "dataset": "digits", "T": 8, "time": "step", "readout": "mean", "encoding": "poisson",
        "input_shape": DIGITS, "seed": 8,
        "train": {"epochs": 30, "batch": 32, "lr": 2e-3},
    },
    "snn-tutorial5-fastsig-fmnist-t4-at": {
        "about": "snnTorch tutorial 5 MLP (Leaky beta 0.95, fast_sigmoid(25), membrane readout), adversarially "
                 "trained: PGD-3 at 8/255 through its own surrogate",
        "framework": "snntorch", "builder": "Tutorial5Net", "kwargs": {"num_hidden": 128, "num_steps": 4, "slope": 25.0},
        "dataset": "fashion-mnist", "T": 4, "time": "inside", "readout": "membrane", "encoding": "direct",
        "input_shape": FMNIST, "seed": 9,
        "train": {"epochs": 3, "batch": 128, "lr": 1e-3, "pgd": AT_FMNIST},
    },
}


def spec(name: str) -> dict:
    if name not in SUITE:
        raise ValueError(f"model: expected one of {', '.join(SUITE)}, got {name!r}")
    return SUITE[name]

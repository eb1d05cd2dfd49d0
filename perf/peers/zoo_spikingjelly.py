"""SpikingJelly peers, written as SpikingJelly's own tutorials and papers write them.

- :class:`TutorialCSNN`: the ``conv_fashion_mnist`` tutorial's CSNN (Conv-BN-IF-MaxPool twice,
  Linear-IF twice, ATan surrogate, multi-step) whose ``forward`` repeats the image over T itself
  and returns the output layer's firing rate; trained with MSE to the one-hot label (the tutorial).
- :class:`LIFConvNet`: multi-step Conv-BN-LIF net (``decay_input``, any SJ surrogate) fed the
  repeated image ``[T, B, C, H, W]`` by the loop; a non-spiking Linear head averaged over time.
- :class:`PLIFNet`: Fang et al. 2021's ParametricLIF net (learned tau, ATan, ``detach_reset``),
  firing-rate output, MSE to one-hot.
- :class:`SoftResetMLP`: single-step IF with soft reset (``v_reset=None``) run step by step by
  the loop (``functional.reset_net`` after each batch).

Forward per ``time`` style (:func:`logits`): ``inside`` the net's own forward; ``sequence``
``net(x.repeat(T)).mean(0)``; ``step`` the mean of T single-step calls. Training loops
(:data:`LOOPS`): ``mse_rate`` (one-hot MSE on the rate) and ``ce`` (cross-entropy), both Adam
with cosine annealing, optionally PGD adversarial training through the net's own surrogate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn

from .training import adversarial_batch, run_epochs

SURROGATES = {"atan": surrogate.ATan, "sigmoid": surrogate.Sigmoid}


class TutorialCSNN(nn.Module):
    def __init__(self, T: int = 4, channels: int = 8, in_size: int = 28, classes: int = 10) -> None:
        super().__init__()
        self.T = T
        side = in_size // 4
        self.conv_fc = nn.Sequential(
            layer.Conv2d(1, channels, kernel_size=3, padding=1, bias=False), layer.BatchNorm2d(channels),
            neuron.IFNode(surrogate_function=surrogate.ATan()), layer.MaxPool2d(2, 2),
            layer.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False), layer.BatchNorm2d(channels),
            neuron.IFNode(surrogate_function=surrogate.ATan()), layer.MaxPool2d(2, 2),
            layer.Flatten(), layer.Linear(channels * side * side, channels * 4 * 4, bias=False),
            neuron.IFNode(surrogate_function=surrogate.ATan()),
            layer.Linear(channels * 4 * 4, classes, bias=False), neuron.IFNode(surrogate_function=surrogate.ATan()),
        )
        functional.set_step_mode(self, step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_seq = x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)  # [N, C, H, W] -> [T, N, C, H, W]
        return self.conv_fc(x_seq).mean(0)


class LIFConvNet(nn.Module):
    def __init__(self, channels: tuple[int, int] = (8, 16), in_size: int = 28, classes: int = 10, tau: float = 2.0,
                 surrogate_name: str = "sigmoid", alpha: float = 4.0, decay_input: bool = True,
                 detach_reset: bool = True) -> None:
        super().__init__()
        c1, c2 = channels

        def lif() -> neuron.LIFNode:
            return neuron.LIFNode(tau=tau, decay_input=decay_input, detach_reset=detach_reset,
                                  surrogate_function=SURROGATES[surrogate_name](alpha=alpha))

        side = in_size // 4 if in_size >= 16 else in_size // 2
        pools = 2 if in_size >= 16 else 1
        body = [layer.Conv2d(1, c1, 3, padding=1, bias=False), layer.BatchNorm2d(c1), lif(), layer.MaxPool2d(2)]
        body += [layer.Conv2d(c1, c2, 3, padding=1, bias=False), layer.BatchNorm2d(c2), lif()]
        body += [layer.MaxPool2d(2)] if pools == 2 else []
        self.features = nn.Sequential(*body)
        self.head = nn.Sequential(layer.Flatten(), layer.Linear(c2 * side * side, classes))
        functional.set_step_mode(self, step_mode="m")

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x_seq))  # [T, N, classes]; the loop averages over T


class PLIFNet(nn.Module):
    def __init__(self, channels: int = 8, in_size: int = 28, classes: int = 10, init_tau: float = 2.0) -> None:
        super().__init__()

        def plif() -> neuron.ParametricLIFNode:
            return neuron.ParametricLIFNode(init_tau=init_tau, surrogate_function=surrogate.ATan(), detach_reset=True)

        side = in_size // 4
        self.net = nn.Sequential(
            layer.Conv2d(1, channels, 3, padding=1, bias=False), layer.BatchNorm2d(channels), plif(), layer.MaxPool2d(2),
            layer.Conv2d(channels, channels, 3, padding=1, bias=False), layer.BatchNorm2d(channels), plif(),
            layer.MaxPool2d(2), layer.Flatten(),
            layer.Linear(channels * side * side, 64, bias=False), plif(),
            layer.Linear(64, classes, bias=False), plif(),
        )
        functional.set_step_mode(self, step_mode="m")

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.net(x_seq)  # output spikes [T, N, classes]; the loop takes the firing rate


class SoftResetMLP(nn.Module):
    def __init__(self, in_features: int = 64, hidden: int = 128, classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(
            layer.Flatten(), layer.Linear(in_features, hidden),
            neuron.IFNode(v_reset=None, surrogate_function=surrogate.ATan()),
            layer.Linear(hidden, hidden), neuron.IFNode(v_reset=None, surrogate_function=surrogate.ATan()),
            layer.Linear(hidden, classes),
        )  # single-step (SJ's default step_mode="s"): the loop calls it once per time step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def logits(net: nn.Module, x: torch.Tensor, T: int, time: str) -> torch.Tensor:
    """The network's class scores the way its loop computes them, from a fresh state."""
    functional.reset_net(net)
    if time == "inside":
        out = net(x)
    elif time == "sequence":
        out = net(x.unsqueeze(0).repeat(T, *([1] * x.dim()))).mean(0)
    elif time == "step":
        out = sum(net(x) for _ in range(T)) / T
    else:
        raise ValueError(f"time: expected inside, sequence or step, got {time!r}")
    functional.reset_net(net)
    return out


def _loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if kind == "mse_rate":
        return F.mse_loss(out, F.one_hot(y, out.shape[-1]).float())
    return F.cross_entropy(out, y)


def train(net: nn.Module, spec: dict, train_x: torch.Tensor, train_y: torch.Tensor, seed: int) -> None:
    """SpikingJelly-style loop: Adam + cosine annealing, ``reset_net`` after every batch."""
    T, time, loss_kind, t = spec["T"], spec["time"], spec["loss"], spec["train"]
    opt = torch.optim.Adam(net.parameters(), lr=t["lr"])

    def step(xb: torch.Tensor, yb: torch.Tensor) -> float:
        if "pgd" in t:  # adversarial training: PGD through the net's own surrogate (BPTT)
            xb = adversarial_batch(net, lambda z: logits(net, z, T, time), xb, yb, **t["pgd"],
                                   loss=lambda o, yy: _loss(loss_kind, o, yy))
        net.train()
        opt.zero_grad()
        loss = _loss(loss_kind, logits(net, xb, T, time), yb)
        loss.backward()
        opt.step()
        return float(loss.detach())

    run_epochs(net, opt, step, train_x, train_y, t, seed)

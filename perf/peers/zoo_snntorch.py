"""snnTorch peers, written as snnTorch's tutorials write them.

- :class:`Tutorial5Net`: tutorial 5's fully connected net (``Leaky`` with ``beta``, default ATan
  surrogate or ``fast_sigmoid(slope)``, subtract reset, membranes passed by hand), its own loop over ``num_steps`` returning
  ``(spk_rec, mem_rec)``; trained with the sum over steps of CE on the output *membrane* (membrane
  readout).
- :func:`tutorial6_csnn`: tutorial 6's convolutional ``nn.Sequential`` of ``Leaky(init_hidden=True)``
  with ``fast_sigmoid(slope=25)``, run step by step by ``forward_pass`` after ``utils.reset``;
  ``SF.ce_rate_loss`` on the output spikes (rate readout).
- :func:`poisson_mlp`: the same style on Poisson spike trains, ``spikegen.rate(x, num_steps)``.

:func:`logits` computes the class scores the loop uses (output rate or mean membrane). The
Poisson input takes a straight-through gradient (value: the spikes; gradient: identity), as SNN
attack papers treat rate coding; ``spikegen.rate`` alone passes no gradient to the image.
"""

from __future__ import annotations

import snntorch as snn
import snntorch.functional as SF
import torch
import torch.nn.functional as F
from snntorch import spikegen, surrogate, utils
from torch import nn

from .training import adversarial_batch, run_epochs


class Tutorial5Net(nn.Module):
    def __init__(self, num_inputs: int = 784, num_hidden: int = 128, num_outputs: int = 10, beta: float = 0.95,
                 num_steps: int = 8, slope: float | None = None) -> None:
        super().__init__()
        self.num_steps = num_steps
        grad = {} if slope is None else {"spike_grad": surrogate.fast_sigmoid(slope=slope)}  # default: ATan
        self.fc1 = nn.Linear(num_inputs, num_hidden)
        self.lif1 = snn.Leaky(beta=beta, **grad)
        self.fc2 = nn.Linear(num_hidden, num_outputs)
        self.lif2 = snn.Leaky(beta=beta, **grad)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk2_rec, mem2_rec = [], []
        x = x.flatten(1)
        for _ in range(self.num_steps):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)


def tutorial6_csnn(channels: tuple[int, int] = (8, 16), beta: float = 0.5, slope: float = 25.0,
                   in_size: int = 28, classes: int = 10) -> nn.Sequential:
    spike_grad = surrogate.fast_sigmoid(slope=slope)
    c1, c2 = channels
    side = ((in_size - 4) // 2 - 4) // 2
    return nn.Sequential(
        nn.Conv2d(1, c1, 5), nn.MaxPool2d(2), snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
        nn.Conv2d(c1, c2, 5), nn.MaxPool2d(2), snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
        nn.Flatten(), nn.Linear(c2 * side * side, classes),
        snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True),
    )


def poisson_mlp(in_features: int = 64, hidden: int = 128, classes: int = 10, beta: float = 0.9) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_features, hidden), snn.Leaky(beta=beta, init_hidden=True),
        nn.Linear(hidden, classes), snn.Leaky(beta=beta, init_hidden=True, output=True),
    )


def rate_code(x: torch.Tensor, num_steps: int) -> torch.Tensor:
    """``spikegen.rate`` with a straight-through gradient: ``[T, B, ...]`` Bernoulli(x) spikes."""
    spikes = spikegen.rate(x.detach(), num_steps=num_steps)
    xs = x.unsqueeze(0).expand_as(spikes)
    return xs + (spikes - xs).detach()


def _release_state(net: nn.Module) -> None:
    """Detach the membranes ``Leaky`` keeps as buffers after a forward (they would hold the
    autograd graph, which also makes the module impossible to deep-copy)."""
    for m in net.modules():
        for key, buf in m._buffers.items():
            if buf is not None and buf.grad_fn is not None:
                m._buffers[key] = buf.detach()


def records(net: nn.Module, x: torch.Tensor, T: int, time: str, encoding: str = "direct"
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(spk_rec, mem_rec)`` of the output layer, ``[T, B, classes]`` each, from a fresh state."""
    if time == "inside":
        out = net(x)
        _release_state(net)
        return out
    if time != "step":
        raise ValueError(f"time: expected inside or step, got {time!r}")
    utils.reset(net)
    data = rate_code(x, T) if encoding == "poisson" else x.unsqueeze(0).expand(T, *x.shape)
    spk_rec, mem_rec = [], []
    for step in range(T):
        spk_out, mem_out = net(data[step])
        spk_rec.append(spk_out)
        mem_rec.append(mem_out)
    utils.reset(net)
    _release_state(net)
    return torch.stack(spk_rec), torch.stack(mem_rec)


def logits(net: nn.Module, x: torch.Tensor, T: int, time: str, readout: str = "mean", encoding: str = "direct"
           ) -> torch.Tensor:
    spk_rec, mem_rec = records(net, x, T, time, encoding)
    return (mem_rec if readout == "membrane" else spk_rec).mean(0)


def train(net: nn.Module, spec: dict, train_x: torch.Tensor, train_y: torch.Tensor, seed: int) -> None:
    """snnTorch tutorial loop: Adam, per-step CE on the membrane (tutorial 5) or ``ce_rate_loss``
    on the spikes (tutorial 6); optional PGD adversarial training through the surrogate."""
    T, time, t = spec["T"], spec["time"], spec["train"]
    readout, encoding = spec.get("readout", "mean"), spec.get("encoding", "direct")
    opt = torch.optim.Adam(net.parameters(), lr=t["lr"], betas=(0.9, 0.999))
    rate_loss = SF.ce_rate_loss()

    def step(xb: torch.Tensor, yb: torch.Tensor) -> float:
        if "pgd" in t:
            xb = adversarial_batch(net, lambda z: logits(net, z, T, time, readout, encoding), xb, yb, **t["pgd"])
        net.train()
        spk_rec, mem_rec = records(net, xb, T, time, encoding)
        if readout == "membrane":
            loss = sum(F.cross_entropy(mem_rec[s], yb) for s in range(T))
        else:
            loss = rate_loss(spk_rec, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.detach())

    run_epochs(net, opt, step, train_x, train_y, t, seed)

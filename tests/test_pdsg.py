"""PDSG (Lun et al., CVPR 2025): the estimator against a direct implementation of the paper's
equations on a tiny conv + linear net (spike and image inputs, both poolings), the state it
leaves behind, and its use by image and event attacks."""

from __future__ import annotations

import math

import pytest
import torch

from spikeattack.attacks import make_attack
from spikeattack.gradients import ESTIMATORS, PDSG, make_estimator
from spikeattack.gradients.pdsg import pdsg_derivative
from spikeattack.models import ModelConfig, build_model
from spikeattack.neurons import LIFNeuron

T = 4


# ---------------------------------------------------------------------------- the paper, directly
class _PaperSpike(torch.autograd.Function):
    """Heaviside forward; backward ``exp(-((u - 0.5 s) / (sqrt(2) s))^2) / (sqrt(2 pi) s)``."""

    @staticmethod
    def forward(ctx, u, sigma):
        ctx.save_for_backward(u, sigma)
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        u, s = ctx.saved_tensors
        s = s.expand_as(u)
        return grad * torch.exp(-(((u - 0.5 * s) / (math.sqrt(2) * s)) ** 2)) / (math.sqrt(2 * math.pi) * s), None


def _paper_lif(x: torch.Tensor, neuron: LIFNeuron, scope: str) -> torch.Tensor:
    """The LIF loop with PDSG as the paper's code writes it: the std of every potential
    recorded so far (stacked), over time, batch (``scope="batch"``) and the spatial axes."""
    u, record, out = torch.zeros_like(x[0]), [], []
    for x_t in x.unbind(0):
        m = neuron.decay * u + x_t
        record.append(m.detach())
        v = torch.stack(record)                               # [t, B, C, ...]
        dims = (0,) + ((1,) if scope == "batch" else ()) + tuple(range(3, v.dim()))
        sigma = v.std(dim=dims, keepdim=True).squeeze(0)      # torch.std: Bessel-corrected
        if scope == "input":
            sigma = sigma.squeeze(0) if sigma.dim() > m.dim() else sigma
        sigma = torch.where(torch.isfinite(sigma) & (sigma != 0), sigma, torch.ones_like(sigma))
        s = _PaperSpike.apply(m - neuron.threshold, sigma)
        u = m * (1 - s)                                       # hard reset to 0
        out.append(s)
    return torch.stack(out)


def _paper_forward(model, x: torch.Tensor, scope: str) -> torch.Tensor:
    h = model.encode(x)
    for layer in model.body:
        h = _paper_lif(h, layer, scope) if isinstance(layer, LIFNeuron) else layer(h)
    return h.mean(0)


def _model(encoding: str):
    torch.manual_seed(3)
    channels = 2 if encoding == "spikes" else 1
    model = build_model(ModelConfig(arch="small_cnn", in_channels=channels, input_size=(4, 4), num_classes=3,
                                    encoding=encoding, timesteps=T, decay=0.5, threshold=0.4,
                                    arch_options={"channels": (3, 4), "hidden": 5}))
    for p in model.parameters():  # livelier weights: potentials on both sides of the threshold
        p.data.mul_(2.0)
    return model.eval()


def _inputs(encoding: str):
    gen = torch.Generator().manual_seed(1)
    if encoding == "spikes":
        return (torch.rand(T, 5, 2, 4, 4, generator=gen) < 0.4).float()
    return torch.rand(5, 1, 4, 4, generator=gen)


@pytest.mark.filterwarnings("ignore:std")  # the paper's std of a single value (t = 1) is NaN: replaced by 1
@pytest.mark.parametrize("scope", ["input", "batch"])
@pytest.mark.parametrize("encoding", ["spikes", "direct"])
def test_pdsg_gradient_equals_the_papers_equations(encoding, scope):
    model, x = _model(encoding), _inputs(encoding)
    c = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    xa = x.clone().requires_grad_(True)
    (PDSG(scope)(model, xa) * c).sum().backward()
    xb = x.clone().requires_grad_(True)
    (_paper_forward(model, xb, scope) * c).sum().backward()
    assert xa.grad.abs().sum() > 0
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.filterwarnings("ignore:std")
def test_input_scope_makes_an_inputs_gradient_independent_of_its_batch():
    model, x = _model("spikes"), _inputs("spikes")

    def grads(est, inputs):
        xi = inputs.clone().requires_grad_(True)
        est(model, xi)[:, 0].sum().backward()
        return xi.grad

    alone = grads(PDSG("input"), x[:, :1])
    torch.testing.assert_close(grads(PDSG("input"), x)[:, :1], alone)
    assert not torch.allclose(grads(PDSG("batch"), x)[:, :1], alone)  # the paper's batch pooling


def test_pdsg_derivative_is_a_normal_density_shifted_by_half_its_width():
    u = torch.linspace(-3, 3, 61)
    for s in (0.3, 1.0, 2.0):
        sigma = torch.tensor(s)
        d = pdsg_derivative(u, sigma)
        expected = torch.distributions.Normal(0.5 * s, s).log_prob(u).exp()
        torch.testing.assert_close(d, expected)
        assert u[d.argmax()].item() == pytest.approx(0.5 * s, abs=0.06)  # peak right of the threshold


def test_registry_restore_and_bad_scope():
    assert ESTIMATORS["pdsg"] is PDSG
    assert make_estimator("pdsg").describe() == {"name": "pdsg", "scope": "input"}
    model, x = _model("spikes"), _inputs("spikes")
    before = [n.surrogate for n in model.spiking_neurons()]
    PDSG()(model, x.requires_grad_(True)).sum().backward()
    assert [n.surrogate for n in model.spiking_neurons()] == before
    with pytest.raises(ValueError, match="scope"):
        make_estimator("pdsg", scope="layer")


def test_pdsg_drives_an_image_attack(digits_snn, digits_test):  # event attacks: SDA defaults to PDSG
    x, y = digits_test
    x, y = x[:32], y[:32]
    x_adv = make_attack("pgd", digits_snn, eps=0.1, steps=5, grad="pdsg")(x, y)
    with torch.no_grad():
        clean = (digits_snn(x).argmax(-1) != y).float().mean()
        fooled = (digits_snn(x_adv).argmax(-1) != y).float().mean()
    assert fooled > clean + 0.2

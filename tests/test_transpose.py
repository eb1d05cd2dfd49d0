"""Transpose-only rate network: each layer's input-gradient without its forward
(models/transpose.py), checked against autograd through the real layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeattack.gradients import make_estimator
from spikeattack.gradients import rate as rate_module
from spikeattack.models import ModelConfig, build_model, td
from spikeattack.models.layers import transpose_ready
from spikeattack.models.transpose import input_vjp, output_shape, transposable
from spikeattack.neurons import LIFNeuron


def _eval_bn(bn: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        bn.running_mean.copy_(torch.rand(bn.num_features, generator=g) - 0.5)
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
        bn.weight.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
    return bn.eval()


LAYERS = {
    "conv2d": (lambda: nn.Conv2d(3, 5, 3, padding=1), (4, 3, 7, 7)),
    "conv2d-strided-dilated-groups": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
                                      (2, 4, 9, 8)),
    "conv1d": (lambda: nn.Conv1d(2, 3, 5, stride=2, padding=1), (3, 2, 11)),
    "conv3d": (lambda: nn.Conv3d(2, 2, 3, padding=1), (2, 2, 4, 5, 5)),
    "conv2d-valid-rectangular": (lambda: nn.Conv2d(2, 3, (3, 2), stride=(3, 1)), (2, 2, 10, 7)),
    "linear": (lambda: nn.Linear(6, 4), (5, 6)),
    "linear-3d": (lambda: nn.Linear(6, 4), (2, 5, 6)),
    "avgpool": (lambda: nn.AvgPool2d(2), (2, 3, 6, 6)),
    "avgpool-ceil-pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                         (2, 3, 7, 6)),
    "avgpool-divisor": (lambda: nn.AvgPool2d(2, divisor_override=3), (2, 3, 4, 4)),
    "avgpool-ceil-edge": (lambda: nn.AvgPool2d(2, ceil_mode=True), (2, 3, 5, 4)),
    "adaptive-avgpool-none": (lambda: nn.AdaptiveAvgPool2d((None, 2)), (2, 3, 5, 7)),
    "flatten-middle": (lambda: nn.Flatten(1, -2), (2, 3, 4, 5)),
    "adaptive-avgpool": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 5)),
    "batchnorm2d": (lambda: _eval_bn(nn.BatchNorm2d(3)), (4, 3, 5, 5)),
    "batchnorm1d": (lambda: _eval_bn(nn.BatchNorm1d(3)), (4, 3)),
    "dropout-eval": (lambda: nn.Dropout(0.5).eval(), (3, 4)),
    "flatten": (lambda: nn.Flatten(), (2, 3, 4, 4)),
    "unflatten": (lambda: nn.Unflatten(1, (2, 3)), (4, 6)),
    "identity": (lambda: nn.Identity(), (2, 3)),
    "sequential": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), _eval_bn(nn.BatchNorm2d(4)),
                                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)), (3, 2, 4, 4)),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", list(LAYERS))
def test_input_vjp_equals_autograd_through_the_layer(case, dtype):
    make, shape = LAYERS[case]
    torch.manual_seed(0)
    layer = make().to(dtype)
    assert transposable(layer)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    y = layer(x)
    assert output_shape(layer, x.shape) == y.shape
    v = torch.randn_like(y)
    (expected,) = torch.autograd.grad(y, x, v)
    got = input_vjp(layer, x.shape, v)
    assert got.shape == x.shape
    if "batchnorm" in case or case == "sequential":  # gamma * invstd formed in another order
        tol = 1e-12 if dtype == torch.float64 else 1e-5  # relative to the gradient's scale (sums cancel)
        torch.testing.assert_close(got, expected, rtol=tol, atol=tol * float(expected.abs().max()))
    else:  # the kernel autograd's backward calls
        assert torch.equal(got, expected)


@pytest.mark.parametrize("layer", [
    nn.BatchNorm2d(3),  # training mode: batch statistics depend on the activations
    nn.Dropout(0.5),  # training mode: random
    nn.Conv2d(2, 2, 3, padding="same"),
    nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"),
    nn.MaxPool2d(2), nn.ReLU(), nn.Sequential(nn.Linear(2, 2), nn.ReLU()),
], ids=lambda m: type(m).__name__)
def test_nonlinear_or_unsupported_layers_are_not_transposable(layer):
    assert not transposable(layer)


def _is_neuron(m):
    return isinstance(m, LIFNeuron)


def test_transpose_ready_bodies():
    assert transpose_ready(nn.Sequential(td(nn.Conv2d(1, 2, 3)), LIFNeuron(), td(nn.Flatten())), _is_neuron)
    resnet = build_model(ModelConfig(arch="resnet19", in_channels=3, input_size=(8, 8), num_classes=10,
                                     timesteps=2, arch_options={"width": 0.0625})).eval()
    assert transpose_ready(resnet.body, _is_neuron)  # residual blocks declare rate_linear

    class Gate(nn.Module):  # a forward that does something nonlinear with the activations
        def forward(self, x):
            return torch.relu(x)

    assert not transpose_ready(nn.Sequential(td(nn.Linear(2, 2)), Gate(), LIFNeuron()), _is_neuron)
    assert not transpose_ready(nn.Sequential(td(nn.MaxPool2d(2)), LIFNeuron()), _is_neuron)
    assert not transpose_ready(resnet.train().body, _is_neuron)  # batch-norm in training mode


def _calibrated(arch, shape, options, dtype=torch.float64):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, in_channels=shape[0], input_size=shape[1:], num_classes=10,
                                    timesteps=4, arch_options=options)).to(dtype)
    for m in model.modules():  # every layer fires
        if isinstance(m, nn.BatchNorm2d):
            _eval_bn(m)
            with torch.no_grad():
                m.bias.fill_(0.3)
        if isinstance(m, nn.Linear):
            with torch.no_grad():
                m.weight.mul_(4.0)
                m.bias.add_(0.5)
    return model.eval()


ARCHS = [("small_cnn", (1, 8, 8), {}), ("mlp", (1, 8, 8), {}), ("vgg11", (3, 32, 32), {"width": 0.125}),
         ("resnet19", (3, 8, 8), {"width": 0.0625})]


@pytest.mark.parametrize("arch,shape,options", ARCHS, ids=[a[0] for a in ARCHS])
def test_rate_path_gradient_is_the_real_rate_networks(arch, shape, options, monkeypatch):
    model = _calibrated(arch, shape, options)
    x = torch.rand(3, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2])
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    calls = []
    for m in convs:
        m.register_forward_hook(lambda *a: calls.append(1))

    def gradient(name):
        xv = x.clone().requires_grad_(True)
        calls.clear()
        logits = make_estimator(name)(model, xv)
        (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), xv)
        return logits.detach(), g, len(calls)

    real = rate_module.run_rate_network
    for name in ("bptr", "rga", "hart"):
        logits, grad, n_calls = gradient(name)
        assert n_calls == len(convs)  # the spiking forward only: the rate network ran no layer
        with monkeypatch.context() as patch:  # the rate network's real forward and backward
            patch.setattr(rate_module, "run_rate_network",
                          lambda *a, transpose_only=False, **k: real(*a, **k))
            ref_logits, ref_grad, ref_calls = gradient(name)
        assert ref_calls == 2 * len(convs)
        assert grad.abs().max() > 0
        torch.testing.assert_close(logits, ref_logits, rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-18)

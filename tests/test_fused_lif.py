"""The fused LIF (one autograd node, hand-written BPTT) against the reference loop."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeattack.neurons import SURROGATES, LIFNeuron, NeuronProbe, Triangle, make_surrogate
from spikeattack.neurons.fused import FusedLIF, lif_sequence, set_compile


def run(neuron, x, grad_out, fused):
    neuron.fused = fused
    xv = x.clone().requires_grad_(True)
    out = neuron(xv)
    (grad,) = torch.autograd.grad(out, xv, grad_out)
    return out.detach(), grad


@settings(max_examples=40, deadline=None)
@given(
    steps=st.integers(1, 7),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    reset=st.sampled_from(["hard", "soft"]),
    decay=st.sampled_from([1.0, 0.5, 0.83]),
    v_reset=st.sampled_from([0.0, -0.3]),
    surrogate=st.sampled_from(sorted(SURROGATES)),
    seed=st.integers(0, 2**16),
)
def test_fused_equals_reference_forward_and_stbp_gradient(steps, shape, reset, decay, v_reset, surrogate, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(steps, *shape, generator=gen, dtype=torch.float64) * 2.4 - 0.4
    grad_out = torch.randn(steps, *shape, generator=gen, dtype=torch.float64)  # differs per step
    neuron = LIFNeuron(decay=decay, threshold=1.0, reset=reset, v_reset=v_reset,
                       surrogate=make_surrogate(surrogate))
    assert neuron.fused_supported()
    out_ref, grad_ref = run(neuron, x, grad_out, fused=False)
    out, grad = run(neuron, x, grad_out, fused=True)
    assert torch.equal(out, out_ref)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-12, atol=1e-12)


def test_fused_gradient_uses_the_reset_path():
    """Sanity of the reference comparison: cutting the membrane path changes the gradient."""
    x = torch.full((4, 3), 0.7, dtype=torch.float64, requires_grad=True)
    neuron = LIFNeuron(decay=0.5, reset="hard", surrogate=Triangle(1.0))
    (grad,) = torch.autograd.grad(neuron(x).sum(), x)
    with torch.no_grad():
        m = torch.empty_like(x)
        lif_sequence(x, 0.5, 1.0, True, 0.0, membranes=m)
    per_step = Triangle(1.0).derivative(m - 1.0)  # the surrogate alone, no temporal path
    assert not torch.allclose(grad, per_step)


@pytest.mark.parametrize("grad_enabled", [True, False])
def test_probe_statistics_equal_on_both_paths(grad_enabled):
    x = torch.rand(5, 2, 3, dtype=torch.float64) * 2
    stats = []
    for fused in (False, True):
        neuron = LIFNeuron(decay=0.5)
        neuron.fused = fused
        neuron.probe = NeuronProbe(Triangle(0.5))
        with torch.set_grad_enabled(grad_enabled):
            neuron(x.clone().requires_grad_(grad_enabled))
        p = neuron.probe
        stats.append((p.mean_current, p.rate, p.mean_surrogate))
    for a, b in zip(*stats):
        assert torch.equal(a, b)


@pytest.mark.parametrize("option", [{"detach_reset": True}, {"strict": True}, {"decay_input": True},
                                    {"v_rest": 0.2}, {"reset": "subtract"}, {"reset": "none"}])
def test_options_the_fused_path_lacks_run_the_reference_loop(monkeypatch, option):
    neuron = LIFNeuron(decay=0.5, **option)
    assert not neuron.fused_supported()
    calls = []
    monkeypatch.setattr(FusedLIF, "apply", lambda *a: calls.append(a))
    x = torch.rand(4, 3, dtype=torch.float64, requires_grad=True) * 2
    out = neuron(x)
    assert not calls and torch.equal(out, neuron.reference_forward(x))


def test_overridden_dynamics_fall_back_unless_declared():
    assert LIFNeuron(decay=0.5).fused_supported()

    class Leaky(LIFNeuron):
        def charge(self, u, x):
            return 0.9 * u + x

    assert not Leaky(decay=0.5).fused_supported()  # the fused path would compute LIFNeuron's dynamics

    class Traced(LIFNeuron):  # overrides nothing the fused path computes
        def extra_repr(self):
            return "traced"

    assert Traced(decay=0.5).fused_supported()


def test_fused_saves_one_tensor_per_layer():
    x = torch.rand(6, 4, requires_grad=True)
    out = LIFNeuron(decay=0.5)(x)
    assert type(out.grad_fn).__name__ == "FusedLIFBackward"
    assert len(out.grad_fn.saved_tensors) == 1


def test_set_compile_validates_its_mode():
    with pytest.raises(ValueError, match="mode"):
        set_compile("sometimes")


@pytest.mark.parametrize("failure", ["at compile", "at first call"])
def test_compile_failure_falls_back_to_eager_and_logs(monkeypatch, caplog, failure):
    import spikeattack.neurons.fused as fused

    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    if failure == "at compile":
        monkeypatch.setattr(torch, "compile", broken)
    else:
        monkeypatch.setattr(torch, "compile", lambda fn, **kw: broken)
    monkeypatch.setattr(fused, "_compiled", None)
    monkeypatch.setattr(fused, "_compile_failed", False)
    set_compile("always")
    try:
        x = torch.rand(5, 3, 4) * 2
        with caplog.at_level("WARNING", logger="spikeattack.neurons.fused"):
            got = lif_sequence(x, 0.5, 1.0, True, 0.0)
        assert "falling back" in caplog.text or "unavailable" in caplog.text
        set_compile("never")
        assert torch.equal(got, lif_sequence(x, 0.5, 1.0, True, 0.0))
    finally:
        set_compile("auto")


def test_an_adaptive_surrogate_runs_the_reference_loop():
    """ASSG's surrogate changes per time step (``at_step``): the fused path, which applies one
    surrogate to every step, must hand such a neuron to the reference loop. The same ASSG
    gradient comes out whether the fused path is switched on or not."""
    from spikeattack.gradients import ASSG
    from spikeattack.models import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10,
                                    timesteps=4, arch_options={"channels": (4, 8), "hidden": 16})).double()
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64) * 3
    y = torch.tensor([0, 1, 2])
    grads = []
    for fused in (True, False):
        for n in model.spiking_neurons():
            n.fused = fused
        assg = ASSG()
        for _ in range(2):  # the second call sees the statistics of the first
            xi = x.clone().requires_grad_(True)
            logits = assg(model, xi)
            torch.nn.functional.cross_entropy(logits, y).backward()
        grads.append(xi.grad)
    assert torch.equal(grads[0], grads[1]) and grads[0].abs().sum() > 0

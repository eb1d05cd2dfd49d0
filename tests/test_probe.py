"""NeuronProbe and the in-place no-grad LIF loop against an independent recomputation.

The expected values come from the reference step (:meth:`LIFNeuron.step`, autograd-free
here) and plain sums over its membranes, so every in-place shortcut of the fused loop and
the probe (shared ``|m - threshold|``, fused division, folded reset and decay) is checked
bitwise, in float32 and float64 and in float16/bfloat16 (where the shortcuts that turn a
Python scalar into a tensor of the input's dtype must stand aside).
"""

import pytest
import torch

from spikeattack.neurons import ArcTan, LIFNeuron, NeuronProbe, Rectangular, Sigmoid, Triangle
from spikeattack.neurons import fused
from spikeattack.neurons.fused import lif_sequence

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]
SURROGATES = (Triangle(1.0), Triangle(0.5), Triangle(0.3), Rectangular(1.0), Sigmoid(), ArcTan())


@pytest.fixture(autouse=True)
def eager_loop(monkeypatch):
    """The eager loop under test (on CUDA the default ``"auto"`` would compile the step)."""
    monkeypatch.setattr(fused, "_compile_mode", "never")


def bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bit pattern (tells -0 from +0, unlike ``torch.equal``)."""
    return t.contiguous().view({8: torch.int64, 4: torch.int32, 2: torch.int16}[t.element_size()]).cpu()


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(bits(a), bits(b))


def currents(steps: int, dtype: torch.dtype, threshold: float, decay: float, seed: int = 0) -> torch.Tensor:
    """Random currents with the edge cases: exactly the threshold, +0, -0, and the value
    ``threshold * (1 - decay)`` that drives the membrane towards the threshold."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(steps, 4, 29, generator=gen, dtype=dtype) * 2.4 - 0.6
    x[:, 0, :5] = threshold
    x[:, 1, :3] = 0.0
    x[:, 1, 3:6] = -0.0
    x[:, 2, :4] = threshold * (1 - decay)
    return x


def reference_run(neuron: LIFNeuron, x: torch.Tensor):
    """Spikes and membranes ``m(t)`` of the specification's step, one step at a time."""
    state, spikes, membranes = neuron.initial_state(x[0]), [], []
    with torch.no_grad():
        for t, x_t in enumerate(x.unbind(0)):
            s, m, state = neuron.step(x_t, state, t)
            spikes.append(s)
            membranes.append(m)
    return torch.stack(spikes), torch.stack(membranes)


def sequential_mean(terms) -> torch.Tensor:
    terms = list(terms)
    total = terms[0].clone()
    for term in terms[1:]:
        total = total + term
    return total / len(terms)


CONFIGS = [("hard", 0.5, 0.0, 1.0), ("hard", 0.83, 0.0, 0.7), ("hard", 1.0, 0.0, 1.0), ("hard", 0.9, -0.3, 1.0),
           ("soft", 0.5, 0.0, 1.0), ("soft", 1.0, 0.0, 0.7)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reset,decay,v_reset,threshold", CONFIGS)
@pytest.mark.parametrize("steps", [1, 2, 7])
def test_no_grad_loop_equals_the_reference_bitwise(dtype, reset, decay, v_reset, threshold, steps, device):
    x = currents(steps, dtype, threshold, decay).to(device)
    neuron = LIFNeuron(decay=decay, threshold=threshold, reset=reset, v_reset=v_reset)
    spikes, membranes = reference_run(neuron, x)
    got_m = torch.empty_like(x)
    got = lif_sequence(x, decay, threshold, reset == "hard", v_reset, membranes=got_m)
    assert same_bits(got, spikes)
    assert same_bits(got_m, membranes)
    assert same_bits(lif_sequence(x, decay, threshold, reset == "hard", v_reset), spikes)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reset,decay,v_reset,threshold", CONFIGS)
@pytest.mark.parametrize("path", ["fused no-grad", "fused autograd", "reference"])
def test_probe_statistics_equal_sums_over_the_reference_membranes(dtype, reset, decay, v_reset, threshold, path,
                                                                   device):
    x = currents(6, dtype, threshold, decay, seed=1).to(device)
    neuron = LIFNeuron(decay=decay, threshold=threshold, reset=reset, v_reset=v_reset)
    spikes, membranes = reference_run(neuron, x)
    neuron.fused = path != "reference"
    neuron.probe = probe = NeuronProbe(surrogates=SURROGATES)
    grad = path == "fused autograd"
    with torch.set_grad_enabled(grad):
        neuron(x.clone().requires_grad_(grad))
    assert probe.steps == 6
    assert same_bits(probe.mean_current, sequential_mean(x.unbind(0)))
    assert same_bits(probe.rate, sequential_mean(spikes.unbind(0)))
    for s in SURROGATES:
        expected = sequential_mean(s.derivative(m - threshold) for m in membranes.unbind(0))
        assert same_bits(probe.view(s).mean_surrogate, expected), s


@pytest.mark.parametrize("current,rate", [(False, False), (True, False), (False, True)])
def test_a_probe_records_only_what_was_asked_and_the_rest_unchanged(current, rate):
    x = currents(5, torch.float64, 1.0, 0.5, seed=2)
    full, part = NeuronProbe(Triangle(1.0)), NeuronProbe(Triangle(1.0), current=current, rate=rate)
    for probe in (full, part):
        neuron = LIFNeuron(decay=0.5)
        neuron.probe = probe
        with torch.no_grad():
            neuron(x)
    assert same_bits(part.mean_surrogate, full.mean_surrogate)
    for name, recorded in (("mean_current", current), ("rate", rate)):
        if recorded:
            assert same_bits(getattr(part, name), getattr(full, name))
            assert same_bits(getattr(part.view(Triangle(1.0)), name), getattr(full, name))
        else:
            with pytest.raises(RuntimeError, match="not recorded"):
                getattr(part, name)


@pytest.mark.parametrize("flag", ["current", "rate"])
def test_probe_flags_must_be_bools(flag):
    with pytest.raises(ValueError, match=flag):
        NeuronProbe(**{flag: 1})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", [0.3, 0.5, 1.0, 1.7])
def test_triangle_accumulate_equals_the_sum_of_derivatives(dtype, gamma):
    tri = Triangle(gamma)
    gen = torch.Generator().manual_seed(3)
    us = [torch.randn(1001, generator=gen, dtype=dtype) for _ in range(4)]
    us[0][:3] = torch.tensor([gamma, -gamma, 0.0], dtype=dtype)  # the window's edges and centre
    total = None
    for u in us:
        work = torch.empty_like(u)
        total = tri.accumulate(total, u.abs(), work)
    expected = tri.derivative(us[0])
    for u in us[1:]:
        expected = expected + tri.derivative(u)
    assert same_bits(total, expected)

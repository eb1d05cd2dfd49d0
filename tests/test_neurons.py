import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeattack.neurons import ArcTan, LIFNeuron, NeuronProbe, Rectangular, Sigmoid, Triangle, make_surrogate, spike


def reference_lif(x, decay, threshold, reset, v_reset=0.0):
    """Plain-Python unrolled LIF on a list of scalar currents; returns (spikes, membranes)."""
    u = v_reset if reset == "hard" else 0.0
    spikes, membranes = [], []
    for xt in x:
        m = decay * u + xt
        s = 1.0 if m >= threshold else 0.0
        u = (v_reset if s else m) if reset == "hard" else m - threshold * s
        spikes.append(s)
        membranes.append(m)
    return spikes, membranes


def test_hard_reset_hand_computed():
    # decay 0.5, threshold 1: m = 0.6 -> 0.3+0.6=0.9 -> 0.45+0.6=1.05 fire, reset 0 -> 0.6 -> 0.9
    out = LIFNeuron(decay=0.5, threshold=1.0, reset="hard")(torch.full((5, 1), 0.6))
    assert out.flatten().tolist() == [0, 0, 1, 0, 0]


def test_soft_reset_hand_computed():
    # IF, threshold 1, x = 0.7: m=0.7, 1.4 fire u=0.4, 1.1 fire u=0.1, 0.8, 1.5 fire u=0.5
    out = LIFNeuron(decay=1.0, threshold=1.0, reset="soft")(torch.full((5, 1), 0.7))
    assert out.flatten().tolist() == [0, 1, 1, 0, 1]


def test_hard_reset_to_nonzero_v_reset():
    # v_reset = 0.5 is also the initial potential: m = 0.5+0.6 fire -> 0.5 ...
    out = LIFNeuron(decay=1.0, threshold=1.0, reset="hard", v_reset=0.5)(torch.full((3, 1), 0.4))
    assert out.flatten().tolist() == [0, 1, 0]


@settings(max_examples=60, deadline=None)
@given(
    currents=st.lists(st.floats(-1.0, 2.0, allow_nan=False), min_size=1, max_size=12),
    decay=st.sampled_from([0.25, 0.5, 0.9, 1.0]),
    threshold=st.sampled_from([0.3, 1.0, 1.5]),
    reset=st.sampled_from(["hard", "soft"]),
)
def test_matches_unrolled_reference(currents, decay, threshold, reset):
    x = torch.tensor(currents, dtype=torch.float64).reshape(-1, 1)
    expected, _ = reference_lif(currents, decay, threshold, reset)
    got = LIFNeuron(decay=decay, threshold=threshold, reset=reset)(x).flatten().tolist()
    assert got == expected


def test_no_state_leaks_between_forwards():
    neuron = LIFNeuron(decay=0.9, threshold=1.0)
    x = torch.rand(6, 3, 4)
    first = neuron(x)
    neuron(torch.full((6, 3, 4), 5.0))
    assert torch.equal(neuron(x), first)


def test_probe_statistics():
    neuron = LIFNeuron(decay=0.5, threshold=1.0, reset="hard")
    neuron.probe = NeuronProbe(surrogate=Triangle(1.0))
    x = torch.full((5, 1), 0.6)
    neuron(x)
    _, membranes = reference_lif([0.6] * 5, 0.5, 1.0, "hard")
    assert neuron.probe.mean_current.item() == pytest.approx(0.6)
    assert neuron.probe.rate.item() == pytest.approx(1 / 5)
    expected = sum(max(1 - abs(m - 1), 0) for m in membranes) / 5
    assert neuron.probe.mean_surrogate.item() == pytest.approx(expected)


def test_rate_mode_bypasses_dynamics():
    neuron = LIFNeuron()
    neuron.rate_fn = lambda h: 2 * h
    x = torch.randn(1, 4)
    assert torch.equal(neuron(x), 2 * x)


@pytest.mark.parametrize(
    "surrogate, closed_form",
    [
        (Rectangular(1.0), lambda u: 1.0 if abs(u) <= 0.5 else 0.0),
        (Rectangular(0.5), lambda u: 2.0 if abs(u) <= 0.25 else 0.0),
        (Triangle(1.0), lambda u: max(1 - abs(u), 0.0)),
        (Triangle(0.5), lambda u: max(0.5 - abs(u), 0.0) / 0.25),
        (Sigmoid(4.0), lambda u: 4 * (1 / (1 + math.exp(-4 * u))) * (1 - 1 / (1 + math.exp(-4 * u)))),
        (ArcTan(2.0), lambda u: 1.0 / (1 + (math.pi * u) ** 2)),
    ],
)
def test_surrogate_backward_matches_closed_form(surrogate, closed_form):
    u = torch.tensor([-1.2, -0.5, -0.3, 0.0, 0.2, 0.25, 0.49, 0.7, 1.5], dtype=torch.float64, requires_grad=True)
    s = spike(u, surrogate)
    assert s.tolist() == [float(v >= 0) for v in u.tolist()]
    s.sum().backward()
    expected = torch.tensor([closed_form(v) for v in u.tolist()], dtype=torch.float64)
    torch.testing.assert_close(u.grad, expected)


def test_bptt_gradient_matches_hand_unrolled():
    """Autograd through the neuron equals the hand-derived BPTT recursion (hard reset)."""
    decay, th = 0.5, 1.0
    sur = Rectangular(1.0)
    x = torch.tensor([[0.8], [0.7], [0.4], [0.9]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64).reshape(4, 1)
    out = LIFNeuron(decay=decay, threshold=th, reset="hard", surrogate=sur)(x)
    (out * w).sum().backward()
    # hand-unrolled: m_t = decay*u_{t-1} + x_t; s_t = H(m_t - th); u_t = m_t (1 - s_t)
    xs = x.detach().flatten().tolist()
    ms, ss, u = [], [], 0.0
    for xt in xs:
        m = decay * u + xt
        s = float(m >= th)
        ms.append(m), ss.append(s)
        u = m * (1 - s)
    d = [float(abs(m - th) <= 0.5) for m in ms]  # surrogate'
    grad_u_next = 0.0  # dL/du_t carried backwards
    grads = [0.0] * 4
    for t in reversed(range(4)):
        # dL/dm_t = dL/ds_t * ds/dm + dL/du_t * du/dm, with du/dm = (1-s) - m * ds/dm
        dL_ds = w[t].item() + grad_u_next * (-ms[t])
        dL_dm = dL_ds * d[t] + grad_u_next * (1 - ss[t])
        grads[t] = dL_dm
        grad_u_next = dL_dm * decay
    torch.testing.assert_close(x.grad.flatten(), torch.tensor(grads, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, name", [
    ({"decay": 0.0}, "decay"), ({"decay": 1.5}, "decay"), ({"decay": float("nan")}, "decay"),
    ({"threshold": 0.0}, "threshold"), ({"threshold": -1.0}, "threshold"),
    ({"reset": "zero"}, "reset"),
])
def test_bad_parameters_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LIFNeuron(**kwargs)


def test_bad_surrogate_name_and_width():
    with pytest.raises(ValueError, match="surrogate"):
        make_surrogate("gaussian")
    with pytest.raises(ValueError, match="width"):
        Triangle(0.0)


def test_bad_input_rank():
    with pytest.raises(ValueError, match="input"):
        LIFNeuron()(torch.zeros(3))


def test_snntorch_subtract_reset_and_strict_firing_hand_computed():
    # decay 0.5, threshold 1, x = 0.8; the threshold is subtracted one step later, after the leak:
    # m = 0.8, 0.4+0.8 = 1.2 (fire), 0.6+0.8-1 = 0.4, 0.2+0.8 = 1.0 (not > 1: no spike when strict)
    x = torch.full((4, 1), 0.8, dtype=torch.float64)
    strict = LIFNeuron(decay=0.5, threshold=1.0, reset="subtract", strict=True)(x)
    assert strict.flatten().tolist() == [0, 1, 0, 0]
    assert LIFNeuron(decay=0.5, threshold=1.0, reset="subtract")(x).flatten().tolist() == [0, 1, 0, 1]
    assert LIFNeuron(decay=0.5, threshold=1.0, reset="none")(x).flatten().tolist() == [0, 1, 1, 1]


def test_detach_reset_cuts_only_the_reset_path():
    x = torch.tensor([[1.2], [0.3]], dtype=torch.float64, requires_grad=True)
    grads = []
    for detach in (False, True):
        out = LIFNeuron(decay=1.0, threshold=1.0, reset="soft", surrogate=Sigmoid(), detach_reset=detach)(x)
        grads.append(torch.autograd.grad(out[1].sum(), x)[0])
    # s(2) = H(m(2)), m(2) = x1 + x2 - s(1): dm(2)/dx1 = 1 - s'(m1) with the reset, 1 without
    m1_grad = Sigmoid().derivative(torch.tensor(0.2, dtype=torch.float64))
    m2 = 1.2 + 0.3 - 1.0
    s2 = Sigmoid().derivative(torch.tensor(m2 - 1.0, dtype=torch.float64))
    assert torch.allclose(grads[0][0], s2 * (1 - m1_grad))
    assert torch.allclose(grads[1][0], s2)
    assert torch.allclose(grads[0][1], s2) and torch.allclose(grads[1][1], s2)


def test_decay_input_and_v_rest_charge():
    # SpikingJelly: H = V + (X - (V - V_reset)) / tau (decay_input), H = V - (V - V_reset) / tau + X
    n = LIFNeuron(decay=0.75, threshold=10.0, reset="hard", v_reset=-0.5, v_rest=-0.5, decay_input=True)
    u, x = torch.tensor([0.3]), torch.tensor([2.0])
    assert torch.allclose(n.charge(u, x), u + (x - (u + 0.5)) / 4)
    n.decay_input = False
    assert torch.allclose(n.charge(u, x), u - (u + 0.5) / 4 + x)
    assert n.input_gain == 1.0

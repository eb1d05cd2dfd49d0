"""Each estimator's input gradient against an independent computation on tiny nets."""

import pytest
import torch

from spikeattack.gradients import ESTIMATORS, make_estimator, rga_gain
from spikeattack.models import ModelConfig, build_model
from spikeattack.neurons import Rectangular, Triangle



@pytest.fixture(autouse=True)
def float64():
    """Exact comparisons in double precision; restored for the other test modules."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(saved)


def tiny_model(hidden=(6,), decay=0.5, reset="hard", timesteps=5, seed=0, encoding="direct"):
    cfg = ModelConfig(arch="mlp", in_channels=1, input_size=(2, 2), num_classes=3, decay=decay, reset=reset,
                      threshold=1.0, timesteps=timesteps, encoding=encoding, arch_options={"hidden": hidden})
    torch.manual_seed(seed)
    model = build_model(cfg).double().eval()
    with torch.no_grad():  # weights large enough that neurons fire irregularly
        for p in model.parameters():
            p.mul_(3.0)
    return model


def linears(model):
    return [m for m in model.body.modules() if isinstance(m, torch.nn.Linear)]


def reference_forward(model, x):
    """Unrolled forward in plain tensor code; returns per-layer lists of (x_t, m_t, s_t)."""
    cfg, T = model.config, model.timesteps
    layers = linears(model)
    inp = [x.flatten(1)] * T
    record = []
    for lin in layers[:-1]:
        u = torch.zeros(x.shape[0], lin.out_features)
        xs, ms, ss = [], [], []
        for t in range(T):
            cur = inp[t] @ lin.weight.T + lin.bias
            m = cfg.decay * u + cur
            s = (m >= cfg.threshold).double()
            u = m * (1 - s) if cfg.reset == "hard" else m - cfg.threshold * s
            xs.append(cur), ms.append(m), ss.append(s)
        record.append((xs, ms, ss))
        inp = ss
    return record


def reference_rate_path_grad(model, x, c, layer_grad):
    """Per-time-step backward of the public reference code: dL/dX(t) = layer_grad(...)."""
    T = model.timesteps
    layers = linears(model)
    record = reference_forward(model, x)
    up = [(c / T) @ layers[-1].weight] * T  # dL/ds(t) of the last spiking layer
    for (xs, ms, ss), lin in zip(reversed(record), reversed(layers[:-1])):
        d_cur = layer_grad(xs, ms, ss, up)
        up = [d @ lin.weight for d in d_cur]
    return sum(up).reshape(x.shape)


def reference_stbp_grad(model, x, c, surrogate):
    """Hand-unrolled BPTT (membrane and reset paths included) with the given surrogate."""
    cfg, T = model.config, model.timesteps
    layers = linears(model)
    record = reference_forward(model, x)
    up = [(c / T) @ layers[-1].weight] * T
    for (xs, ms, ss), lin in zip(reversed(record), reversed(layers[:-1])):
        d_cur = [None] * T
        du = torch.zeros_like(ms[0])  # dL/du(t) flowing back from step t+1
        for t in reversed(range(T)):
            sd = surrogate.derivative(ms[t] - cfg.threshold)
            if cfg.reset == "hard":   # u = m (1 - s)
                ds = up[t] + du * (-ms[t])
                dm = ds * sd + du * (1 - ss[t])
            else:                      # u = m - theta s
                ds = up[t] + du * (-cfg.threshold)
                dm = ds * sd + du
            d_cur[t] = dm
            du = dm * cfg.decay
        up = [d @ lin.weight for d in d_cur]
    return sum(up).reshape(x.shape)


def estimator_grad(model, x, c, name, **params):
    x = x.clone().requires_grad_(True)
    logits = make_estimator(name, **params)(model, x)
    (grad,) = torch.autograd.grad((logits * c).sum(), x)
    return grad, logits


@pytest.fixture(params=[((6,), 0.5, "hard"), ((7, 5), 0.9, "soft"), ((6, 4), 1.0, "hard")],
                ids=["1layer-lif-hard", "2layer-lif-soft", "2layer-if-hard"])
def setup(request):
    hidden, decay, reset = request.param
    model = tiny_model(hidden, decay, reset)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(4, 1, 2, 2, generator=gen)
    c = torch.randn(4, 3, generator=gen)
    return model, x, c


def test_estimators_return_spiking_logits(setup):
    model, x, c = setup
    with torch.no_grad():
        exact = model(x)
    for name in ("stbp", "bptr", "rga", "hart"):
        _, logits = estimator_grad(model, x, c, name)
        torch.testing.assert_close(logits, exact)


def test_stbp_equals_hand_unrolled_bptt(setup):
    model, x, c = setup
    grad, _ = estimator_grad(model, x, c, "stbp")
    expected = reference_stbp_grad(model, x, c, Rectangular(1.0))
    assert expected.abs().sum() > 0
    torch.testing.assert_close(grad, expected)


def test_stbp_with_another_surrogate(setup):
    model, x, c = setup
    grad, _ = estimator_grad(model, x, c, "stbp", surrogate="triangle", width=0.7)
    torch.testing.assert_close(grad, reference_stbp_grad(model, x, c, Triangle(0.7)))
    # the model's own surrogate is restored afterwards
    assert all(isinstance(n.surrogate, Rectangular) for n in model.spiking_neurons())


def test_bptr_equals_per_step_reference(setup):
    model, x, c = setup

    def layer(xs, ms, ss, up):
        fired = (sum(ss) > 0).double()
        return [fired * u for u in up]

    grad, _ = estimator_grad(model, x, c, "bptr")
    expected = reference_rate_path_grad(model, x, c, layer)
    assert expected.abs().sum() > 0
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize("beta, gamma", [(2.0, 0.2), (3.0, 0.5)])
def test_rga_equals_per_step_reference(setup, beta, gamma):
    model, x, c = setup
    lam, th = model.config.decay, model.config.threshold

    def slope(current):  # eq. (19) written out element by element
        out = torch.zeros_like(current)
        for idx, value in enumerate(current.flatten().tolist()):
            if lam == 1.0:
                g = 1 / (beta * th) if 0 <= value <= beta * th else 0.0
            elif 0 <= value <= (1 - lam) * th:
                g = gamma
            elif (1 - lam) * th < value <= beta * th:
                g = (1 - gamma * th + gamma * th * lam) / ((beta + lam - 1) * th)
            else:
                g = 0.0
            out.view(-1)[idx] = g
        return out

    def layer(xs, ms, ss, up):
        g = slope(sum(xs) / len(xs))
        return [g * u for u in up]

    grad, _ = estimator_grad(model, x, c, "rga", beta=beta, gamma=gamma)
    expected = reference_rate_path_grad(model, x, c, layer)
    assert expected.abs().sum() > 0
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_hart_equals_merged_temporal_reference(setup, gamma):
    model, x, c = setup
    th = model.config.threshold

    def layer(xs, ms, ss, up):
        # [dL/dm] = (1/T) sum_t dL/ds(t) * max(gamma - |m(t) - theta|, 0) / gamma^2, same for every t
        T = len(ms)
        merged = sum(u * (gamma - (m - th).abs()).clamp_min(0) / gamma**2 for u, m in zip(up, ms)) / T
        return [merged] * T

    grad, _ = estimator_grad(model, x, c, "hart", gamma=gamma)
    expected = reference_rate_path_grad(model, x, c, layer)
    assert expected.abs().sum() > 0
    torch.testing.assert_close(grad, expected)


def test_cba_equals_ann_twin_autograd(setup):
    model, x, c = setup
    grad, logits = estimator_grad(model, x, c, "cba")
    ann = model.ann_twin().eval()
    xv = x.clone().requires_grad_(True)
    ann_logits = ann(xv)
    (expected,) = torch.autograd.grad((ann_logits * c).sum(), xv)
    torch.testing.assert_close(grad, expected)
    torch.testing.assert_close(logits, ann_logits.detach())


def test_rate_path_backward_does_not_unroll_time():
    """The rate-path graph has the same size for T = 2 and T = 16 (the reference STBP loop's grows)."""

    def graph_size(name, T, fused=True):
        model = tiny_model((6, 4), timesteps=T)
        for n in model.spiking_neurons():
            n.fused = fused
        x = torch.rand(2, 1, 2, 2, requires_grad=True)
        out = make_estimator(name)(model, x)
        seen, stack = set(), [out.grad_fn]
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            stack.extend(f for f, _ in fn.next_functions)
        return len(seen)

    for name in ("bptr", "rga", "hart", "cba"):
        assert graph_size(name, 2) == graph_size(name, 16), name
    assert graph_size("stbp", 16, fused=False) > graph_size("stbp", 2, fused=False)


def test_rga_gain_intervals_are_disjoint():
    th, lam, beta, gamma = 1.0, 0.5, 2.0, 0.2
    knee = (1 - lam) * th
    slope2 = (1 - gamma * th + gamma * th * lam) / ((beta + lam - 1) * th)
    current = torch.tensor([-0.1, 0.0, 0.25, knee, knee + 1e-9, 1.5, beta * th, beta * th + 1e-9])
    expected = torch.tensor([0, gamma, gamma, gamma, slope2, slope2, slope2, 0])
    torch.testing.assert_close(rga_gain(current, lam, th, beta, gamma), expected)
    # IF form (eq. 15) at lambda = 1
    torch.testing.assert_close(rga_gain(torch.tensor([-1.0, 0.0, 1.0, 2.0, 2.5]), 1.0, 1.0),
                               torch.tensor([0, 0.5, 0.5, 0.5, 0]))


def test_estimators_restore_model_state(setup):
    model, x, c = setup
    for name in ESTIMATORS:
        estimator_grad(model, x, c, name)
        assert all(n.probe is None and n.rate_fn is None for n in model.spiking_neurons())


def test_unknown_estimator_and_bad_parameters():
    with pytest.raises(ValueError, match="grad"):
        make_estimator("bptt")
    with pytest.raises(ValueError, match="gamma"):
        make_estimator("hart", gamma=0)
    with pytest.raises(ValueError, match="beta"):
        make_estimator("rga", beta=0.5)
    with pytest.raises(ValueError, match="grad"):
        make_estimator("bptr", gamma=1.0)


def test_poisson_rate_path_uses_straight_through_encoder():
    model = tiny_model((6,), encoding="poisson", timesteps=8)
    x = torch.rand(3, 1, 2, 2)
    c = torch.randn(3, 3)
    grad, _ = estimator_grad(model, x, c, "bptr")
    assert grad.shape == x.shape and torch.isfinite(grad).all()

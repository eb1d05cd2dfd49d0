"""spikeattack.interop against the real SpikingJelly and snnTorch (no mocks).

Each adapted network is compared with the framework's own forward and autograd (float64
logits and STBP input gradients allclose), with a hand-built native spikeattack twin of the
same weights (rate-path estimators and attacks equal), and with the neuron protocol on a
neuron written only here.
"""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeattack.attacks import make_attack
from spikeattack.gradients import RATE_PATH, make_estimator
from spikeattack.interop import ForeignModel, register_neuron, wrap
from spikeattack.models import ARCHS, ModelConfig, SpikingModel, register_arch, td
from spikeattack.neurons import ArcTan, FastSigmoid, LIFNeuron, NeuronProbe

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
from spikingjelly.activation_based import functional as sj_functional  # noqa: E402
from spikingjelly.activation_based import layer as sj_layer  # noqa: E402
from spikingjelly.activation_based import surrogate as sj_surrogate  # noqa: E402

snn = pytest.importorskip("snntorch")
from snntorch import surrogate as snn_surrogate  # noqa: E402
from snntorch import utils as snn_utils  # noqa: E402

T, B, SHAPE, K = 4, 6, (1, 6, 6), 5
LABELS = torch.arange(B) % K


def images(seed=0, dtype=torch.float64):
    return torch.rand((B, *SHAPE), generator=torch.Generator().manual_seed(seed), dtype=dtype)


def scaled(net, factor=2.5, seed=0, dtype=torch.float64):
    """Eval mode, random weights scaled so that the hidden layers fire at a moderate rate."""
    torch.manual_seed(seed)
    net = net.to(dtype).eval()
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:  # weights: zero-mean, fan-in scaled
                p.copy_(torch.randn_like(p) * factor / p[0].numel() ** 0.5)
            elif p.dim() == 1:  # biases: a positive drive, so that every layer fires
                p.copy_(torch.rand_like(p) * 0.25 * factor)
            # PLIF's scalar w keeps its init_tau
    return net


def reference(fn, x):
    """(logits, d CE / d x) with the framework's own autograd."""
    x = x.clone().requires_grad_(True)
    logits = fn(x)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, LABELS.to(logits.device)), x)
    return logits.detach(), grad


def assert_matches(model, fn, x, grad_rtol=1e-10):
    want_logits, want_grad = reference(fn, x)
    got_logits, got_grad = reference(model, x)
    assert got_logits.dtype == want_logits.dtype == torch.float64
    assert torch.allclose(got_logits, want_logits, rtol=1e-10, atol=1e-12)
    assert torch.allclose(got_grad, want_grad, rtol=grad_rtol, atol=grad_rtol * want_grad.abs().max())
    assert want_grad.abs().sum() > 0 and want_logits.std() > 0  # the comparison is not vacuous:
    neurons = model.spiking_neurons()
    probes = [NeuronProbe() for _ in neurons]
    for n, p in zip(neurons, probes):
        n.probe = p
    with torch.no_grad():
        model(x)
    for n in neurons:
        n.probe = None
    assert all(0.02 < p.rate.mean() < 0.98 for p in probes)  # every spiking layer fires and resets


# ---------------------------------------------------------------- SpikingJelly
SJ_SURROGATES = [sj_surrogate.ATan(alpha=3.0), sj_surrogate.Sigmoid(alpha=5.0), sj_surrogate.PiecewiseQuadratic(alpha=0.7)]
SJ_CASES = [(kind, v_reset, detach, decay_input, mode)
            for kind, v_reset, detach, decay_input, mode in itertools.product(
                ("lif", "if", "plif"), (0.0, None, -0.2), (False, True), (False, True), ("m", "s"))
            if not (kind == "if" and decay_input)]


def sj_node(kind, v_reset, detach, decay_input, mode, surrogate):
    common = dict(v_threshold=0.8, v_reset=v_reset, detach_reset=detach, surrogate_function=surrogate, step_mode=mode)
    if kind == "lif":
        return sj_neuron.LIFNode(tau=4.0 if decay_input else 2.0, decay_input=decay_input, **common)
    if kind == "plif":
        return sj_neuron.ParametricLIFNode(init_tau=3.0, decay_input=decay_input, **common)
    return sj_neuron.IFNode(**common)


def sj_net(case, i):
    kind, v_reset, detach, decay_input, mode = case
    sur = SJ_SURROGATES[i % len(SJ_SURROGATES)]
    node = lambda: sj_node(kind, v_reset, detach, decay_input, mode, sur)  # noqa: E731
    return nn.Sequential(
        sj_layer.Conv2d(1, 3, 3, padding=1, step_mode=mode), node(), sj_layer.Flatten(step_mode=mode),
        sj_layer.Linear(3 * 36, 12, step_mode=mode), node(), sj_layer.Linear(12, K, step_mode=mode))


def sj_reference(net, mode):
    def run(x):
        if mode == "m":
            out = net(x.unsqueeze(0).repeat(T, 1, 1, 1, 1)).mean(0)
        else:
            out = torch.stack([net(x) for _ in range(T)]).mean(0)
        sj_functional.reset_net(net)
        return out
    return run


@pytest.mark.parametrize("i,case", list(enumerate(SJ_CASES)), ids=["-".join(map(str, c)) for c in SJ_CASES])
def test_spikingjelly_logits_and_stbp_gradient(i, case):
    gain = {"lif": 4.0, "plif": 3.0}.get(case[0], 1.0) if case[3] else 1.0  # decay_input charges x / tau
    net = scaled(sj_net(case, i), factor=2.5 * gain, seed=i)
    model = wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K)
    assert model.time == ("sequence" if case[-1] == "m" else "step")
    assert len(model.spiking_neurons()) == 2
    assert_matches(model, sj_reference(net, case[-1]), images(i))


def test_spikingjelly_seq_to_ann_container_and_rate_path_runs():
    net = scaled(nn.Sequential(
        sj_layer.SeqToANNContainer(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)),
        sj_neuron.LIFNode(tau=2.0, surrogate_function=sj_surrogate.ATan(), step_mode="m"),
        sj_layer.SeqToANNContainer(nn.Flatten(), nn.Linear(4 * 36, K))))
    model = wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K)
    assert_matches(model, sj_reference(net, "m"), images())
    for name in ("bptr", "rga", "hart"):  # the straight-through rate path keeps the spiking logits
        assert torch.allclose(make_estimator(name)(model, images()), model(images()), rtol=1e-12, atol=1e-12)


def test_spikingjelly_time_inside_the_forward():
    class RepeatingCSNN(nn.Module):  # SpikingJelly's tutorial CSNN: repeats the image T times itself
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(sj_layer.Flatten(step_mode="m"), sj_layer.Linear(36, 16, step_mode="m"),
                                     sj_neuron.LIFNode(tau=2.0, surrogate_function=sj_surrogate.ATan(), step_mode="m"),
                                     sj_layer.Linear(16, K, step_mode="m"))

        def forward(self, x):
            return self.net(x.unsqueeze(0).repeat(T, 1, 1, 1, 1)).mean(0)

    net = scaled(RepeatingCSNN())
    model = wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K, time="inside", readout="logits")

    def run(x):
        out = net(x)
        sj_functional.reset_net(net)
        return out
    assert_matches(model, run, images())
    with pytest.raises(ValueError, match="timesteps"):
        with model.override_timesteps(8):
            pass


# ---------------------------------------------------------------- snnTorch
# snnTorch's surrogates return float32 spikes whatever the membrane's dtype (``(x > 0).float()``):
# the nets below cast them to the next layer's dtype (exact: spikes are 0 or 1), so the forward runs
# in float64, but snnTorch's backward passes the gradient through those float32 spikes: its own
# input gradient is float32-accurate only (SNN_GRAD_RTOL).
SNN_GRAD_RTOL = 1e-5
SNN_SURROGATES = [snn_surrogate.fast_sigmoid(slope=5), snn_surrogate.atan(alpha=2.5), snn_surrogate.sigmoid(slope=4)]


class TutorialNet(nn.Module):
    """snnTorch tutorial style: the forward runs the time loop and passes membranes explicitly."""

    def __init__(self, reset, spike_grad, beta=0.8):
        super().__init__()
        self.fc1 = nn.Linear(36, 16)
        self.lif1 = snn.Leaky(beta=beta, threshold=0.7, spike_grad=spike_grad, reset_mechanism=reset)
        self.fc2 = nn.Linear(16, K)
        self.lif2 = snn.Leaky(beta=beta, threshold=0.7, spike_grad=spike_grad, reset_mechanism=reset)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk_rec, mem_rec = [], []
        x = x.flatten(1)
        for _ in range(T):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1.to(x.dtype)), mem2)
            spk_rec.append(spk2.to(x.dtype))
            mem_rec.append(mem2)
        return torch.stack(spk_rec), torch.stack(mem_rec)


class Float64(nn.Module):
    def forward(self, x):
        return x.double()


def sequential_net(reset, spike_grad, beta=0.8):
    """snnTorch nn.Sequential style with init_hidden=True (one step per call)."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(36, 16),
        snn.Leaky(beta=beta, threshold=0.7, spike_grad=spike_grad, reset_mechanism=reset, init_hidden=True),
        Float64(), nn.Linear(16, K),
        snn.Leaky(beta=beta, threshold=0.7, spike_grad=spike_grad, reset_mechanism=reset, init_hidden=True, output=True))


def sequential_reference(net):
    def run(x):
        snn_utils.reset(net)
        spk, mem = zip(*[net(x) for _ in range(T)])
        return torch.stack(spk), torch.stack(mem)
    return run


SNN_CASES = list(itertools.product(("subtract", "zero", "none"), ("tutorial", "sequential"), ("count", "membrane")))


@pytest.mark.parametrize("i,case", list(enumerate(SNN_CASES)), ids=["-".join(c) for c in SNN_CASES])
def test_snntorch_logits_and_stbp_gradient(i, case):
    reset, style, readout = case
    sur = SNN_SURROGATES[i % len(SNN_SURROGATES)]
    net = scaled(TutorialNet(reset, sur) if style == "tutorial" else sequential_net(reset, sur), factor=3.0, seed=i)
    model = wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K, readout=readout)
    assert model.time == ("inside" if style == "tutorial" else "step")
    assert len(model.spiking_neurons()) == (1 if readout == "membrane" else 2)
    run = net if style == "tutorial" else sequential_reference(net)
    pick = (lambda out: out[0].sum(0)) if readout == "count" else (lambda out: out[1].mean(0))
    assert_matches(model, lambda x: pick(run(x)).double(), images(i), SNN_GRAD_RTOL)


def test_snntorch_unsupported_option_is_named():
    net = sequential_net("subtract", None)
    net[2].reset_delay = False
    with pytest.raises(ValueError, match="reset_delay"):
        wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K)


# ---------------------------------------------------------------- native twins
def native_twin(key, body, foreign_state, timesteps=T):
    """A native SpikingModel around ``body`` carrying the foreign network's weights (same order).

    The body is built through a registered architecture that exists only while the model is
    constructed (the registry is global; other tests enumerate it)."""
    body = body.to(next(iter(foreign_state.values())).dtype) if foreign_state else body.double()
    own = body.state_dict()
    assert len(own) == len(foreign_state)
    body.load_state_dict(dict(zip(own, foreign_state.values())))
    name = f"interop_test_twin_{key}"
    register_arch(name)(lambda spec: body)
    try:
        config = ModelConfig(arch=name, in_channels=SHAPE[0], input_size=SHAPE[1:], num_classes=K,
                             timesteps=timesteps)
        return SpikingModel(config).double().eval()
    finally:
        ARCHS.unregister(name)


def sj_pair():
    sur = sj_surrogate.ATan(alpha=2.0)
    net = scaled(nn.Sequential(
        sj_layer.Conv2d(1, 4, 3, padding=1, step_mode="m"), sj_layer.BatchNorm2d(4, step_mode="m"),
        sj_neuron.LIFNode(tau=2.0, decay_input=True, detach_reset=True, surrogate_function=sur, step_mode="m"),
        sj_layer.MaxPool2d(2, step_mode="m"), sj_layer.Flatten(step_mode="m"), sj_layer.Linear(36, 12, step_mode="m"),
        sj_neuron.IFNode(v_reset=None, surrogate_function=sur, step_mode="m"), sj_layer.Linear(12, K, step_mode="m")))
    body = nn.Sequential(
        td(nn.Conv2d(1, 4, 3, padding=1)), td(nn.BatchNorm2d(4)),
        LIFNeuron(decay=0.5, reset="hard", surrogate=ArcTan(2.0), detach_reset=True, decay_input=True),
        td(nn.MaxPool2d(2)), td(nn.Flatten()), td(nn.Linear(36, 12)),
        LIFNeuron(decay=1.0, reset="soft", surrogate=ArcTan(2.0)), td(nn.Linear(12, K)))
    return wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K), native_twin("sj", body, net.state_dict())


def snn_pair():
    net = scaled(TutorialNet("subtract", snn_surrogate.fast_sigmoid(slope=5)), factor=3.0)
    beta, threshold = float(net.lif1.beta), float(net.lif1.threshold)  # snnTorch stores them as float32 tensors
    neuron = lambda: LIFNeuron(decay=beta, threshold=threshold, reset="subtract", surrogate=FastSigmoid(5.0),  # noqa: E731
                               detach_reset=True, strict=True)
    body = nn.Sequential(td(nn.Flatten()), td(nn.Linear(36, 16)), neuron(), td(nn.Linear(16, K)), neuron())
    state = {k: v for k, v in net.state_dict().items() if k.startswith("fc")}
    return wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K), native_twin("snn", body, state)


@pytest.mark.parametrize("pair", [sj_pair, snn_pair], ids=["spikingjelly", "snntorch-tutorial"])
def test_rate_path_estimators_equal_the_native_twin(pair):
    adapted, twin = pair()
    x = images(3)
    assert torch.equal(adapted(x), twin(x))
    for name in RATE_PATH + ("stbp",):
        est = make_estimator(name)
        got = [reference(lambda v: est(m, v), x) for m in (adapted, twin)]
        if adapted.time == "sequence":
            assert torch.equal(got[0][0], got[1][0]), name
            assert torch.equal(got[0][1], got[1][1]), name
        else:  # the model's own loop runs the rate network T times and averages: float64 rounding only
            assert torch.allclose(got[0][0], got[1][0], rtol=1e-14, atol=1e-15), name
            assert torch.allclose(got[0][1], got[1][1], rtol=1e-12, atol=1e-15), name
        assert got[0][1].abs().sum() > 0, name


@pytest.mark.parametrize("attack,grad", [("fgsm", "rga"), ("pgd", "hart"), ("pgd", "stbp"), ("pgd", "cba")])
def test_attacks_equal_the_native_twin_cell_by_cell(attack, grad):
    adapted, twin = sj_pair()
    x = images(4)
    params = dict(eps=0.1, grad=grad, seed=0) | ({"steps": 3} if attack == "pgd" else {})
    adv = [make_attack(attack, m, **params)(x, LABELS) for m in (adapted, twin)]
    assert torch.equal(adv[0], adv[1])
    assert (adv[0] != x).any()
    assert torch.equal(adapted(adv[0]).argmax(1), twin(adv[1]).argmax(1))


# ---------------------------------------------------------------- protocol and refusals
class DoubleLeak(nn.Module):
    """A neuron written only here: multi-step, leak 0.6, threshold 0.5, reset to zero, ATan(2)."""

    def forward(self, x_seq):
        v, out = torch.zeros_like(x_seq[0]), []
        for x in x_seq:
            h = 0.6 * v + x
            s = (h >= 0.5).to(h.dtype)
            surrogate = (1.0 / (1 + (torch.pi * (h - 0.5)) ** 2)).detach()  # ArcTan(2): 1 / (1 + (pi u)^2)
            s = s + (h * surrogate - (h * surrogate).detach())  # value: the spike; gradient: the surrogate
            v = h * (1 - s)
            out.append(s)
        return torch.stack(out)


def custom_net():
    return scaled(nn.Sequential(td(nn.Flatten()), td(nn.Linear(36, 16)), DoubleLeak(), td(nn.Linear(16, K))))


def test_register_neuron_contract_on_a_neuron_written_here():
    net = custom_net()
    with pytest.raises(ValueError, match="DoubleLeak"):
        wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K)
    register_neuron(DoubleLeak, lambda m: LIFNeuron(decay=0.6, threshold=0.5, reset="hard", surrogate=ArcTan(2.0)))
    model = wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K)
    assert_matches(model, lambda x: net(x.unsqueeze(0).expand(T, *x.shape)).mean(0), images())

    class SubLeak(DoubleLeak):  # a subclass may change the dynamics: not adapted
        pass

    net[2] = SubLeak()
    with pytest.raises(ValueError, match="SubLeak"):
        wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K)


def test_unknown_framework_neurons_are_named():
    with pytest.raises(ValueError, match="Synaptic"):
        wrap(nn.Sequential(nn.Linear(36, 4), snn.Synaptic(alpha=0.9, beta=0.8, init_hidden=True)),
             timesteps=T, input_shape=SHAPE, num_classes=K)
    with pytest.raises(ValueError, match="surrogate_function.*Erf"):
        wrap(nn.Sequential(sj_layer.Linear(36, 4), sj_neuron.LIFNode(surrogate_function=sj_surrogate.Erf())),
             timesteps=T, input_shape=SHAPE, num_classes=K)
    with pytest.raises(ValueError, match="no spiking neuron"):
        wrap(nn.Sequential(nn.Flatten(), nn.Linear(36, K)), timesteps=T, input_shape=SHAPE, num_classes=K)


@pytest.mark.parametrize("name", RATE_PATH)
def test_rate_path_refuses_a_body_it_does_not_understand(name):
    # the situation of the issue: a foreign network used as a native model's body, unconverted
    foreign = nn.Sequential(td(nn.Flatten()), td(nn.Linear(36, 8)),
                            sj_neuron.LIFNode(step_mode="m", surrogate_function=sj_surrogate.ATan()),
                            td(nn.Linear(8, K)))
    model = native_twin(f"unconverted-{name}", foreign, foreign.state_dict())
    with pytest.raises(ValueError, match="LIFNode"):
        make_estimator(name)(model, images())
    plain = nn.Sequential(td(nn.Flatten()), td(nn.Linear(36, K))).double()
    silent = native_twin(f"no-neuron-{name}", plain, plain.state_dict())
    with pytest.raises(ValueError, match="no spiking layer"):
        make_estimator(name)(silent, images())


def test_wrap_keeps_the_original_and_checks_arguments():
    net = custom_net()
    net2 = scaled(nn.Sequential(sj_layer.Flatten(step_mode="m"), sj_layer.Linear(36, K, step_mode="m"),
                                sj_neuron.IFNode(step_mode="m")))
    model = wrap(net2, timesteps=T, input_shape=SHAPE, num_classes=K)
    assert isinstance(model, ForeignModel) and isinstance(net2[2], sj_neuron.IFNode)  # the copy was converted
    for bad, match in ((dict(input_shape=(6, 6)), "input_shape"), (dict(readout="max"), "readout"),
                       (dict(time="loop"), "time"), (dict(readout="logits"), "readout")):
        with pytest.raises(ValueError, match=match):
            wrap(net2, **(dict(timesteps=T, input_shape=SHAPE, num_classes=K) | bad))
    with pytest.raises(ValueError, match="model"):
        wrap(net.state_dict(), timesteps=T, input_shape=SHAPE, num_classes=K)


@pytest.mark.parametrize("name", ("bptr", "rga", "hart", "stbp", "cba"))
def test_decay_input_equals_a_scaled_input_layer(name):
    """SpikingJelly's decay_input charges m = decay u + x / tau: the same neuron without it, fed
    by a layer whose weights are divided by tau, must get the same gradient from every estimator
    (the rate path's gain carries the 1/tau of dm/dx, RGA reads its curve at x / tau, CBA's
    ReLU twin takes relu(x / tau))."""
    torch.manual_seed(0)
    first = nn.Linear(36, 16).double()
    last = nn.Linear(16, K).double()
    with torch.no_grad():
        first.weight.mul_(8.0)
    scaled_first = nn.Linear(36, 16).double()
    with torch.no_grad():
        scaled_first.weight.copy_(first.weight * 0.25)
        scaled_first.bias.copy_(first.bias * 0.25)
    bodies = {
        "decay_input": nn.Sequential(td(nn.Flatten()), td(first), LIFNeuron(decay=0.75, reset="soft", decay_input=True,
                                                                            surrogate=ArcTan(2.0)), td(last)),
        "scaled": nn.Sequential(td(nn.Flatten()), td(scaled_first), LIFNeuron(decay=0.75, reset="soft",
                                                                              surrogate=ArcTan(2.0)), td(last)),
    }
    x = images(5)
    est = make_estimator(name)
    (la, ga), (lb, gb) = [reference(lambda v: est(wrap(b, timesteps=T, input_shape=SHAPE, num_classes=K), v), x)
                          for b in bodies.values()]
    assert torch.allclose(la, lb, rtol=1e-10, atol=1e-12)
    assert torch.allclose(ga, gb, rtol=1e-8, atol=1e-12)
    assert ga.abs().sum() > 0


def test_state_kept_neurons_start_fresh_in_a_models_own_loop():
    class HiddenLoop(nn.Module):  # snnTorch init_hidden neurons driven by the model's own loop
        def __init__(self):
            super().__init__()
            self.net = sequential_net("subtract", None)

        def forward(self, x):
            snn_utils.reset(self.net)
            spk, mem = zip(*[self.net(x) for _ in range(T)])
            return torch.stack(spk), torch.stack(mem)

    net = scaled(HiddenLoop(), factor=3.0)
    model = wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K, time="inside", readout="membrane")
    x = images(7)
    first = model(x)
    assert torch.equal(model(x), first)  # no state carried over from the previous call
    assert_matches(model, lambda v: net(v)[1].mean(0), x, SNN_GRAD_RTOL)
    assert first.dtype == torch.float64


def test_normalisation_and_poisson_encoding_of_a_wrapped_model():
    net = scaled(sj_net(("lif", 0.0, True, False, "m"), 0))
    model = wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K, mean=(0.5,), std=(0.25,))
    assert_matches(model, lambda x: sj_reference(net, "m")((x - 0.5) / 0.25), images(8))
    poisson = wrap(net, timesteps=T, input_shape=SHAPE, num_classes=K, encoding="poisson", encoder_seed=3)
    x = images(9)
    for name in ("stbp", "rga"):
        runs = []
        for _ in range(2):
            poisson.encoder.reseed()
            runs.append(reference(lambda v: make_estimator(name)(poisson, v), x))
        assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])  # seeded noise
        assert runs[0][1].abs().sum() > 0  # the encoder's straight-through gradient reaches the image


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_wrapped_model_on_cuda_matches_cpu():
    adapted, _ = sj_pair()
    x = images(10)
    cpu = [reference(lambda v: make_estimator(name)(adapted, v), x) for name in ("stbp", "rga")]
    gpu_model = adapted.to("cuda")
    gpu = [reference(lambda v: make_estimator(name)(gpu_model, v.cuda()), x) for name in ("stbp", "rga")]
    for (lc, gc), (lg, gg) in zip(cpu, gpu):
        assert torch.allclose(lc, lg.cpu(), rtol=1e-9, atol=1e-12)
        assert torch.allclose(gc, gg.cpu(), rtol=1e-7, atol=1e-10)

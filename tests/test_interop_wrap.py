"""wrap()'s boundary: bad arguments, outputs that cannot be read, readings that disagree, and a
converted network that disagrees with its original are one-line ValueErrors naming the argument,
never a traceback from the user's layers and never a score.

The networks are tiny, with fixed random weights; the tutorial models trained on digits are in
test_interop_tutorials.py.
"""

import pytest
import torch
from torch import nn

from spikeattack.interop import register_neuron, wrap
from spikeattack.interop.reading import probe_batch
from spikeattack.neurons import ArcTan, LIFNeuron

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
from spikingjelly.activation_based import functional as sj_functional  # noqa: E402
from spikingjelly.activation_based import layer as sj_layer  # noqa: E402
from spikingjelly.activation_based import surrogate as sj_surrogate  # noqa: E402

snn = pytest.importorskip("snntorch")

T, SHAPE, K = 4, (1, 6, 6), 10
ARGS = dict(timesteps=T, input_shape=SHAPE, num_classes=K)


def firing(net, seed=0):
    """Random weights, positive biases, eval mode: every layer fires on [0, 1] inputs."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn_like(p) * 2.5 / p[0].numel() ** 0.5)
            else:
                p.copy_(torch.rand_like(p) * 0.5)
    return net.eval()


def multi_step(classes=K, features=36):
    return firing(nn.Sequential(
        sj_layer.Flatten(step_mode="m"), sj_layer.Linear(features, 16, step_mode="m"),
        sj_neuron.LIFNode(tau=2.0, surrogate_function=sj_surrogate.ATan(), step_mode="m"),
        sj_layer.Linear(16, classes, step_mode="m")))


class Repeating(nn.Module):
    """A multi-step body behind a forward that repeats ``[B, ...]`` images itself (scaled by
    ``gain``) and passes a ``[T, B, ...]`` sequence through: readable two ways."""

    def __init__(self, gain=1.0, reduce=None):
        super().__init__()
        self.net, self.gain, self.reduce = multi_step(), gain, reduce

    def forward(self, x):
        if x.dim() == 4:
            x = (self.gain * x).unsqueeze(0).repeat(T, 1, 1, 1, 1)
        out = self.net(x)
        return self.reduce(out) if self.reduce else out


def one_line_error(match, **kwargs):
    net = kwargs.pop("net", None) or multi_step()
    with pytest.raises(ValueError, match=match) as info:
        wrap(net, **(ARGS | kwargs))
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    return info.value


@pytest.mark.parametrize("kwargs,name", [
    (dict(num_classes=5), "num_classes"), (dict(num_classes=1), "num_classes"),
    (dict(num_classes=10.0), "num_classes"), (dict(num_classes=True), "num_classes"),
    (dict(input_shape=(1, 8.5, 8)), "input_shape"), (dict(input_shape=(1, 6)), "input_shape"),
    (dict(input_shape=(0, 6, 6)), "input_shape"), (dict(input_shape=(1, True, 6)), "input_shape"),
    (dict(input_shape="1x6x6"), "input_shape"), (dict(input_shape=(1, 8, 8)), "input_shape"),
    (dict(timesteps=0), "timesteps"), (dict(timesteps=1.5), "timesteps"), (dict(timesteps=True), "timesteps"),
    (dict(timesteps="4"), "timesteps"), (dict(mean=(float("nan"),)), "mean"), (dict(mean=("abc",)), "mean"),
    (dict(std=(0.0,)), "std"), (dict(std=(float("inf"),)), "std"), (dict(time="loop"), "time"),
    (dict(readout="max"), "readout"), (dict(time="step"), "time"), (dict(readout="membrane"), "readout"),
    (dict(encoder_seed=-1), "encoder_seed"),
])
def test_bad_arguments_are_named(kwargs, name):
    one_line_error(rf"^{name}\b", **kwargs)


def test_a_net_built_for_another_input_shape_names_input_shape():
    error = one_line_error(r"^input_shape/time: .*mat1 and mat2", net=multi_step(features=64))
    assert isinstance(error.__cause__, RuntimeError)  # the user's error, for --traceback
    error = one_line_error(r"^input_shape/time: .*time='step': raised RuntimeError: .*channels",
                           net=firing(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(64, 16),
                                                    snn.Leaky(beta=0.9, init_hidden=True, output=True))),
                           time="step")
    assert error.__cause__ is not None


def test_user_code_raising_under_every_reading_is_reported_per_reading():
    class Broken(Repeating):
        def forward(self, x):
            return 1 / 0

    error = one_line_error(r"^input_shape/time: .*time='sequence': raised ZeroDivisionError.*"
                           r"time='inside': raised ZeroDivisionError", net=Broken())
    assert isinstance(error.__cause__, ZeroDivisionError)


def test_nan_logits_are_refused():
    net = multi_step()
    with torch.no_grad():
        net[3].bias[2] = float("nan")
    one_line_error(r"^model: .*not finite", net=net)


def test_a_batch_first_output_is_refused_not_read():
    one_line_error(r"^readout/time: .*\[5, 4, 10\].*not time-first",
                   net=Repeating(reduce=lambda out: out.transpose(0, 1)))


def test_readings_that_agree_take_the_first_and_readings_that_disagree_are_refused():
    model = wrap(Repeating(gain=1.0), **ARGS)
    assert (model.time, model.readout) == ("sequence", "mean")
    one_line_error(r"^time/readout: .*more than one way.*time='sequence', readout='mean' predicts.*"
                   r"time='inside', readout='mean' predicts", net=Repeating(gain=3.0))
    # given, the reading is taken (and checked)
    model = wrap(Repeating(gain=3.0), **ARGS, time="inside")
    assert (model.time, model.readout) == ("inside", "mean")


def test_a_net_that_decodes_itself_reads_as_logits_on_either_time():
    inside = wrap(Repeating(reduce=lambda out: out.mean(0), gain=2.0), **ARGS, time="inside")
    assert inside.readout == "logits"
    net = Repeating(reduce=lambda out: out.mean(0))
    model = wrap(net, **ARGS)
    assert (model.time, model.readout) == ("sequence", "logits")
    x = torch.rand(3, *SHAPE)
    want = net(x.unsqueeze(0).repeat(T, 1, 1, 1, 1))
    sj_functional.reset_net(net)
    assert torch.allclose(model(x), want)


def test_the_logits_shape_is_checked_on_every_forward_path():
    model = wrap(Repeating(reduce=lambda out: out.mean(0)), **ARGS, time="inside")
    x = torch.rand(3, *SHAPE)
    assert model(x).shape == (3, K)
    model.readout = "mean"  # the newcomer's reading: a [B, K] output averaged over the batch
    with pytest.raises(ValueError, match=r"^readout: .*gives \[10\], expected logits \[3, 10\]"):
        model(x)
    for n in model.spiking_neurons():
        n.rate_fn = torch.sigmoid
    with pytest.raises(ValueError, match=r"^readout: .*expected logits \[3, 10\]"):
        model.rate_forward(x)


def test_a_callable_readout_is_checked_on_the_probe():
    model = wrap(multi_step(), **ARGS, readout=lambda out: out.amax(0))
    assert model(torch.rand(3, *SHAPE)).shape == (3, K)
    one_line_error(r"^readout/time: .*readout='callable'.*gives \[4, 10\]", readout=lambda out: out.mean(1))


def test_snntorch_loop_with_another_t_names_timesteps():
    class Loop(nn.Module):
        def __init__(self, steps):
            super().__init__()
            self.fc, self.lif, self.steps = nn.Linear(36, K), snn.Leaky(beta=0.9), steps

        def forward(self, x):
            mem, spk_rec, mem_rec = self.lif.init_leaky(), [], []
            for _ in range(self.steps):
                spk, mem = self.lif(self.fc(x.flatten(1)), mem)
                spk_rec.append(spk)
                mem_rec.append(mem)
            return torch.stack(spk_rec), torch.stack(mem_rec)

    model = wrap(firing(Loop(T)), **ARGS)
    assert (model.time, model.readout) == ("inside", "mean")
    one_line_error(r"^timesteps: .*ran 6 step\(s\) per forward, not timesteps=4", net=firing(Loop(6)))


def test_randomness_inside_the_forward_is_shared_by_the_probe_runs_and_the_callers_rng_untouched():
    class Noisy(nn.Module):  # draws its own Poisson spikes from the global RNG
        def __init__(self):
            super().__init__()
            self.net = multi_step()

        def forward(self, x):
            return self.net((torch.rand((T, *x.shape)) < x).float())

    net = Noisy()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    model = wrap(net, **ARGS)
    assert torch.equal(torch.get_rng_state(), state)
    assert (model.time, model.readout) == ("inside", "mean")


class OwnLeak(nn.Module):
    """A multi-step neuron written here: leak 0.5, threshold 0.5, hard reset to 0."""

    def forward(self, x_seq):
        v, out = torch.zeros_like(x_seq[0]), []
        for x in x_seq:
            h = 0.5 * v + x
            s = (h >= 0.5).to(h.dtype)
            v = h * (1 - s)
            out.append(s)
        return torch.stack(out)


def test_an_adapter_that_computes_something_else_is_caught_on_the_probe():
    def net():
        return firing(nn.Sequential(sj_layer.Flatten(step_mode="m"), sj_layer.Linear(36, 16, step_mode="m"), OwnLeak(),
                                    sj_layer.Linear(16, K, step_mode="m")), seed=3)

    register_neuron(OwnLeak, lambda m: LIFNeuron(decay=0.5, threshold=0.5, reset="hard", surrogate=ArcTan(2.0)))
    model = wrap(net(), **ARGS)  # the right adapter: accepted
    assert model.time == "sequence"
    register_neuron(OwnLeak, lambda m: LIFNeuron(decay=0.5, threshold=5.0, reset="hard", surrogate=ArcTan(2.0)))
    one_line_error(r"^model: the wrapped network predicts .* its own forward \(time='sequence', readout='mean'\)",
                   net=net())


def test_wrap_leaves_the_users_network_as_it_was():
    net = multi_step().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    wrap(net, **ARGS)
    assert net.training and isinstance(net[2], sj_neuron.LIFNode)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_probe_batch_differs_from_every_axis():
    assert probe_batch(4, 10, (1, 8, 8)) == 5
    assert probe_batch(5, 6, (7, 8, 9)) == 10


def test_a_network_straight_out_of_its_training_step_can_be_wrapped():
    """snnTorch keeps the last membrane (with its autograd history) in the neuron: wrap copies it detached."""
    import snntorch as snn

    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    x = torch.rand(4, 1, 8, 8)
    loss = sum(net(x)[1].sum() for _ in range(3))  # a training step's forward: membranes carry grad history
    loss.backward()
    state = [t for m in net.modules() for t in [*vars(m).values(), *m._buffers.values()] if isinstance(t, torch.Tensor)]
    assert any(t.grad_fn is not None for t in state)  # what made copy.deepcopy fail
    model = wrap(net, timesteps=4, input_shape=(1, 8, 8), num_classes=10)
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 10)

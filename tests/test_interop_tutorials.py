"""SpikingJelly's and snnTorch's tutorial models, written as their tutorials write them (sized for
8x8 digits), trained for a few seconds with each framework's own loop, then wrapped with nothing
but ``wrap(net, timesteps=T, input_shape=(1, 8, 8), num_classes=10)``: the wrapped model's clean
predictions on the digits test split are the network's own, computed the way the tutorial does.

Sources (SpikingJelly 2.0, snnTorch 1.0): ``activation_based/examples/conv_fashion_mnist.py`` (CSNN),
``activation_based/examples/lif_fc_mnist.py`` (single-step SNN, Poisson input), the multi-step
``model/parametric_lif_net.py`` networks trained as ``examples/classify_dvsg.py`` trains them, and
snnTorch's tutorial 5 (``Net`` with ``init_leaky`` and a loop in ``forward``) and tutorial 6
(``nn.Sequential`` with ``init_hidden=True`` and an external ``forward_pass``).
"""

import inspect
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeattack.cli.main import main
from spikeattack.data import load_dataset
from spikeattack.interop import load_foreign_model, wrap

pytest.importorskip("spikingjelly.activation_based.neuron")
snn = pytest.importorskip("snntorch")
from snntorch import functional as SF  # noqa: E402
from snntorch import surrogate as snn_surrogate  # noqa: E402
from snntorch import utils as snn_utils  # noqa: E402
from spikingjelly.activation_based import encoding, functional, layer, neuron, surrogate  # noqa: E402

T = 4
SHAPE = (1, 8, 8)
MIN_ACCURACY = 0.5  # 10 classes: chance is 0.1; every model below reaches 0.6-0.95 in these few epochs


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits")
    return data.split("train"), data.split("test")


def batches(train, epoch, batch_size=64):
    x, y = train
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
    for i in range(0, len(x), batch_size):
        idx = perm[i:i + batch_size]
        yield x[idx], y[idx]


def assert_reads_like_the_net(model, own, test, time, readout):
    """The wrapped model decided (time, readout) and predicts exactly what the network itself does."""
    x, y = test
    assert (model.time, model.readout) == (time, readout)
    with torch.no_grad():
        got = model(x).argmax(1)
    assert torch.equal(got, own)
    assert (own == y).float().mean() > MIN_ACCURACY  # a trained model, so the comparison means something


# ---------------------------------------------------------------- SpikingJelly
class CSNN(nn.Module):
    """conv_fashion_mnist.py's CSNN (its Linear sized for 8x8: two 2x2 pools leave 2x2)."""

    def __init__(self, T: int, channels: int):
        super().__init__()
        self.T = T

        self.conv_fc = nn.Sequential(
            layer.Conv2d(1, channels, kernel_size=3, padding=1, bias=False),
            layer.BatchNorm2d(channels),
            neuron.IFNode(surrogate_function=surrogate.ATan()),
            layer.MaxPool2d(2, 2),  # 4 * 4
            layer.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            layer.BatchNorm2d(channels),
            neuron.IFNode(surrogate_function=surrogate.ATan()),
            layer.MaxPool2d(2, 2),  # 2 * 2
            layer.Flatten(),
            layer.Linear(channels * 2 * 2, channels * 4 * 4, bias=False),
            neuron.IFNode(surrogate_function=surrogate.ATan()),
            layer.Linear(channels * 4 * 4, 10, bias=False),
            neuron.IFNode(surrogate_function=surrogate.ATan()),
        )

        functional.set_step_mode(self, step_mode="m")

    def forward(self, x: torch.Tensor):
        # x.shape = [N, C, H, W]
        x_seq = x.unsqueeze(0).expand(self.T, -1, -1, -1, -1)  # [N, C, H, W] -> [T, N, C, H, W]
        x_seq = self.conv_fc(x_seq)
        fr = x_seq.mean(0)
        return fr


def train_rate_mse(net, train, epochs, forward):
    """The SpikingJelly examples' loop: MSE between the output firing rate and the one-hot label,
    ``functional.reset_net`` after every batch."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for epoch in range(epochs):
        net.train()
        for img, label in batches(train, epoch):
            optimizer.zero_grad()
            label_onehot = F.one_hot(label, 10).float()
            out_fr = forward(net, img)
            loss = F.mse_loss(out_fr, label_onehot)
            loss.backward()
            optimizer.step()
            functional.reset_net(net)
    return net.eval()


@pytest.fixture(scope="module")
def sj_csnn(digits):
    torch.manual_seed(0)
    return train_rate_mse(CSNN(T=T, channels=8), digits[0], 3, lambda net, img: net(img))


def sj_own_predictions(net, x, forward):
    with torch.no_grad():
        out_fr = forward(net, x)
    functional.reset_net(net)
    return out_fr.argmax(1)


def test_spikingjelly_tutorial_csnn_reads_as_its_own_loop_and_logits(sj_csnn, digits):
    own = sj_own_predictions(sj_csnn, digits[1][0], lambda net, x: net(x))
    model = wrap(sj_csnn, timesteps=T, input_shape=SHAPE, num_classes=10)
    assert_reads_like_the_net(model, own, digits[1], "inside", "logits")


def test_spikingjelly_tutorial_csnn_wrong_readings_are_refused_not_scored(sj_csnn):
    # the newcomer's silent 0.100: a [B, K] firing rate averaged over the batch by readout="mean"
    with pytest.raises(ValueError, match=r"^readout: .*output \[\d+, 10\].* not time-first") as info:
        wrap(sj_csnn, timesteps=T, input_shape=SHAPE, num_classes=10, time="inside", readout="mean")
    assert "\n" not in str(info.value)
    # fed [T, B, ...], its own forward fails (it repeats the input itself): a ValueError, the user's error chained
    with pytest.raises(ValueError, match=r"^input_shape/time: .*time='sequence': raised RuntimeError") as info:
        wrap(sj_csnn, timesteps=T, input_shape=SHAPE, num_classes=10, time="sequence")
    assert isinstance(info.value.__cause__, RuntimeError) and "\n" not in str(info.value)
    # its own T is 4
    with pytest.raises(ValueError, match=r"^timesteps/time: .*ran 4 step\(s\) per forward, not timesteps=8"):
        wrap(sj_csnn, timesteps=8, input_shape=SHAPE, num_classes=10)


class SNN(nn.Module):
    """lif_fc_mnist.py's single-step SNN (28 * 28 -> 8 * 8)."""

    def __init__(self, tau):
        super().__init__()

        self.layer = nn.Sequential(
            layer.Flatten(),
            layer.Linear(8 * 8, 10, bias=False),
            neuron.LIFNode(tau=tau, surrogate_function=surrogate.ATan()),
        )

    def forward(self, x: torch.Tensor):
        return self.layer(x)


def sj_step_loop(images_per_step):
    def forward(net, img):
        out_fr = 0.0
        for t in range(T):
            out_fr += net(images_per_step(img, t))
        return out_fr / T
    return forward


def test_spikingjelly_single_step_net_with_reset_net(digits):
    torch.manual_seed(0)
    encoder = encoding.PoissonEncoder()  # the example trains on Poisson spikes
    net = train_rate_mse(SNN(tau=2.0), digits[0], 3, sj_step_loop(lambda img, t: encoder(img)))
    x, _ = digits[1]
    own = sj_own_predictions(net, x, sj_step_loop(lambda img, t: img))  # the image at every step
    assert_reads_like_the_net(wrap(net, timesteps=T, input_shape=SHAPE, num_classes=10), own, digits[1],
                              "step", "mean")
    # the same inputs with Poisson encoding: the wrapper's seeded spikes, fed to the net by its own loop
    poisson = wrap(net, timesteps=T, input_shape=SHAPE, num_classes=10, encoding="poisson")
    spikes = poisson.encode(x)
    poisson.encoder.reseed()
    own = sj_own_predictions(net, x, sj_step_loop(lambda img, t: spikes[t]))
    assert_reads_like_the_net(poisson, own, digits[1], "step", "mean")


class MultiStepNet(nn.Module):
    """parametric_lif_net.py's DVSGestureNet layout (conv-BN-PLIF-pool blocks, dropout, a voting
    layer), two blocks for 8x8 with 1 channel; multi-step, so it takes [T, N, C, H, W]."""

    def __init__(self, channels=8):
        super().__init__()
        conv = []
        for i in range(2):
            in_channels = 1 if not conv else channels
            conv.append(layer.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False))
            conv.append(layer.BatchNorm2d(channels))
            conv.append(neuron.ParametricLIFNode(surrogate_function=surrogate.ATan(), detach_reset=True))
            conv.append(layer.MaxPool2d(2, 2))
        self.conv_fc = nn.Sequential(
            *conv,
            layer.Flatten(),
            layer.Dropout(0.5),
            layer.Linear(channels * 2 * 2, 64),
            neuron.ParametricLIFNode(surrogate_function=surrogate.ATan(), detach_reset=True),
            layer.Dropout(0.5),
            layer.Linear(64, 100),
            neuron.ParametricLIFNode(surrogate_function=surrogate.ATan(), detach_reset=True),
            layer.VotingLayer(10),
        )

    def forward(self, x: torch.Tensor):
        return self.conv_fc(x)


def test_spikingjelly_multi_step_net_taking_sequences(digits):
    torch.manual_seed(0)
    net = MultiStepNet()
    functional.set_step_mode(net, "m")
    frames = lambda img: img.unsqueeze(0).repeat(T, 1, 1, 1, 1)  # noqa: E731  [N, C, H, W] -> [T, N, C, H, W]
    net = train_rate_mse(net, digits[0], 4, lambda net, img: net(frames(img)).mean(0))
    own = sj_own_predictions(net, digits[1][0], lambda net, x: net(frames(x)).mean(0))
    assert_reads_like_the_net(wrap(net, timesteps=T, input_shape=SHAPE, num_classes=10), own, digits[1],
                              "sequence", "mean")


# ---------------------------------------------------------------- snnTorch
def tutorial6_net():
    """Tutorial 6's CSNN (kernels 3 with padding and 32 channels, for 8x8)."""
    spike_grad = snn_surrogate.fast_sigmoid(slope=25)
    beta = 0.5
    return nn.Sequential(nn.Conv2d(1, 12, 3, padding=1),
                         nn.MaxPool2d(2),
                         snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
                         nn.Conv2d(12, 32, 3, padding=1),
                         nn.MaxPool2d(2),
                         snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
                         nn.Flatten(),
                         nn.Linear(32 * 2 * 2, 10),
                         snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True))


def forward_pass(net, num_steps, data):
    mem_rec = []
    spk_rec = []
    snn_utils.reset(net)  # resets hidden states for all LIF neurons in net

    for step in range(num_steps):
        spk_out, mem_out = net(data)
        spk_rec.append(spk_out)
        mem_rec.append(mem_out)

    return torch.stack(spk_rec), torch.stack(mem_rec)


def test_snntorch_tutorial6_sequential_with_init_hidden(digits):
    torch.manual_seed(0)
    net = tutorial6_net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.9, 0.999))
    loss_fn = SF.ce_rate_loss()
    for epoch in range(5):
        for data, targets in batches(digits[0], epoch):
            net.train()
            spk_rec, mem_rec = forward_pass(net, T, data)
            loss_val = loss_fn(spk_rec, targets)
            optimizer.zero_grad()
            loss_val.backward()
            optimizer.step()
    net.eval()
    x, y = digits[1]
    with torch.no_grad():
        spk_rec, _ = forward_pass(net, T, x)
    _, own = spk_rec.sum(dim=0).max(1)  # SF.accuracy_rate's prediction
    assert SF.accuracy_rate(spk_rec, y) == pytest.approx(float((own == y).float().mean()))
    assert_reads_like_the_net(wrap(net, timesteps=T, input_shape=SHAPE, num_classes=10), own, digits[1],
                              "step", "mean")


num_inputs, num_hidden, num_outputs, num_steps, beta = 8 * 8, 100, 10, T, 0.95


class Net(nn.Module):
    """Tutorial 5's network, as written there (it takes flattened images)."""

    def __init__(self):
        super().__init__()

        # Initialize layers
        self.fc1 = nn.Linear(num_inputs, num_hidden)
        self.lif1 = snn.Leaky(beta=beta)
        self.fc2 = nn.Linear(num_hidden, num_outputs)
        self.lif2 = snn.Leaky(beta=beta)

    def forward(self, x):

        # Initialize hidden states at t=0
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()

        # Record the final layer
        spk2_rec = []
        mem2_rec = []

        for step in range(num_steps):
            cur1 = self.fc1(x)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)

        return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)


def test_snntorch_tutorial5_loop_inside_forward(digits):
    torch.manual_seed(0)
    net = Net()
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-3, betas=(0.9, 0.999))
    for epoch in range(3):
        for data, targets in batches(digits[0], epoch):
            net.train()
            spk_rec, mem_rec = net(data.view(data.shape[0], -1))
            loss_val = torch.zeros((1))
            for step in range(num_steps):
                loss_val += loss(mem_rec[step], targets)
            optimizer.zero_grad()
            loss_val.backward()
            optimizer.step()
    net.eval()
    x, _ = digits[1]
    with torch.no_grad():
        output, _ = net(x.view(x.size(0), -1))
    _, own = output.sum(dim=0).max(1)  # the tutorial's accuracy: the spike count's argmax
    # the tutorial flattens in its data loop: the bare net does not take images, and says so
    with pytest.raises(ValueError, match=r"^input_shape: .*mat1 and mat2") as info:
        wrap(net, timesteps=T, input_shape=SHAPE, num_classes=10)
    assert "\n" not in str(info.value)
    model = wrap(nn.Sequential(nn.Flatten(), net), timesteps=T, input_shape=SHAPE, num_classes=10)
    assert_reads_like_the_net(model, own, digits[1], "inside", "mean")


# ---------------------------------------------------------------- through a factory and the CLI
def test_tutorial_csnn_through_a_factory_and_the_cli(sj_csnn, digits, tmp_path, capsys):
    factory = ("import torch\nfrom torch import nn\nfrom spikingjelly.activation_based import functional, layer, "
               "neuron, surrogate\n\n\n" + inspect.getsource(CSNN)
               + "\n\ndef csnn():\n    return CSNN(T=4, channels=8)\n"
               + "\n\ndef csnn_t4():\n    return {'model': CSNN(T=4, channels=8), 'timesteps': 4}\n")
    (tmp_path / "nets.py").write_text(factory)
    torch.save(sj_csnn.state_dict(), tmp_path / "csnn.pth")
    x, y = digits[1]
    own = sj_own_predictions(sj_csnn, x, lambda net, v: net(v))
    model = load_foreign_model(f"{tmp_path}/nets.py:csnn", tmp_path / "csnn.pth", timesteps=T, input_shape=SHAPE,
                               num_classes=10)
    assert_reads_like_the_net(model, own, digits[1], "inside", "logits")
    assert main(["eval", str(tmp_path / "csnn.pth"), "--factory", f"{tmp_path}/nets.py:csnn", "--dataset", "digits",
                 "--timesteps", str(T), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == len(y)
    assert result["clean_accuracy"] == pytest.approx(float((own == y).float().mean()), abs=1e-6)
    # the standard evaluation refuses --timesteps: a factory that returns its T is enough
    assert main(["evaluate", str(tmp_path / "csnn.pth"), "--factory", f"{tmp_path}/nets.py:csnn_t4", "--dataset",
                 "digits", "--version", "standard", "--eps", "0.1", "--limit", "12", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 12
    assert result["clean_accuracy"] == pytest.approx(float((own[:12] == y[:12]).float().mean()), abs=1e-6)

"""The registered architectures: shapes, gradients, ANN twins, layer counts, options."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeattack.models import ARCHS, ArchSpec, ModelConfig, SpikingModel
from spikeattack.models.archs.resnet import SpikingBasicBlock
from spikeattack.models.registry import build_body
from spikeattack.neurons import LIFNeuron, ReLUNeuron

W = 0.0625  # 4 to 64 channels: fast on a laptop CPU
SMALL = {"width": W}

# (arch, in_channels, input_size, arch_options, spiking layers)
CASES = [
    ("vgg11", 3, (32, 32), SMALL, 10),
    ("vgg11", 3, (48, 48), {"width": W, "layout": "standard", "dropout": 0.1}, 10),
    ("vgg9", 3, (32, 32), SMALL, 11),
    ("vgg9", 1, (28, 28), {"width": W, "batch_norm": True, "pool_neuron": False}, 8),
    ("vgg_dvs", 2, (48, 48), SMALL, 8),
    ("vgg_dvs", 2, (42, 42), {"width": W, "global_pool": True}, 8),
    ("resnet19", 3, (32, 32), SMALL, 18),
    ("resnet19", 2, (34, 34), SMALL, 18),
    ("resnet17", 3, (32, 32), SMALL, 15),
    ("resnet17", 3, (48, 48), SMALL, 15),
    ("liang_spike", 2, (34, 34), SMALL, 6),
    ("liang_spike", 2, (42, 42), {"width": W, "batch_norm": True}, 6),
    ("liang_image", 1, (28, 28), SMALL, 7),
    ("liang_image", 3, (32, 32), SMALL, 7),
    ("liang_gesture", 2, (32, 32), SMALL, 4),
]
CASE_IDS = [f"{name}-{c}x{h}x{w}-{i}" for i, (name, c, (h, w), _, _) in enumerate(CASES)]
OWN = {"vgg11", "vgg9", "vgg_dvs", "resnet19", "resnet17", "liang_spike", "liang_image", "liang_gesture"}
OTHER = [("small_cnn", 1, (8, 8), {}), ("mlp", 1, (8, 8), {})]

# Stateless layers that are linear (affine) per time step: all a rate-path estimator allows.
LINEAR_LAYERS = (nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear,
                 nn.Flatten, nn.Dropout, nn.Identity)
MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
             nn.AdaptiveMaxPool3d)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These nets are tiny: intra-op threads only add overhead (and stall badly on a busy CPU)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def config(name, channels, size, options, **kw):
    return ModelConfig(arch=name, in_channels=channels, input_size=size, num_classes=10, timesteps=2,
                       arch_options=dict(options), **kw)


def weighted_layers(module):
    """Convolutions with a kernel larger than 1x1 (1x1 shortcuts excluded) plus FC layers."""
    return sum(1 for m in module.modules()
               if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and max(m.kernel_size) > 1))


def meta_body(name, channels, size, options=None):
    """A full-size body on the meta device: shapes only, no memory, no initialisation cost."""
    with torch.device("meta"):
        return build_body(name, ArchSpec(channels, size, 10, nn.ReLU), dict(options or {}))


def test_every_registered_arch_has_a_case():
    covered = {case[0] for case in CASES} | {case[0] for case in OTHER}
    assert OWN <= set(ARCHS)
    assert set(ARCHS) <= covered, f"add test cases for {sorted(set(ARCHS) - covered)}"


@pytest.mark.parametrize("name,channels,size,options,spiking", CASES, ids=CASE_IDS)
def test_forward_backward_ann_twin_and_counts(name, channels, size, options, spiking):
    torch.manual_seed(0)
    # IF with a low threshold: untrained nets still spike, so the surrogate gradient reaches the input
    model = SpikingModel(config(name, channels, size, options, neuron="if", threshold=0.2))
    x = torch.rand(2, channels, *size, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 10)
    F.cross_entropy(out, torch.tensor([1, 2])).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0

    assert len(model.spiking_neurons()) == spiking

    ann = model.ann_twin().eval()
    assert not ann.spiking_neurons()
    assert sum(isinstance(m, ReLUNeuron) for m in ann.modules()) == spiking
    snn_state, ann_state = model.state_dict(), ann.state_dict()
    assert list(snn_state) == list(ann_state)
    assert all(snn_state[k].shape == ann_state[k].shape for k in snn_state)
    with torch.no_grad():
        assert ann(x).shape == (2, 10)

    # weights travel both ways, strictly
    fresh_snn = SpikingModel(config(name, channels, size, options, neuron="if", threshold=0.2))
    fresh_snn.load_state_dict(ann_state, strict=True)
    assert all(torch.equal(fresh_snn.state_dict()[k], v) for k, v in ann_state.items())
    fresh_ann = SpikingModel(config(name, channels, size, options, neuron="relu"))
    fresh_ann.load_state_dict(snn_state, strict=True)
    assert all(torch.equal(fresh_ann.state_dict()[k], v) for k, v in snn_state.items())


@pytest.mark.parametrize("name", ["vgg11", "resnet19"])
def test_eval_mode_multistep_gradient(name):
    """Eval mode (frozen batch-norm) does not cut the input gradient; T = 4 steps."""
    _, channels, size, options, _ = next(case for case in CASES if case[0] == name)
    torch.manual_seed(1)
    cfg = config(name, channels, size, options, neuron="if", threshold=0.2).replace(timesteps=4)
    model = SpikingModel(cfg).eval()
    x = torch.rand(3, channels, *size, requires_grad=True)
    F.cross_entropy(model(x), torch.tensor([0, 1, 2])).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name,channels,size,options",
                         [case[:4] for case in CASES] + OTHER, ids=CASE_IDS + [o[0] for o in OTHER])
def test_only_linear_stateless_layers_no_max_pool(name, channels, size, options):
    body = SpikingModel(config(name, channels, size, options)).body
    for module in body.modules():
        assert not isinstance(module, MAX_POOLS), f"{name} uses {type(module).__name__}"
        if not list(module.children()):  # a leaf
            assert isinstance(module, LINEAR_LAYERS + (LIFNeuron,)), f"{name}: {type(module).__name__}"


@pytest.mark.parametrize("name,expected", [
    ("resnet17", 17), ("resnet19", 19), ("vgg11", 11), ("vgg9", 9), ("vgg_dvs", 9),
    ("liang_spike", 7), ("liang_image", 8), ("liang_gesture", 5),
])
def test_weighted_layer_count(name, expected):
    channels = 2 if name in ("vgg_dvs", "liang_spike", "liang_gesture") else 3
    assert weighted_layers(meta_body(name, channels, (32, 32))) == expected
    if name == "vgg11":
        assert weighted_layers(meta_body(name, 3, (32, 32), {"layout": "standard"})) == 11


@pytest.mark.parametrize("name,channels,size,options,features", [
    ("vgg11", 3, (32, 32), {}, 512 * 4 * 4),  # RGA/HART code: Linear(512 * 16, 4096)
    ("vgg11", 3, (32, 32), {"layout": "standard"}, 512),
    ("vgg11", 3, (48, 48), {"layout": "standard"}, 512),
    ("vgg9", 3, (32, 32), {}, 256 * 4 * 4),
    ("vgg_dvs", 2, (48, 48), {}, 512 * 3 * 3),  # HART code, 48x48 frames
    ("vgg_dvs", 2, (42, 42), {"global_pool": True}, 512),
    ("resnet19", 3, (32, 32), {}, 512),
    ("resnet17", 3, (32, 32), {}, 128 * 4 * 4),  # RGA code: Linear(128 * 4 * 4, 256)
    ("resnet17", 3, (48, 48), {}, 128 * 6 * 6),
    ("liang_spike", 2, (34, 34), {}, 384 * 8 * 8),
    ("liang_spike", 2, (42, 42), {}, 384 * 10 * 10),
    ("liang_image", 1, (28, 28), {}, 512 * 7 * 7),
    ("liang_gesture", 2, (32, 32), {}, 128 * 8 * 8),
])
def test_full_size_first_fc(name, channels, size, options, features):
    first = next(m for m in meta_body(name, channels, size, options).modules() if isinstance(m, nn.Linear))
    assert first.in_features == features


def test_full_size_channels():
    convs = [m for m in meta_body("resnet19", 3, (32, 32)).modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].in_channels == 3 and convs[0].out_channels == 128 and convs[-1].out_channels == 512
    hidden = [m.out_features for m in meta_body("vgg11", 3, (32, 32)).modules() if isinstance(m, nn.Linear)]
    assert hidden == [4096, 4096, 10]
    vgg9 = meta_body("vgg9", 3, (32, 32))
    assert {m.kernel_size for m in vgg9.modules() if isinstance(m, nn.Conv2d)} == {(5, 5)}
    assert not any(isinstance(m, nn.BatchNorm2d) for m in vgg9.modules())
    assert all(m.bias is None for m in meta_body("vgg9", 3, (32, 32), {"batch_norm": True}).modules()
               if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("name", sorted(OWN))
def test_unknown_option_names_arch_options(name):
    with pytest.raises(ValueError, match="arch_options"):
        SpikingModel(config(name, 3, (32, 32), {"bogus": 1}))


@pytest.mark.parametrize("name", sorted(OWN))
@pytest.mark.parametrize("width", [0, -1.0, float("nan"), True, "1"])
def test_bad_width(name, width):
    with pytest.raises(ValueError, match="width"):
        build_body(name, ArchSpec(3, (32, 32), 10, nn.ReLU), {"width": width})


@pytest.mark.parametrize("name,options,match", [
    ("vgg11", {"layout": "vgg16"}, "layout"),
    ("vgg11", {"dropout": 1.0}, "dropout"),
    ("vgg9", {"batch_norm": 1}, "batch_norm"),
    ("vgg_dvs", {"global_pool": "yes"}, "global_pool"),
    ("liang_image", {"batch_norm": None}, "batch_norm"),
])
def test_bad_option_values(name, options, match):
    with pytest.raises(ValueError, match=match):
        build_body(name, ArchSpec(3, (32, 32), 10, nn.ReLU), options)


@pytest.mark.parametrize("name,size", [("vgg11", (7, 32)), ("vgg_dvs", (15, 15)), ("vgg9", (4, 4)),
                                       ("liang_image", (3, 3)), ("resnet17", (4, 4))])
def test_too_small_input(name, size):
    with pytest.raises(ValueError, match="input_size"):
        build_body(name, ArchSpec(3, size, 10, nn.ReLU), SMALL)


def test_tiny_width_keeps_one_channel():
    model = SpikingModel(config("resnet19", 3, (16, 16), {"width": 1e-6}))
    assert min(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)) == 1
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 10)


def test_basic_block_shapes_and_shortcuts():
    same = SpikingBasicBlock(4, 4, ReLUNeuron)
    assert isinstance(same.shortcut, nn.Identity)
    down = SpikingBasicBlock(4, 8, ReLUNeuron, stride=2)
    assert isinstance(down.shortcut.module[0], nn.Conv2d) and down.shortcut.module[0].kernel_size == (1, 1)
    x = torch.rand(2, 3, 4, 9, 9)
    assert same(x).shape == (2, 3, 4, 9, 9)
    assert down(x).shape == (2, 3, 8, 5, 5)
    # the residual is added before the output neuron: with identity convs' contribution removed,
    # the ReLU block returns relu(x + 0) = x for x >= 0
    with torch.no_grad():
        for conv in (same.conv1, same.conv2):
            conv.module[0].weight.zero_()
            conv.module[1].bias.zero_()
    same.eval()
    for bn in (same.conv1.module[1], same.conv2.module[1]):
        bn.reset_running_stats()
    assert torch.allclose(same(x), x)
    with pytest.raises(ValueError, match="stride"):
        SpikingBasicBlock(4, 4, ReLUNeuron, stride=0)


def test_spiking_neurons_in_forward_order_end_before_readout():
    model = SpikingModel(config("resnet17", 3, (32, 32), SMALL))
    names = [n for n, m in model.body.named_modules() if isinstance(m, LIFNeuron)]
    assert names[0] == "1" and names[-1] == "3.3.neuron2"
    assert names == sorted(names, key=lambda n: [int(p) if p.isdigit() else p for p in n.split(".")])

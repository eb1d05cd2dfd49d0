import pytest
import torch

from spikeattack.encoding import DirectEncoder, PoissonEncoder, make_encoder
from spikeattack.models import ARCHS, ModelConfig, build_model


def cfg(**changes):
    base = dict(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10, timesteps=4)
    return ModelConfig(**(base | changes))


def test_forward_shapes_and_time_average():
    model = build_model(cfg()).eval()
    x = torch.rand(3, 1, 8, 8)
    logits = model(x)
    assert logits.shape == (3, 10)
    torch.testing.assert_close(logits, model.body(model.encode(x)).mean(0))


def test_ann_twin_weights_round_trip_both_ways():
    snn = build_model(cfg())
    ann = snn.ann_twin()
    assert ann.timesteps == 1 and not ann.is_spiking
    assert {k: v.shape for k, v in snn.state_dict().items()} == {k: v.shape for k, v in ann.state_dict().items()}
    with torch.no_grad():
        for p in ann.parameters():
            p.add_(1.0)
    back = ann.twin(snn.config)
    for (k, a), (_, b) in zip(ann.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    assert back.is_spiking and back.timesteps == 4


def test_ann_twin_is_relu_network():
    ann = build_model(cfg(arch="mlp", neuron="relu", arch_options={"hidden": (5,)})).eval()
    x = torch.rand(2, 1, 8, 8)
    lin = [m for m in ann.modules() if isinstance(m, torch.nn.Linear)]
    expected = lin[1](torch.relu(lin[0](x.flatten(1))))
    torch.testing.assert_close(ann(x), expected)


def test_direct_encoding_repeats_and_normalises():
    model = build_model(cfg(mean=(0.5,), std=(0.25,)))
    x = torch.rand(2, 1, 8, 8)
    seq = model.encode(x)
    assert seq.shape == (4, 2, 1, 8, 8)
    torch.testing.assert_close(seq[2], (x - 0.5) / 0.25)


def test_poisson_rate_matches_intensity_and_is_seeded():
    enc = PoissonEncoder(seed=3)
    x = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    spikes = enc.encode(x.expand(2000, 5), timesteps=10)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    rate = spikes.mean(dim=(0, 1))
    torch.testing.assert_close(rate, x, atol=0.01, rtol=0)
    again = PoissonEncoder(seed=3).encode(x.expand(2000, 5), timesteps=10)
    assert torch.equal(spikes, again)
    # fresh noise at every forward
    assert not torch.equal(enc.encode(x.expand(100, 5), 10), enc.encode(x.expand(100, 5), 10))


def test_poisson_straight_through_gradient():
    x = torch.rand(4, 3, requires_grad=True)
    PoissonEncoder().encode(x, 5).sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 5.0))


def test_encoder_names():
    assert isinstance(make_encoder("direct"), DirectEncoder)
    assert isinstance(make_encoder("bernoulli"), PoissonEncoder)
    with pytest.raises(ValueError, match="encoding"):
        make_encoder("latency")


def test_override_threshold_restores_even_on_error():
    model = build_model(cfg())
    last = model.spiking_neurons()[-1]
    with pytest.raises(RuntimeError):
        with model.override_threshold(2.0):
            assert last.threshold == 2.0
            raise RuntimeError("boom")
    assert last.threshold == 1.0
    with model.override_timesteps(12):
        assert model.encode(torch.rand(1, 1, 8, 8)).shape[0] == 12
    assert model.timesteps == 4


def test_eval_mode_keeps_input_gradients():
    model = build_model(cfg(threshold=0.2)).eval()
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("changes, name", [
    ({"decay": 0.0}, "decay"), ({"decay": 1.01}, "decay"), ({"threshold": 0.0}, "threshold"),
    ({"timesteps": 0}, "timesteps"), ({"reset": "none"}, "reset"), ({"neuron": "izhikevich"}, "neuron"),
    ({"encoding": "latency"}, "encoding"), ({"input_size": (8,)}, "input_size"), ({"num_classes": 1}, "num_classes"),
    ({"std": (0.0,)}, "std"), ({"surrogate": "gauss"}, "surrogate"),
])
def test_bad_config_names_the_argument(changes, name):
    with pytest.raises(ValueError, match=name):
        cfg(**changes)


def test_unknown_arch_and_option():
    with pytest.raises(ValueError, match="arch"):
        build_model(cfg(arch="vgg99"))
    with pytest.raises(ValueError, match="arch_options"):
        build_model(cfg(arch_options={"depth": 3}))
    assert "small_cnn" in ARCHS


@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 1, 8), (2, 3, 8, 8), (2, 1, 7, 8), (4, 2, 1, 8, 8)])
def test_wrong_input_shape_names_the_argument(shape):
    model = build_model(cfg())
    with pytest.raises(ValueError, match="x: expected shape"):
        model(torch.rand(*shape))


def test_config_round_trip():
    c = cfg(mean=(0.1,), std=(0.3,), arch_options={"hidden": 64})
    assert ModelConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_dict(c.to_dict() | {"colour": "red"})

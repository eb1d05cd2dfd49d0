"""ANN-to-SNN conversion: batch-norm folding, data-based weight normalisation (threshold
balancing), the converted IF network, and the ``convert`` command."""

import json
import math

import pytest
import torch

from spikeattack.cli.main import main
from spikeattack.data import load_dataset
from spikeattack.models import ModelConfig, build_model
from spikeattack.neurons import NeuronProbe
from spikeattack.evaluation import accuracy
from spikeattack.training import load_checkpoint, read_checkpoint
from spikeattack.training.conversion import convert_ann_to_snn, fold_batch_norm, normalize_ann, record_activations


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def calibration(digits):
    x, _ = digits.split("train")
    return x[:512]


def _random_ann(arch, options, *, in_channels=1, size=(8, 8), seed=0):
    """An untrained ANN whose batch-norms have non-trivial statistics and affine parameters."""
    torch.manual_seed(seed)
    ann = build_model(ModelConfig(arch=arch, in_channels=in_channels, input_size=size, num_classes=10,
                                  neuron="relu", arch_options=options))
    ann.train()
    with torch.no_grad():
        for _ in range(3):
            ann(torch.rand(32, in_channels, *size))
        for m in ann.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return ann.eval()


# ---------------------------------------------------------------------- folding
def test_folding_batch_norm_leaves_the_logits_unchanged():
    ann = _random_ann("small_cnn", {"channels": (8, 16), "hidden": 32})
    x = torch.rand(64, 1, 8, 8)
    folded = fold_batch_norm(ann)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), ann(x), atol=1e-5, rtol=0)
    # same parameter set (checkpoint format, twin()), and every BN is now a pure per-channel shift
    assert {k: v.shape for k, v in folded.state_dict().items()} == {k: v.shape for k, v in ann.state_dict().items()}
    bns = [m for m in folded.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 2
    for bn in bns:
        assert torch.all(bn.weight == 1) and torch.all(bn.running_mean == 0)
        assert torch.allclose(bn.running_var + bn.eps, torch.ones_like(bn.running_var))
    # the ANN itself is untouched
    assert not torch.all(next(m for m in ann.modules() if isinstance(m, torch.nn.BatchNorm2d)).weight == 1)


@pytest.mark.parametrize("arch, options, in_channels, size", [
    ("mlp", {"hidden": (32, 16)}, 1, (8, 8)),
    ("vgg9", {"width": 0.1, "batch_norm": True}, 1, (8, 8)),  # a neuron after every pool: no weights to scale
    ("vgg_dvs", {"width": 0.05}, 2, (16, 16)),
    ("liang_gesture", {"width": 0.1, "batch_norm": True}, 1, (8, 8)),
    ("vgg11", {"width": 0.02}, 3, (8, 8)),
])
def test_sequential_architectures_convert_with_unchanged_logits(arch, options, in_channels, size):
    ann = _random_ann(arch, options, in_channels=in_channels, size=size)
    x = torch.rand(48, in_channels, *size)
    normalised, info = normalize_ann(ann, x)
    with torch.no_grad():
        torch.testing.assert_close(normalised(x), ann(x), atol=1e-5, rtol=1e-4)
    layers = len([m for m in ann.modules() if type(m).__name__ == "ReLUNeuron"])
    assert len(info["lambdas"]) == len(info["scaled"]) == layers and all(v > 0 for v in info["lambdas"])
    if arch == "vgg9":  # pool-fed neurons inherit the scale of their input
        for k, scaled in enumerate(info["scaled"]):
            if not scaled:
                assert info["lambdas"][k] == info["lambdas"][k - 1]
        assert not all(info["scaled"])
    snn, _ = convert_ann_to_snn(ann, x, timesteps=4)
    assert sorted(snn.state_dict()) == sorted(ann.state_dict())
    assert snn(x).shape == (48, 10)


# ---------------------------------------------------------------------- normalisation
def test_weight_normalisation_keeps_predictions_and_scales_every_layer_max_to_one(digits_ann, calibration, digits):
    normalised, info = normalize_ann(digits_ann, calibration, method="max")
    x_test, _ = digits.split("test")
    with torch.no_grad():
        before, after = digits_ann(x_test), normalised(x_test)
    assert torch.equal(before.argmax(-1), after.argmax(-1))
    # proportional logits (ReLU is positively homogeneous); the readout undoes the last scale: factor 1
    factor = float((after * before).sum() / (before * before).sum())
    assert factor == pytest.approx(1.0, abs=1e-5)
    torch.testing.assert_close(after, factor * before, atol=1e-4, rtol=1e-5)
    # every ReLU layer's maximum on the calibration set is 1 after normalisation (method max)
    original = record_activations(digits_ann, calibration)
    acts = record_activations(normalised, calibration)
    assert len(acts) == len(info["lambdas"]) == 3 and all(info["scaled"])
    for a, a0, lam in zip(acts, original, info["lambdas"]):
        assert float(a.max()) == pytest.approx(1.0, abs=1e-5)
        assert lam == pytest.approx(float(a0.max()), rel=1e-6)
        torch.testing.assert_close(a, a0 / lam, atol=1e-5, rtol=1e-4)  # a^l / lambda^l exactly


def test_percentile_normalisation_puts_the_percentile_at_one(digits_ann, calibration):
    normalised, info = normalize_ann(digits_ann, calibration, method="percentile", percentile=99.0)
    assert info["method"] == "percentile" and info["percentile"] == 99.0
    lam_max = normalize_ann(digits_ann, calibration, method="max")[1]["lambdas"]
    for a, lam, top in zip(record_activations(normalised, calibration), info["lambdas"], lam_max):
        positive = a[a > 0].double()
        assert lam < top  # a robust scale lies below the maximum
        assert float(a.max()) > 1.0  # so some activations exceed the threshold (the IF neuron clips them)
        share = float((positive <= 1.0 + 1e-6).double().mean())
        assert share == pytest.approx(0.99, abs=0.005)


# ---------------------------------------------------------------------- the converted SNN
def test_converted_accuracy_rises_with_timesteps_and_reaches_the_ann(digits_ann, calibration, digits):
    x, y = digits.split("test")
    ann_acc = accuracy(digits_ann, x, y)
    acc = {}
    for t in (4, 8, 16, 64):
        snn, info = convert_ann_to_snn(digits_ann, calibration, timesteps=t)
        assert snn.config.neuron == "if" and snn.config.decay == 1.0 and snn.config.threshold == 1.0
        assert snn.config.reset == "soft" and snn.config.encoding == "direct" and snn.timesteps == t
        assert snn.config.arch_options == digits_ann.config.arch_options and not snn.training
        assert info["timesteps"] == t and len(info["lambdas"]) == 3
        acc[t] = accuracy(snn, x, y)
    assert acc[4] < acc[16]
    assert acc[8] <= acc[64]
    assert abs(acc[64] - ann_acc) <= 0.05, (acc, ann_acc)


def test_firing_rates_approximate_the_normalised_activations(digits_ann, calibration):
    x = calibration[:200]
    normalised, _ = normalize_ann(digits_ann, calibration)
    target = [a.clamp(0, 1) for a in record_activations(normalised, x)]
    errors = {}
    for reset in ("soft", "hard"):
        snn, _ = convert_ann_to_snn(digits_ann, calibration, timesteps=128, reset=reset)
        probes = []
        for neuron in snn.spiking_neurons():
            neuron.probe = NeuronProbe()
            probes.append(neuron.probe)
        with torch.no_grad():
            snn(x)
        errors[reset] = [(p.rate - a).abs() for p, a in zip(probes, target)]
    first = errors["soft"][0]
    # layer 1 sees a constant current z per step: reset by subtraction fires floor(T z) times, error < 1/T
    assert float(first.max()) <= 1 / 128 + 1e-4
    assert float(first.mean()) < 0.005
    assert all(float(e.mean()) < 0.02 for e in errors["soft"])
    # reset to zero loses the charge above threshold: its rates fall further from the activations
    assert float(errors["hard"][0].mean()) > float(first.mean())


# ---------------------------------------------------------------------- errors
def test_conversion_errors_name_the_argument(digits_snn, calibration):
    ann = _random_ann("small_cnn", {"channels": (4, 8), "hidden": 16})
    cal = calibration[:32]
    with pytest.raises(ValueError, match="^ann:.*relu"):
        convert_ann_to_snn(digits_snn, cal, timesteps=8)
    with pytest.raises(ValueError, match="^ann:"):
        convert_ann_to_snn("model.pt", cal, timesteps=8)
    resnet = build_model(ModelConfig(arch="resnet19", in_channels=1, input_size=(8, 8), num_classes=10,
                                     neuron="relu", arch_options={"width": 0.05}))
    with pytest.raises(ValueError, match="^ann:.*resnet19.*residual"):
        convert_ann_to_snn(resnet, cal, timesteps=8)
    with pytest.raises(ValueError, match="^method:"):
        convert_ann_to_snn(ann, cal, timesteps=8, method="mean")
    for bad in (0, 100.5, -1, math.nan, "99"):
        with pytest.raises(ValueError, match="^percentile:"):
            convert_ann_to_snn(ann, cal, timesteps=8, method="percentile", percentile=bad)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="^timesteps:"):
            convert_ann_to_snn(ann, cal, timesteps=bad)
    with pytest.raises(ValueError, match="^reset:"):
        convert_ann_to_snn(ann, cal, timesteps=8, reset="zero")
    with pytest.raises(ValueError, match="^calibration:"):
        convert_ann_to_snn(ann, cal[:, :, :4], timesteps=8)
    with pytest.raises(ValueError, match="^calibration:"):
        convert_ann_to_snn(ann, cal * 255, timesteps=8)


# ---------------------------------------------------------------------- command line
def test_convert_command_end_to_end(tmp_path, capsys):
    ann_path, snn_path = tmp_path / "ann.pt", tmp_path / "snn.pt"
    assert main(["train", "--dataset", "digits", "--ann", "--epochs", "2", "--width", "0.25", "--lr", "5e-3",
                 "--limit-train", "400", "--out", str(ann_path), "--quiet", "--json"]) == 0
    capsys.readouterr()
    assert main(["convert", str(ann_path), "--timesteps", "16", "--method", "percentile", "--percentile", "99.5",
                 "--calibration", "128", "--limit", "100", "--out", str(snn_path), "--json", "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["checkpoint"] == str(snn_path) and result["n"] == 100 and result["timesteps"] == 16
    assert result["method"] == "percentile" and result["percentile"] == 99.5 and len(result["lambdas"]) == 3
    assert 0.0 <= result["clean_accuracy"] <= 1.0 and 0.0 <= result["ann_clean_accuracy"] <= 1.0
    assert result["ann_checkpoint"] == str(ann_path)
    snn, meta = load_checkpoint(snn_path)
    assert snn.config.neuron == "if" and snn.timesteps == 16 and snn.config.reset == "soft"
    assert meta["source_ann"] == str(ann_path)
    assert result["lambdas"] == pytest.approx(meta["conversion"]["lambdas"], rel=1e-5)  # JSON: 6 significant digits
    assert meta["conversion"]["method"] == "percentile" and meta["dataset"] == "digits"
    assert read_checkpoint(snn_path)["state_dict"].keys() == read_checkpoint(ann_path)["state_dict"].keys()
    # the stored SNN reproduces the accuracy that was printed
    x, y = load_dataset("digits").split("test")
    assert accuracy(snn, x[:100], y[:100]) == pytest.approx(result["clean_accuracy"])
    # a spiking checkpoint is refused, naming the argument
    assert main(["convert", str(snn_path), "--out", str(tmp_path / "x.pt"), "--quiet"]) == 2
    assert "checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--help"])
    assert exit_info.value.code == 0
    assert any(line.startswith("Example") for line in capsys.readouterr().out.splitlines())

import pytest
import torch

from spikeattack.data import load_dataset
from spikeattack.models import ModelConfig, build_model
from spikeattack.evaluation import accuracy
from spikeattack.training import TrainConfig, load_checkpoint, read_checkpoint, save_checkpoint, train_model


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def small_model(**changes):
    base = dict(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10, timesteps=4,
                arch_options={"channels": (8, 16), "hidden": 32})
    torch.manual_seed(0)
    return build_model(ModelConfig(**(base | changes)))


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_bptt_training_learns_digits(digits, loss):
    data = digits
    model = small_model()
    before = accuracy(model, data.test_x, data.test_y)
    history = train_model(model, data, TrainConfig(epochs=4, loss=loss, lr=5e-3, seed=0), progress=False)
    assert len(history.epochs) == 4
    assert history.final_test_accuracy > 0.8 > before


def test_training_is_seeded(digits):
    data = digits.subset(n_train=200, n_test=50, seed=0)
    results = []
    for _ in range(2):
        model = small_model(encoding="poisson")
        train_model(model, data, TrainConfig(epochs=1, seed=5), progress=False)
        results.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(results[0], results[1])


def test_ann_twin_trains_with_the_same_loop(digits):
    model = small_model(neuron="relu")
    history = train_model(model, digits, TrainConfig(epochs=3, lr=5e-3), progress=False)
    assert history.final_test_accuracy > 0.85


def test_checkpoint_round_trip(tmp_path, digits):
    model = small_model(mean=(0.3,), std=(0.4,)).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(model, path, {"dataset": "digits", "note": [1, 2]})
    loaded, meta = load_checkpoint(path)
    assert meta == {"dataset": "digits", "note": [1, 2]}
    assert loaded.config == model.config
    x = digits.split("test")[0][:8]
    torch.testing.assert_close(loaded(x), model(x))


def test_checkpoint_errors(tmp_path):
    model = small_model()
    path = tmp_path / "m.pt"
    save_checkpoint(model, path)
    with pytest.raises(ValueError, match="arch"):
        load_checkpoint(path, expect=ModelConfig(arch="mlp", in_channels=1, input_size=(8, 8), num_classes=10))
    corrupt = tmp_path / "bad.pt"
    corrupt.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="checkpoint"):
        load_checkpoint(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="not a spikeattack checkpoint"):
        read_checkpoint(other)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_of_another_architecture_are_rejected(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(small_model(), path)
    payload = torch.load(path, weights_only=True)
    payload["config"]["arch_options"] = {"channels": [8, 32], "hidden": 32}
    torch.save(payload, path)
    with pytest.raises(ValueError, match="do not fit"):
        load_checkpoint(path)


@pytest.mark.parametrize("changes, name", [({"epochs": 0}, "epochs"), ({"lr": 0.0}, "lr"), ({"loss": "hinge"}, "loss"),
                                           ({"optimizer": "lbfgs"}, "optimizer"), ({"batch_size": 0}, "batch_size")])
def test_bad_train_config(changes, name):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**changes)


def test_data_mismatch(digits):
    model = build_model(ModelConfig(arch="mlp", in_channels=1, input_size=(4, 4), num_classes=10))
    with pytest.raises(ValueError, match="data"):
        train_model(model, digits, TrainConfig(epochs=1), progress=False)

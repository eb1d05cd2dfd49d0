import os

import torch

# The suite runs many tiny ops; one intra-op thread avoids OpenMP oversubscription on the
# 2-core CI machine (measured: ~0.03 s vs ~2 s per tiny forward+backward under load).
torch.set_num_threads(1)
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest  # noqa: E402


def _train_digits(neuron: str, seed: int):
    from spikeattack.data import load_dataset
    from spikeattack.models import ModelConfig, build_model
    from spikeattack.training import TrainConfig, train_model

    data = load_dataset("digits")
    torch.manual_seed(seed)
    model = build_model(ModelConfig(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10,
                                    neuron=neuron, decay=0.5, timesteps=4,
                                    arch_options={"channels": (8, 16), "hidden": 32}))
    train_model(model, data, TrainConfig(epochs=5, lr=5e-3, seed=seed), progress=False)
    return model.eval()


@pytest.fixture(scope="session")
def digits_snn():
    """A small LIF CNN (T=4) BPTT-trained on digits, shared by the attack/evaluation tests."""
    return _train_digits("lif", 0)


@pytest.fixture(scope="session")
def digits_snn_source():
    """The same configuration with another seed: the black-box source."""
    return _train_digits("lif", 1)


@pytest.fixture(scope="session")
def digits_ann():
    return _train_digits("relu", 0)


@pytest.fixture(scope="session")
def digits_test():
    from spikeattack.data import load_dataset

    x, y = load_dataset("digits").split("test")
    return x[:150], y[:150]


@pytest.fixture(scope="session")
def cli_checkpoint(tmp_path_factory):
    """A small digits SNN written by ``spikeattack train`` (read-only for the CLI tests)."""
    from spikeattack.cli.main import main

    path = tmp_path_factory.mktemp("cli") / "snn.pt"
    assert main(["train", "--dataset", "digits", "--timesteps", "4", "--epochs", "3", "--width", "0.5",
                 "--lr", "5e-3", "--out", str(path), "--quiet", "--json"]) == 0
    return path

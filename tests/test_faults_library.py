"""Issue 18 at the library level: the one place each kind of bad input or fault is handled.

- the output-path policy and atomic writes (``spikeattack.io``);
- the weights validator every loader uses (``spikeattack.models.state``) and the checkpoint checksum;
- the memory estimate on the meta device for every encoder (``spikeattack.models.footprint``);
- NaN/inf outputs and gradients as errors (``check_logits``, ``GradientAttack.check_gradient``);
- seeds, devices and budgets (``spikeattack._checks``, ``resolve_device``, ``check_budget``);
- cell ids that carry the experiment's name; experiment models checked before a folder exists;
- a Ray address that does not answer.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time

import pytest
import torch
from torch import nn

import spikeattack.io as sio
from spikeattack import evaluate, make_attack
from spikeattack.bench.cells import canonical, digest
from spikeattack.bench.experiment import ExperimentError, parse_experiment
from spikeattack.bench.runner import Runner
from spikeattack.data import load_dataset
from spikeattack.device import resolve_device
from spikeattack.encoding import make_encoder
from spikeattack.evaluation import accuracy
from spikeattack.evaluation.analyses import spike_shuffle_accuracy
from spikeattack.interop.loading import load_strict
from spikeattack.models import ModelConfig, build_model
from spikeattack.models.footprint import check_fits, footprint
from spikeattack.models.state import check_state_dict
from spikeattack.training import TrainConfig, load_checkpoint, save_checkpoint, train_model


def tiny(encoding: str = "direct", **changes) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="small_cnn", in_channels=1, input_size=(8, 8), num_classes=10, timesteps=2,
                                   encoding=encoding, arch_options={"channels": (2, 4), "hidden": 8}, **changes))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def batch(digits):
    x, y = digits.split("test")
    return x[:8], y[:8]


# ---------------------------------------------------------------------------------------------- output paths
def test_no_writer_replaces_a_fifo_a_device_or_writes_to_an_empty_path(tmp_path):
    fifo, null = tmp_path / "fifo", tmp_path / "null"
    os.mkfifo(fifo)
    try:  # a device node like /dev/null, in the test folder: a regression must never replace the system's
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        os.mkfifo(null)
    for path in (fifo, null):
        with pytest.raises(ValueError, match=r"^--out: .*(FIFO|character device)"):
            sio.check_output_file(path, "--out")
        with pytest.raises(ValueError, match="regular files"):
            sio.write_bytes(path, b"x")
        with pytest.raises(ValueError, match=r"^--out: .*expected a folder"):
            sio.check_output_dir(path, "--out")
    assert fifo.is_fifo() and (null.is_char_device() or null.is_fifo())
    for check in (sio.check_output_file, sio.check_output_dir):
        with pytest.raises(ValueError, match=r"^--out: expected a (file|folder) path, got ''"):
            check("", "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "null"]


def test_a_symlink_is_written_through(tmp_path):
    (tmp_path / "target.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to("target.txt")
    sio.write_text(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "target.txt").read_text() == "new"


def test_temporaries_of_killed_writes_are_removed_by_the_next_write(tmp_path):
    old = time.time() - 2 * sio.STALE_SECONDS
    stale, fresh, held = (tmp_path / f".model.pt.{name}.tmp" for name in ("stale", "fresh", "held"))
    for path in (stale, fresh, held):
        path.write_bytes(b"half a checkpoint")
    os.utime(stale, (old, old))
    os.utime(held, (old, old))
    with open(held, "rb") as writer:  # a live (slow) writer holds its own temporary
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)
        sio.write_bytes(tmp_path / "model.pt", b"whole")
    assert not stale.exists() and fresh.exists() and held.exists()
    assert (tmp_path / "model.pt").read_bytes() == b"whole"


def test_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    real = sio._temporary

    def full(folder, name, mode, encoding):
        handle = real(folder, name, mode, encoding)

        def write(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        handle.write = write
        return handle

    monkeypatch.setattr(sio, "_temporary", full)
    with pytest.raises(OSError) as info:
        save_checkpoint(tiny(), target)
    assert info.value.filename == str(target) and info.value.errno == errno.ENOSPC
    assert "nothing was written" in info.value.strerror
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


# ---------------------------------------------------------------------------------------------- weights
OWN = {"w": torch.zeros(2, 3), "bn.num_batches_tracked": torch.tensor(0), "mask": torch.ones(2, dtype=torch.bool)}


@pytest.mark.parametrize("state, match", [
    ([1, 2], r"the weights are a list, expected a state_dict"),
    (OWN | {"w": "weights"}, r"not tensors: \['w=str'\]"),
    (OWN | {"w": 1.5}, r"not tensors: \['w=float'\]"),
    ({k: v for k, v in OWN.items() if k != "w"}, r"missing \['w'\]"),
    (OWN | {"extra": torch.zeros(1)}, r"unexpected \['extra'\]"),
    (OWN | {"w": torch.zeros(3, 2)}, r"shape mismatch \['w \(3, 2\) \(expected \(2, 3\)\)'\]"),
    (OWN | {"w": torch.zeros(2, 3, dtype=torch.long)}, "w is torch.int64"),
    (OWN | {"w": torch.zeros(2, 3, dtype=torch.bool)}, "w is torch.bool"),
    (OWN | {"bn.num_batches_tracked": torch.tensor(0.0)}, "num_batches_tracked is torch.float32"),
    (OWN | {"w": torch.tensor([[0.0, float("nan"), 0.0], [0.0] * 3])}, r"NaN or infinite.*w \(1 of 6\)"),
    (OWN | {"w": torch.full((2, 3), float("inf"))}, r"NaN or infinite.*w \(6 of 6\)"),
])
def test_one_weights_validator(state, match):
    with pytest.raises(ValueError, match=rf"^here: .*({match})"):
        check_state_dict(state, OWN, "here")
    check_state_dict(dict(OWN), OWN, "here")  # float64 in a float32 net is a cast, not a kind change
    check_state_dict(OWN | {"w": torch.zeros(2, 3, dtype=torch.float64)}, OWN, "here")


def test_user_weights_pass_the_same_validator():
    net = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"^weights: 'w.pth': NaN or infinite"):
        load_strict(net, {"weight": torch.full((2, 3), float("nan")), "bias": torch.zeros(2)}, "'w.pth'")
    with pytest.raises(ValueError, match=r"^weights: 'w.pth': weights of the wrong type"):
        load_strict(net, {"weight": torch.zeros(2, 3, dtype=torch.long), "bias": torch.zeros(2)}, "'w.pth'")


def test_a_checkpoint_damaged_after_writing_is_refused_by_its_checksum(tmp_path):
    save_checkpoint(tiny(), tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    load_checkpoint(tmp_path / "m.pt")
    key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    raw = bytearray((tmp_path / "m.pt").read_bytes())
    raw[bytes(raw).index(payload["state_dict"][key].numpy().tobytes()) + 2] ^= 0x01  # one flipped bit
    (tmp_path / "flipped.pt").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"^checkpoint '.*flipped.pt': .*checksum"):
        load_checkpoint(tmp_path / "flipped.pt")
    torch.save(payload | {"config": payload["config"] | {"threshold": 0.5}}, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match="checksum"):
        load_checkpoint(tmp_path / "edited.pt")
    del payload["digest"]  # a file written before the checksum existed still loads
    torch.save(payload, tmp_path / "older.pt")
    load_checkpoint(tmp_path / "older.pt")


# ---------------------------------------------------------------------------------------------- memory and configs
@pytest.mark.parametrize("encoding", ["direct", "poisson", "spikes"])
def test_the_footprint_works_for_every_encoder(encoding):
    config = tiny(encoding).config
    size = footprint(config)
    assert size.parameters == sum(p.numel() for p in build_model(config).parameters())
    assert size.widest > 0 and size.activations >= size.widest


def test_the_footprint_runs_batch_norm_in_eval_mode_and_names_bad_options():
    config = ModelConfig(arch="vgg11", in_channels=1, input_size=(8, 8), num_classes=10, timesteps=1,
                         arch_options={"width": 0.125})  # 8x8 -> 1x1: batch-norm of one value per channel
    assert footprint(config).parameters > 0
    with pytest.raises(ValueError, match=r"^arch_options: small_cnn cannot be built"):
        footprint(tiny().config.replace(arch_options={"channels": (2, 4), "hidden": -1}))


def test_check_fits_names_the_flags_given_else_the_origin():
    config = tiny().config.replace(timesteps=10 ** 9)
    with pytest.raises(ValueError, match=r"^--timesteps: "):
        check_fits(config, "cpu", batch=1, gradient=False, flags={"--timesteps": True, "--batch-size": False})
    with pytest.raises(ValueError, match=r"^checkpoint 'm.pt': its model \(small_cnn, timesteps=1000000000.*"
                                         r"reduce --batch-size$"):
        check_fits(config, "cpu", batch=1, gradient=False, flags={"--batch-size": False}, origin="checkpoint 'm.pt'")
    check_fits(tiny().config, "cpu", batch=8, gradient=True)


@pytest.mark.parametrize("changes, name", [
    ({"mean": ("abc",)}, "mean"), ({"mean": (float("nan"),)}, "mean"), ({"std": (float("nan"),)}, "std"),
    ({"mean": "0.5"}, "mean"), ({"encoder_seed": -1}, "encoder_seed"), ({"encoder_seed": 1.5}, "encoder_seed"),
    ({"encoder_seed": "0"}, "encoder_seed"), ({"arch": 5}, "arch"), ({"arch_options": [1]}, "arch_options"),
])
def test_model_config_names_the_bad_field(changes, name):
    with pytest.raises(ValueError, match=rf"^{name}: "):
        ModelConfig(**({"arch": "small_cnn", "in_channels": 1, "input_size": (8, 8), "num_classes": 10} | changes))


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_every_seed_is_an_integer_in_range(seed, digits, batch):
    model = tiny()
    calls = [lambda: TrainConfig(seed=seed), lambda: make_encoder("poisson", seed),
             lambda: digits.subset(n_train=10, seed=seed), lambda: digits.validation_split(0.1, seed=seed),
             lambda: evaluate(model, batch, lambda m: make_attack("fgsm", m, eps=0.1), seed=seed),
             lambda: spike_shuffle_accuracy(model, batch[0].float() / 255, batch[1], seed=seed)]
    for call in calls:
        with pytest.raises(ValueError, match=r"^seed: expected an integer"):
            call()


def test_a_cpu_has_one_device():
    assert resolve_device("cpu:0") == torch.device("cpu:0")
    for name in ("cpu:1", "cpu:99"):
        with pytest.raises(ValueError, match=rf"^device: '{name}' requested, but there is one cpu device"):
            resolve_device(name)


def test_budgets_beyond_the_input_box_are_refused_not_overflowed():
    model = tiny()
    for attack, params, name in (("pgd", {"eps": 1e308}, "eps"), ("fgsm", {"eps": 1.5}, "eps"),
                                 ("pgd", {"alpha": 1e308}, "alpha"), ("apgd", {"eps": 9.0, "norm": "l2"}, "eps"),
                                 ("square", {"eps": 1e308}, "eps"), ("noise", {"eps": 2.0}, "eps")):
        with pytest.raises(ValueError, match=rf"^{name}: expected a value in \[0, "):
            make_attack(attack, model, **params)
    make_attack("pgd", model, eps=8.0, norm="l2")  # sqrt(1 * 8 * 8): the whole box, still allowed


# ---------------------------------------------------------------------------------------------- NaN outputs and gradients
def nan_output_model():
    model = tiny()
    with torch.no_grad():
        model.body[-1].module.bias[3] = float("nan")
    return model.eval()


def test_nan_logits_are_an_error_never_a_robust_input(batch):
    x, y = batch
    model = nan_output_model()
    with pytest.raises(ValueError, match=r"^target: its output \(logits\) holds NaN or infinite values for 8 of 8"):
        evaluate(model, (x, y), lambda m: make_attack("fgsm", m, eps=0.1))
    with pytest.raises(ValueError, match=r"^model: its output"):
        accuracy(model, x, y)
    with pytest.raises(ValueError, match=r"^model: its output"):  # the crafting model, as a black-box source
        evaluate(tiny(), (x, y), lambda m: make_attack("pgd", m, eps=0.1, steps=2), nan_output_model())
    with pytest.raises(ValueError, match=r"^model: its output"):
        make_attack("square", model, eps=0.1, steps=2)(x.float() / 255, y)


def test_nan_gradients_are_an_error_naming_the_estimator(batch):
    x, y = batch
    model = tiny().eval()
    first = model.body[0]
    first.register_full_backward_hook(lambda m, grad_in, grad_out: tuple(
        None if g is None else torch.full_like(g, float("nan")) for g in grad_in))
    for grad in ("stbp", "rga"):
        attack = make_attack("pgd", model, eps=0.1, steps=2, grad=grad)
        with pytest.raises(ValueError, match=rf"^model: the {grad} input gradient of the crafting model holds NaN"):
            attack(x.float() / 255, y)


def test_a_diverging_training_is_an_error_not_a_saved_model(digits):
    model = tiny(neuron="relu")
    small = digits.subset(n_train=256, n_test=8, seed=0)
    with pytest.raises(ValueError, match=r"^lr: the training diverged in epoch 1"):
        train_model(model, small, TrainConfig(epochs=1, lr=1e30, optimizer="sgd", schedule="none", batch_size=32),
                    progress=False, evaluate_each_epoch=False)


# ---------------------------------------------------------------------------------------------- experiments
EXPERIMENT = """
name = "{name}"
[data]
dataset = "digits"
limit = 8
[models.snn]
arch = "small_cnn"
timesteps = {timesteps}
arch_options = {{ channels = [2, 4], hidden = 8 }}
[[grid]]
targets = ["snn"]
attacks = ["fgsm"]
eps = [0.1]
"""


def test_cell_ids_carry_the_experiment_name_and_the_old_id_is_known():
    alpha = parse_experiment(EXPERIMENT.format(name="alpha", timesteps=2))
    beta = parse_experiment(EXPERIMENT.format(name="beta", timesteps=2))
    (cell,) = alpha.cells
    assert cell.id(alpha) != cell.id(beta) and cell.legacy_id(alpha) == cell.legacy_id(beta)
    old = {k: v for k, v in cell.config(alpha).items() if k != "experiment"}
    assert cell.legacy_id(alpha) == digest(old, 24) and canonical(old) != canonical(cell.config(alpha))


def test_a_convert_from_cycle_is_refused_at_parse_time():
    text = EXPERIMENT.format(name="c", timesteps=2) + ('[models.a]\nneuron = "relu"\nconvert_from = "b"\n'
                                                        '[models.b]\nneuron = "relu"\nconvert_from = "a"\n')
    with pytest.raises(ExperimentError, match=r"key 'models.a.convert_from': only a spiking model is converted"):
        parse_experiment(text)


def test_the_runner_checks_every_model_before_it_makes_the_run_folder(tmp_path):
    exp = parse_experiment(EXPERIMENT.format(name="huge", timesteps=10 ** 9))
    with pytest.raises(ValueError, match=r"^models.snn: its model \(small_cnn, timesteps=1000000000, "):
        Runner(exp, tmp_path / "run", device="cpu", progress=False)
    assert not (tmp_path / "run").exists()


def test_ray_arguments_are_checked_before_the_run_folder_and_a_dead_address_in_seconds(tmp_path):
    from spikeattack.bench.distributed import RayRunner, check_address

    exp = parse_experiment(EXPERIMENT.format(name="ray", timesteps=2))
    with pytest.raises(ValueError, match=r"^chunk: "):
        RayRunner(exp, tmp_path / "run", chunk=0)
    for address in ("", "nohost", "host:port", "host:70000"):
        with pytest.raises(ValueError, match=r"^address: expected 'auto' or host:port"):
            RayRunner(exp, tmp_path / "run", address=address)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"^address: no Ray cluster answers at '127.0.0.1:1' \(connection refused"):
        RayRunner(exp, tmp_path / "run", address="127.0.0.1:1")
    with pytest.raises(ValueError, match=r"no answer within 0.2 s|unreachable|refused"):
        check_address("192.0.2.1:6379", timeout=0.2)  # TEST-NET-1: never answers
    assert time.perf_counter() - start < 30
    assert not (tmp_path / "run").exists()

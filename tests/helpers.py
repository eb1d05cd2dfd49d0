"""Helpers shared by several test modules."""

import hashlib
import json
import stat
from pathlib import Path

import torch

from spikeattack.cli.main import main
from spikeattack.models import ModelConfig, build_model


def run_json(capsys, argv):
    """``main(argv + --json --quiet)`` must exit 0 and print exactly one JSON object."""
    assert main(argv + ["--json", "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


def snapshot(root: Path) -> dict:
    """Every file and folder under ``root``: bytes digest, mtime and mode for regular files (a
    FIFO or device is recorded by its mode, never read)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode):
            out[rel] = "dir"
        elif stat.S_ISREG(st.st_mode):
            out[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, stat.S_IMODE(st.st_mode))
        else:
            out[rel] = ("special", stat.S_IFMT(st.st_mode), st.st_mtime_ns)
    return out


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``main(argv)`` in-process: exit code (argparse's own exits too), stdout, stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, command: str, named: str) -> str:
    """Exit code 2, no traceback, exactly one stderr line ``spikeattack COMMAND: error: ...`` naming ``named``."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"spikeattack {command}: error: "), err
    assert named in lines[0], err
    return lines[0]


def firing_small_model(encoding="direct", seed=0, timesteps=4):
    """A tiny float64 LIF CNN (6x6 inputs, 4 classes) whose layers all fire: batch-norm statistics
    of a real batch, then biases and output weights shifted up."""
    cfg = ModelConfig(arch="small_cnn", in_channels=1, input_size=(6, 6), num_classes=4, decay=0.5,
                      threshold=1.0, timesteps=timesteps, encoding=encoding,
                      arch_options={"channels": (3, 4), "hidden": 8})
    torch.manual_seed(seed)
    model = build_model(cfg).double().train()
    with torch.no_grad():
        model(torch.rand(16, 1, 6, 6, dtype=torch.float64))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.bias.fill_(0.6)
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(4.0)
                m.bias.add_(0.5)
    return model.eval()


SHARING_GRID = """
name = "sharing"
seed = 0
[data]
dataset = "digits"
limit = 24
batch_size = {batch_size}
[train]
epochs = 1
lr = 5e-3
[models.snn]
arch = "small_cnn"
timesteps = 3
encoding = "{encoding}"
arch_options = {{ channels = [4, 8], hidden = 16 }}
[[grid]]
targets = ["snn"]
attacks = {attacks}
estimators = {estimators}
eps = {eps}
params = {{ steps = 2 }}
"""


def sharing_grid(encoding, attacks, estimators, eps, batch_size=128):
    """A tiny digits grid (``small_cnn``, T = 3, one epoch, 24 inputs) for the tests of shared
    forwards; the model's cache entry is the same for every grid of one encoding."""
    return SHARING_GRID.format(encoding=encoding, attacks=json.dumps(list(attacks)),
                               estimators=json.dumps(list(estimators)), eps=json.dumps(list(eps)),
                               batch_size=batch_size)

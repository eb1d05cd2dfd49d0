"""Shared pieces of the command line: data options, devices, JSON output."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from typing import Any, Iterator

import torch


def add_data_args(parser: argparse.ArgumentParser, *, default: str | None = "digits") -> None:
    from ..data import DATASETS

    parser.add_argument("--dataset", default=default, metavar="NAME",
                        help=f"dataset name: {', '.join(DATASETS)} (default: {default or 'from the checkpoint'})")
    parser.add_argument("--data-root", default=None, metavar="DIR",
                        help="folder holding the dataset files (default: $SPIKEATTACK_DATA; Fashion-MNIST also "
                             "/usr/share/datasets/fashion-mnist)")
    parser.add_argument("--resize", type=int, default=None, metavar="PX",
                        help="downsample images to PX x PX by area averaging (default: keep; from the checkpoint)")
    parser.add_argument("--frames", default=None, choices=("binary", "count"),
                        help="event data: binary spike frames or event-count frames (default: binary)")
    parser.add_argument("--time-bins", type=int, default=None, metavar="T",
                        help="event data: number of frames per sample (default: the dataset's; from the checkpoint)")
    if default is None:  # commands that read a checkpoint: its dataset is the default
        parser.add_argument("--other-dataset", action="store_true",
                            help="allow a --dataset other than the one the checkpoint was trained on (its input "
                                 "shape and classes must still match); without it that is refused")


def data_kwargs(args: argparse.Namespace, meta: dict | None = None, same_dataset: bool = True) -> dict:
    """``resize``/``frames``/``time_bins`` for ``load_dataset``: the flags, else the checkpoint's."""
    stored = (meta or {}).get("data_options", {}) if same_dataset else {}
    out = {}
    for key in ("resize", "frames", "time_bins"):
        value = getattr(args, key, None)
        if value is None:
            value = stored.get(key, (meta or {}).get(key) if same_dataset and key == "resize" else None)
        if value is not None:
            out[key] = value
    return out


def add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (progress on stderr)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch CPU threads of this process (default: torch's, i.e. $OMP_NUM_THREADS or "
                             "every core; 1 with --shard, so shard processes do not oversubscribe the CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


SEED_LIMIT = 2 ** 63  # torch and numpy seeds are 64-bit


def budget(text: str) -> float | str:
    """A budget on the command line: a number (``0.1``), a fraction (``8/255``) or, for the L0
    budgets of event inputs, a percentage of the elements (``1%``, kept as text). Which kind
    the command takes is checked once the threat model is known (:func:`l0_budget`,
    :func:`image_budget`)."""
    if text.strip().endswith("%"):
        return text.strip()  # checked with the flag's name by l0_budget, once the threat model is known
    head, sep, tail = text.partition("/")
    try:
        value = float(head) / float(tail) if sep else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number, a fraction such as 8/255 or a percentage such as 1%, "
                                         f"got {text!r}") from None
    return value  # finite (check_common_args) and in range (the library, naming the argument)


def l0_budget(value: float | str | None, flag: str = "--eps") -> int | str | None:
    """An L0 budget from :func:`budget`: a whole count of elements (``64``) or a percentage
    (``"1%"``); ``ValueError`` naming ``flag`` otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        from ..attacks.threat import Budget

        try:
            return Budget.parse(value, flag).describe()
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    if math.isfinite(value) and value >= 0 and float(value).is_integer():
        return int(value)
    raise ValueError(f"{flag}: an L0 budget is a count of elements (64) or a percentage of them (1%), got {value:g}")


def image_budget(value: float | str | None, flag: str = "--eps") -> float | None:
    """A pixel budget from :func:`budget`; a percentage (an L0 budget) is refused naming ``flag``."""
    if isinstance(value, str):
        raise ValueError(f"{flag}: {value} is an L0 budget (a share of the elements of event frames); a pixel budget "
                         "is a number or a fraction such as 8/255")
    return value


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_common_args(args: argparse.Namespace) -> None:
    """Range checks of the flags several commands share, before any work (``ValueError``
    naming the flag): counts >= 1, seeds within 64 bits, a device that exists, a finite width."""
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"--seed: expected an integer in [0, 2**63), got {seed}")
    for dest in ("batch_size", "threads", "limit", "limit_train", "epochs", "calibration", "timesteps",
                 "time_extend", "eot", "steps", "restarts", "time_bins", "resize", "adv_steps", "chunk", "ray_cpus"):
        value = getattr(args, dest, None)
        if value is not None and value < 1:
            raise ValueError(f"{_flag(dest)}: expected an integer >= 1, got {value}")
    for dest in ("eps", "adv_eps"):  # a NaN budget would compare false everywhere: a filter that matches all
        value = getattr(args, dest, None)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{_flag(dest)}: expected a finite number, got {value}")
    width = getattr(args, "width", None)
    if width is not None and not (math.isfinite(width) and width > 0):
        raise ValueError(f"--width: expected a finite number > 0, got {width}")
    if getattr(args, "device", None) is not None:
        pick_device(args.device)


def apply_threads(args: argparse.Namespace) -> None:
    """``--threads N``, or one thread per process when the run is sharded."""
    threads = getattr(args, "threads", None)
    shard = getattr(args, "shard", (0, 1))
    if threads is None and shard[1] > 1:
        threads = 1
    if threads is not None:
        torch.set_num_threads(threads)


def pick_device(name: str | None) -> torch.device:
    """The torch device ``--device`` names; ``ValueError`` when it does not exist on this machine
    (the rules live in :func:`spikeattack.device.resolve_device`, shared with the library)."""
    from ..device import resolve_device

    try:
        return resolve_device(name)
    except ValueError as exc:
        raise ValueError(f"--{exc}") from None


def check_memory(config, device: torch.device, *, batch: int, timesteps: int | None = None, gradient: bool,
                 flags: dict[str, bool], origin: str | None = None) -> None:
    """Refuse, before allocating anything, a run whose lower-bound memory exceeds what ``device``
    has free (:func:`spikeattack.models.footprint.check_fits`). ``flags`` maps each size flag
    (``--width``, ``--timesteps``, ``--batch-size``, ``--time-extend``) to whether the user set
    it; the message names those set, else ``origin`` (the checkpoint the config came from)."""
    from ..models import ARCHS
    from ..models.footprint import check_fits

    if config.arch not in ARCHS:  # a user's model (--factory): built already, its size is not ours to estimate
        return
    check_fits(config, device, batch=batch, timesteps=timesteps, gradient=gradient, flags=flags, origin=origin)


def error_line(exc: BaseException) -> str:
    """The one-line message of an expected error."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}"  # e.g. "x.pt: No space left on device; nothing was written"
    else:
        message = str(exc)
    message = " ".join(message.split()) or type(exc).__name__
    if isinstance(exc, torch.OutOfMemoryError):
        message = f"--batch-size: out of memory ({message}); reduce --batch-size or --timesteps"
    return message


@contextlib.contextmanager
def naming(names: dict[str, str]) -> Iterator[None]:
    """Inside the block, a ``ValueError`` about a library argument in ``names`` (``model``,
    ``target``) names what the user gave instead (``checkpoint 'm.pt'``, ``--source 'x.pt'``)."""
    try:
        yield
    except ValueError as exc:
        name, sep, rest = str(exc).partition(":")
        which = names.get(name) if sep else None
        if which is None:
            raise
        raise ValueError(f"{which}:{rest}") from exc


def emit(args: argparse.Namespace, kind: str, result: dict[str, Any], text: str) -> None:
    """With ``--json``, ``result`` as the versioned object of ``kind`` on stdout (one line;
    :func:`spikeattack.cli.schemas.envelope`: schema name, version, rounded floats, norms spelled
    ``Linf``/``L2``/``L0``); the human summary ``text`` otherwise."""
    if args.json:
        from .schemas import envelope

        json.dump(envelope(kind, result), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(text)


def info(args: argparse.Namespace, message: str) -> None:
    """Progress/info lines go to stderr so stdout stays machine-readable."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def add_factory_args(parser: argparse.ArgumentParser) -> None:
    """``--factory`` and the options of a user model (``spikeattack.interop``)."""
    from ..interop import READOUTS, TIMES

    g = parser.add_argument_group("user model (SpikingJelly, snnTorch, any PyTorch SNN)")
    g.add_argument("--factory", default=None, metavar="FILE.py:FUNCTION",
                   help="build the model with this function of your own code (or 'package.module:function') and "
                        "load the weights file given as the checkpoint into it (weights_only). This RUNS that code: "
                        "use only code you trust. Needs --dataset (input shape and classes) and the time steps")
    if not any("--timesteps" in a.option_strings for a in parser._actions):
        g.add_argument("--timesteps", "-T", type=int, default=None,
                       help="with --factory or --source-factory: the user model's time steps")
    g.add_argument("--time", default=None, choices=TIMES,
                   help="with --factory: who runs the time loop (default: decided by running the network on a probe "
                        "batch; given, it is checked there)")
    g.add_argument("--readout", default=None, choices=READOUTS, help="with --factory: how the output becomes logits "
                   "(default: decided on the probe batch, like --time)")
    g.add_argument("--encoding", default=None, help="with --factory: input encoding (default: direct; spikes for "
                   "event data)")

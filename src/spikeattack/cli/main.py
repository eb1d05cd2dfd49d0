"""``spikeattack`` console entry point: one sub-command per job."""

from __future__ import annotations

import argparse
import sqlite3
import sys

import torch

from .. import __version__
from .common import apply_threads, check_common_args


def build_parser() -> argparse.ArgumentParser:
    from . import attack, bench, convert, demo, evaluate, report, reproduce, train

    parser = argparse.ArgumentParser(
        prog="spikeattack",
        description="How robust is your spiking neural network? Train SNNs, attack them with every gradient "
                    "estimator (STBP, BPTR, RGA, HART, CBA) and every classic attack, and report the numbers.",
    )
    parser.add_argument("--version", action="version", version=f"spikeattack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (train, convert, evaluate, attack, bench, reproduce, report, demo):
        module.register(sub)
    return parser


# What a user can cause: bad values and files (ValueError: ExperimentError, StoreError, ...),
# files that cannot be read or written (OSError), a store another program locks (sqlite3),
# a run larger than the device (out of memory). Anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError, sqlite3.Error, torch.OutOfMemoryError)


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; every expected error is one line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        check_common_args(args)
        apply_threads(args)
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, torch.OutOfMemoryError):
            message = f"--batch-size: out of memory ({message}); reduce --batch-size or --timesteps"
        print(f"spikeattack {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``spikeattack`` console entry point: one sub-command per job, one error contract for all.

Every expected failure is one line on stderr, ``spikeattack <command>: error: <what>: ...``,
and exit code 2 (see :data:`USER_ERRORS`); ``--traceback`` (or ``SPIKEATTACK_TRACEBACK=1``)
prints the whole chained trace instead, for a bug report. Ctrl-C ends the command with one
line and exit code 130 (finished cells are in the store, no file is half written); a reader
that stops reading (``spikeattack results RUN | head``) ends it quietly with exit code 141,
as a killed ``cat`` would.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import traceback

import torch

from .. import __version__
from .common import apply_threads, check_common_args, error_line

#: the environment variable that turns on ``--traceback`` for every command
TRACEBACK_ENV = "SPIKEATTACK_TRACEBACK"
#: exit codes: 2 for every expected error, 130 for Ctrl-C (128 + SIGINT), 141 for a closed pipe (128 + SIGPIPE)
EXIT_ERROR, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 130, 141


def build_parser() -> argparse.ArgumentParser:
    from . import attack, bench, convert, demo, evaluate, report, reproduce, train

    parser = argparse.ArgumentParser(
        prog="spikeattack",
        description="How robust is your spiking neural network? Train SNNs, attack them with every gradient "
                    "estimator (STBP, BPTR, RGA, HART, CBA) and every classic attack, and report the numbers.",
    )
    parser.add_argument("--version", action="version", version=f"spikeattack {__version__}")
    add_traceback_arg(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (train, convert, evaluate, attack, bench, reproduce, report, demo):
        module.register(sub)
    for command in set(sub.choices.values()):
        add_traceback_arg(command, default=argparse.SUPPRESS)  # given after the command, it wins
    return parser


def add_traceback_arg(parser: argparse.ArgumentParser, default=False) -> None:
    parser.add_argument("--traceback", action="store_true", default=default,
                        help=f"on an error, print the full (chained) traceback for a bug report instead of one line "
                             f"(also: {TRACEBACK_ENV}=1)")


# What a user can cause: bad values and files (ValueError: ExperimentError, StoreError, ...),
# files that cannot be read or written (OSError: a missing file, a full disk), a store another
# program locks (sqlite3), a run larger than the device (out of memory). Anything else is a bug
# and keeps its traceback.
USER_ERRORS = (ValueError, OSError, sqlite3.Error, torch.OutOfMemoryError)


def wants_traceback(args: argparse.Namespace | None) -> bool:
    return bool(getattr(args, "traceback", False)) or os.environ.get(TRACEBACK_ENV, "") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; every expected error is one line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        check_common_args(args)
        apply_threads(args)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if wants_traceback(args):
            traceback.print_exc()
        resumes = "; finished cells are in the store and the next run resumes there" \
            if args.command in ("bench", "reproduce", "demo") else ""
        print(f"spikeattack {args.command}: interrupted (Ctrl-C); no file was left half written{resumes}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except USER_ERRORS as exc:
        if wants_traceback(args):
            traceback.print_exc()
        print(f"spikeattack {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


def _silence_stdout() -> None:
    """The reader closed the pipe: point stdout at /dev/null so the interpreter's final flush
    does not print 'Broken pipe' (the recipe of Python's signal documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (captured in tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``spikeattack`` console entry point: one sub-command per job."""

from __future__ import annotations

import argparse
import sys

from .. import __version__


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"spikeattack {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

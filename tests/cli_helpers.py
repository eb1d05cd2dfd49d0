"""Shared by the CLI test modules: run a command in-process and read its one JSON object."""

import json

from spikeattack.cli.main import main


def run_json(capsys, argv):
    """``main(argv + --json --quiet)`` must exit 0 and print exactly one JSON object."""
    assert main(argv + ["--json", "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])

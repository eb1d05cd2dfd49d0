"""The lock file the tests run from satisfies every dependency range pyproject.toml declares.

Users install from the open ranges; CI and `make test` install from `requirements/dev.lock`.
This keeps the two honest: a range that the locked, tested version does not satisfy, or a
declared dependency missing from the lock, fails here instead of on a user's machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "dev.lock"
# Extras outside the test environment, each with the reason. Every other extra is locked.
NOT_LOCKED = {"events": "tonic only speeds up the N-MNIST reader; the built-in reader is the tested one",
              "compare": "SpikingJelly only runs benchmarks/vs_spikingjelly.py; no test or demo imports it"}


def _locked() -> dict[str, Version]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{LOCK.name}: {line!r} is not pinned with =="
        pins[canonicalize_name(name)] = Version(version)
    return pins


def _declared() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [("dependencies", Requirement(r)) for r in project["dependencies"]]
    extras = project.get("optional-dependencies", {})
    assert set(NOT_LOCKED) <= set(extras), "NOT_LOCKED names an extra pyproject.toml no longer has"
    for extra, items in extras.items():
        if extra in NOT_LOCKED:
            continue
        reqs += [(f"[{extra}]", Requirement(r)) for r in items]
    return reqs


@pytest.mark.parametrize("where,req", _declared(), ids=lambda v: str(v))
def test_every_declared_range_is_satisfied_by_the_lock(where, req):
    if req.marker is not None and not req.marker.evaluate():
        pytest.skip(f"{req} does not apply to this Python")
    pins = _locked()
    name = canonicalize_name(req.name)
    assert name in pins, f"{where}: {req.name} is declared but missing from {LOCK.name}"
    assert req.specifier.contains(pins[name], prereleases=True), (
        f"{where}: {req} is not satisfied by the locked {req.name}=={pins[name]}")


def test_lock_pins_each_package_once_and_never_torchvision():
    names = [canonicalize_name(line.split("==")[0]) for line in LOCK.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(names) == len(set(names))
    assert "torchvision" not in names  # PyPI's torchvision does not load beside torch 2.13.0+cpu
    assert _locked()["torch"] == Version("2.13.0")

"""The report's manifest: which files a report wrote, so that the next one deletes only those.

``report-manifest.json`` in the report folder lists every file the report wrote (paths relative
to the folder) with its SHA-256. A new report into the same folder first writes its own files,
then deletes the files of the previous manifest that it did not write again -- and only those
that are still exactly what the previous report wrote: a regular file (not a link), inside
the folder, with the recorded hash. Nothing is ever deleted by a name pattern, so a user's
``plots/asr_vs_eps_mine.png``, or a report figure a user has edited, stays. A missing or
damaged manifest deletes nothing.

A report killed while writing (even by SIGKILL) can leave the temporary file of
:func:`spikeattack.io.atomic_write` behind: ``.<name>.<8 random characters>.tmp`` beside one of
its files. The next report removes exactly those: the temporaries of the files it writes or
its manifest lists, in their own folders, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath

from ...io import write_text

MANIFEST_NAME = "report-manifest.json"
SCHEMA = "spikeattack/report-manifest/v1"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inside(folder: Path, relative: str) -> Path | None:
    """``folder / relative`` when ``relative`` is a plain relative path that stays inside ``folder``."""
    rel = PurePosixPath(relative)
    if rel.is_absolute() or not rel.parts or any(part in ("..", "") for part in rel.parts) or "\\" in relative:
        return None
    path = folder.joinpath(*rel.parts)
    try:  # no linked folder on the way out of the report folder
        return path if path.resolve().is_relative_to(folder.resolve()) else None
    except OSError:
        return None


def read_manifest(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of the previous report in ``folder``; empty when there is none or it
    cannot be read."""
    path = folder / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("files"), list):
        return {}
    out = {}
    for entry in data["files"]:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("sha256"), str):
            out[entry["path"]] = entry["sha256"]
    return out


def leftover_temporaries(path: Path) -> list[Path]:
    """Temporary files an interrupted :func:`~spikeattack.io.atomic_write` of ``path`` left beside it."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    try:
        return [p for p in path.parent.iterdir() if pattern.fullmatch(p.name) and p.is_file() and not p.is_symlink()]
    except OSError:
        return []


def replace_manifest(folder: Path, written: list[Path]) -> list[Path]:
    """Record ``written`` (files under ``folder``) as this report's files and delete the previous report's
    files that were not written again and are unchanged since. Returns the deleted paths."""
    folder = Path(folder)
    previous = read_manifest(folder)
    files = {p.relative_to(folder).as_posix(): sha256(p) for p in written}
    deleted = []
    for relative, digest in previous.items():
        if relative in files or relative == MANIFEST_NAME:
            continue
        path = _inside(folder, relative)
        if path is None or path.is_symlink() or not path.is_file():
            continue
        try:
            if sha256(path) != digest:
                continue  # changed since the report wrote it: no longer the report's file
            os.unlink(path)
        except OSError:
            continue
        deleted.append(path)
    entries = [{"path": k, "sha256": v} for k, v in sorted(files.items())]
    write_text(folder / MANIFEST_NAME, json.dumps({"schema": SCHEMA, "files": entries}, indent=1) + "\n")
    owned = [folder / MANIFEST_NAME] + list(written) + [p for p in map(lambda r: _inside(folder, r), previous) if p]
    for target in owned:  # what a killed report left behind
        for leftover in leftover_temporaries(target):
            try:
                os.unlink(leftover)
            except OSError:
                continue
            deleted.append(leftover)
    return deleted

"""Finding a dataset's files on disk (nothing is ever downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SPIKEATTACK_DATA"


def candidate_folders(name: str, root: str | os.PathLike | None, subfolders: tuple[str, ...],
                      defaults: tuple[str, ...] = ()) -> list[Path]:
    """Folders to search, in order: ``root`` (or ``$SPIKEATTACK_DATA``) and their usual
    sub-folders, then the system defaults."""
    bases: list[Path] = []
    if root is not None:
        bases.append(Path(root))
    elif os.environ.get(ENV_VAR):
        bases.append(Path(os.environ[ENV_VAR]))
    folders: list[Path] = []
    for base in bases:
        folders += [base, base / name] + [base / sub for sub in subfolders] + [base / name / sub for sub in subfolders]
    if root is None:
        folders += [Path(d) for d in defaults]
    return folders


def find_files(name: str, root: str | os.PathLike | None, wanted: dict[str, tuple[str, ...]],
               subfolders: tuple[str, ...] = (), defaults: tuple[str, ...] = ()) -> dict[str, Path]:
    """Locate one file per key of ``wanted`` (each key lists accepted file names) in the
    first folder that holds all of them; a clear ``FileNotFoundError`` otherwise."""
    folders = candidate_folders(name, root, subfolders, defaults)
    for folder in folders:
        found: dict[str, Path] = {}
        for key, names in wanted.items():
            for file_name in names:
                if (folder / file_name).is_file():
                    found[key] = folder / file_name
                    break
        if len(found) == len(wanted):
            return found
    expected = ", ".join(names[0] for names in wanted.values())
    searched = ", ".join(str(f) for f in folders) or "(none)"
    raise FileNotFoundError(
        f"dataset {name}: expected the files {expected} (official format) in one folder; searched {searched}. "
        f"Point --data-root (or the environment variable {ENV_VAR}) at the folder that holds them."
    )

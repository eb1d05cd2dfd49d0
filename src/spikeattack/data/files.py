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


def find_layout_folder(name: str, root: str | os.PathLike | None, matches, layout: str,
                       subfolders: tuple[str, ...] = ()) -> Path:
    """The first searched folder for which ``matches(folder)`` is true (folder-layout datasets such
    as ``Train/<digit>/*.bin``). Searched, in order: ``root`` -- or, without it, ``$SPIKEATTACK_DATA``
    -- then ``<base>/<name>`` and ``<base>/<sub>``, ``<base>/<name>/<sub>`` for each of ``subfolders``.
    A ``FileNotFoundError`` describing ``layout`` and listing the folders searched otherwise."""
    if root is not None:
        root = Path(root).expanduser()
    elif os.environ.get(ENV_VAR, "").strip():
        root = Path(os.environ[ENV_VAR].strip()).expanduser()
    folders = list(dict.fromkeys(candidate_folders(name, root, subfolders))) if root is not None else []
    for folder in folders:
        if folder.is_dir() and matches(folder):
            return folder
    if folders:
        searched = "searched: " + ", ".join(str(f) for f in folders)
    else:
        searched = f"searched no folder (no root was given and {ENV_VAR} is not set)"
    hint = ""
    if root is not None and root.is_file():
        hint = f" {root} is a file, not a folder (extract the archive first)."
    raise FileNotFoundError(
        f"dataset {name!r}: expected a folder laid out as {layout}; {searched}.{hint} Pass --data-root DIR "
        f"(load_dataset(..., root=DIR)) or set the environment variable {ENV_VAR} to the folder that holds it; "
        f"nothing is downloaded."
    )

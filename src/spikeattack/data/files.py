

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
    hint = f" {root} is a file, not a folder (extract the archive first)." if root is not None and root.is_file() else ""
    raise FileNotFoundError(
        f"dataset {name!r}: expected a folder laid out as {layout}; {searched}.{hint} Pass --data-root DIR "
        f"(load_dataset(..., root=DIR)) or set the environment variable {ENV_VAR} to the folder that holds it; "
        f"nothing is downloaded."
    )

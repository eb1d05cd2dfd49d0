"""Safe file output: atomic writes, output paths checked before the work, file locks.

Every file spikeattack writes (checkpoints, reports, comparison tables) goes through
:func:`atomic_write`: the bytes land in a uniquely named temporary file in the target's own
folder and replace the target with one ``os.replace`` (atomic on POSIX), so a reader never
sees half a file, two writers never share a temporary name, and a failed write leaves the
old file (or no file) and no temporary behind.

:func:`check_output_file` runs *before* any training or conversion, so a bad ``--out``
(a folder, a read-only place, the input itself) costs nothing. :func:`file_lock` serialises
a critical section across processes (``fcntl.flock``), e.g. train-or-load of one model-cache
entry by several ``bench --shard`` processes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one process per run folder
    fcntl = None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a unique temporary file beside ``path``; on success it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, ``encoding`` defaults to UTF-8). On any error the
    temporary file is removed and ``path`` is left as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: expected 'wb' or 'w', got {mode!r}")
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(mode, dir=folder, prefix=f".{path.name}.", suffix=".tmp", delete=False,
                                         encoding=(encoding or "utf-8") if mode == "w" else None)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_write(path, "w") as f:
        f.write(text)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _writable(path: Path) -> bool:
    """Writable by this process *and* meant to be: a file or folder with no write bit set is
    treated as read-only even for root, who ``os.access`` lets write anything."""
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)


def check_output_file(path: str | os.PathLike, flag: str, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Refuse an output file that cannot or must not be written, before any work is done.

    ``flag`` names the option in the message (``--out``). Refused: an existing folder, the
    same file as one of ``inputs`` (``convert a.pt --out a.pt`` would destroy the source), a
    folder that exists but is not writable, a parent that is a file. A missing parent folder
    is fine (it is created on write) as long as its nearest existing ancestor is writable.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag}: {str(path)!r} is a folder; expected a file path")
    for source in inputs:
        if path.exists() and _same_file(path, Path(source)):
            raise ValueError(f"{flag}: {str(path)!r} is the input file {str(source)!r}; writing it would destroy "
                             "the input; choose another path")
    if path.exists() and not _writable(path):
        raise ValueError(f"{flag}: {str(path)!r} exists and is read-only")
    _check_creatable(path.absolute().parent, path, flag, "write")
    return path


def check_output_dir(path: str | os.PathLike, flag: str) -> Path:
    """Refuse an output folder that is a file or cannot be created/written, before any work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag}: {str(path)!r} is a file; expected a folder")
    _check_creatable(path.absolute(), path, flag, "create")
    return path


def _check_creatable(start: Path, path: Path, flag: str, verb: str) -> None:
    """The nearest existing folder at or above ``start`` must be a writable folder."""
    ancestor = start
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{flag}: {str(ancestor)!r} is a file, not a folder; cannot {verb} {str(path)!r}")
    if not _writable(ancestor) or not os.access(ancestor, os.X_OK):
        raise ValueError(f"{flag}: the folder {str(ancestor)!r} is not writable; cannot {verb} {str(path)!r}")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) inside the block.

    Processes that share a folder (``bench --shard``) wait for each other here; the lock is
    released when the block ends or the process dies. Without ``fcntl`` it is a no-op.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

"""Safe file output: one output-path policy, atomic writes, file locks.

The policy, applied by every writer: spikeattack writes only *regular files* and folders,
never over a device node, a FIFO or a socket (``--out /dev/null`` is refused, not replaced),
never over one of the command's inputs, and never to an empty path. A symbolic link is
written through: its target is replaced, the link stays.

Every file spikeattack writes (checkpoints, reports, comparison tables, model-cache
entries) goes through :func:`atomic_write`: the bytes land in a uniquely named temporary
file in the target's own folder and replace the target with one ``os.replace`` (atomic on
POSIX), so a reader never sees half a file, two writers never share a temporary name, and a
failed write (a full disk: ``OSError`` naming the file) leaves the old file (or no file)
and no temporary behind. A writer holds a lock on its temporary file; the temporaries of
writers that were killed (SIGKILL, power loss) are removed by the next write of the same
target.

:func:`check_output_file` / :func:`check_output_dir` run *before* any training or
conversion, so a bad ``--out`` costs nothing. :func:`file_lock` serialises a critical
section across processes (``fcntl.flock``), e.g. train-or-load of one model-cache entry by
several ``bench --shard`` processes.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import IO, Iterable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one process per run folder
    fcntl = None

#: a temporary file older than this whose writer holds no lock on it is left over from a killed write
STALE_SECONDS = 60.0


def _kind(mode: int) -> str | None:
    """What a non-regular, non-folder file is, or None for a regular file or folder."""
    for test, name in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "special file"


def check_regular(path: str | os.PathLike, flag: str) -> None:
    """``ValueError`` naming ``flag`` when ``path`` exists and is a device, FIFO or socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing (or unreadable: the write itself will say)
    kind = _kind(mode)
    if kind is not None:
        raise ValueError(f"{flag}: {os.fspath(path)!r} is a {kind}; spikeattack writes only regular files "
                         "(choose a file path)")


def _check_path_text(path: str | os.PathLike, flag: str, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).strip():
        raise ValueError(f"{flag}: expected a {what} path, got {path!r}")
    return Path(path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a unique temporary file beside ``path``; on success it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, ``encoding`` defaults to UTF-8). The output-path
    policy holds (see the module docstring). On any error the temporary file is removed and
    ``path`` is left as it was; an ``OSError`` (a full disk, a vanished folder) is re-raised
    naming ``path``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: expected 'wb' or 'w', got {mode!r}")
    path = _check_path_text(path, "path", "file")
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # write through the link: its target is replaced, the link stays
    check_regular(path, "path")
    if path.is_dir():
        raise ValueError(f"path: {str(path)!r} is a folder; expected a file path")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = _temporary(folder, path.name, mode, encoding)
    except OSError as exc:
        raise _named(exc, path) from exc
    try:
        _lock(handle)
        _remove_stale(folder, path.name, handle.name)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())
        check_regular(path, "path")  # not swapped for a device or FIFO while we wrote
        os.replace(handle.name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        if isinstance(exc, OSError) and not isinstance(exc, (BrokenPipeError, ConnectionError)):
            raise _named(exc, path) from exc
        raise


def _temporary(folder: Path, name: str, mode: str, encoding: str | None) -> IO:
    """A new uniquely named temporary file ``.NAME.*.tmp`` in ``folder``."""
    return tempfile.NamedTemporaryFile(mode, dir=folder, prefix=f".{name}.", suffix=".tmp", delete=False,
                                       encoding=(encoding or "utf-8") if mode == "w" else None)


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` as an OSError naming ``path`` and saying nothing was written."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OSError(exc.errno, f"{reason}; nothing was written (the file was left as it was)", str(path))


def _lock(handle: IO) -> None:
    """Hold an exclusive lock on our own temporary file while it exists (released if we die)."""
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _remove_stale(folder: Path, name: str, own: str) -> None:
    """Remove the temporaries of killed writes of ``name``: older than :data:`STALE_SECONDS`
    and not locked by a live writer."""
    if fcntl is None:  # pragma: no cover
        return
    now = time.time()
    for candidate in folder.glob(f".{name}.*.tmp"):
        if os.path.abspath(candidate) == os.path.abspath(own):
            continue
        with contextlib.suppress(OSError):
            if now - candidate.lstat().st_mtime < STALE_SECONDS or not candidate.is_file():
                continue
            with open(candidate, "rb") as f:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer holds it
                os.unlink(candidate)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_write(path, "w") as f:
        f.write(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_write(path, "wb") as f:
        f.write(data)


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

    ``flag`` names the option in the message (``--out``). Refused: an empty path, an existing
    folder, a device, FIFO or socket, the same file as one of ``inputs`` (``convert a.pt --out
    a.pt`` would destroy the source), a file that exists but is read-only, a parent that is a
    file. A missing parent folder is fine (it is created on write) as long as its nearest
    existing ancestor is writable.
    """
    path = _check_path_text(path, flag, "file")
    if path.is_dir():
        raise ValueError(f"{flag}: {str(path)!r} is a folder; expected a file path")
    check_regular(path, flag)
    for source in inputs:
        if path.exists() and _same_file(path, Path(source)):
            raise ValueError(f"{flag}: {str(path)!r} is the input file {str(source)!r}; writing it would destroy "
                             "the input; choose another path")
    if path.exists() and not _writable(path):
        raise ValueError(f"{flag}: {str(path)!r} exists and is read-only")
    _check_creatable(path.absolute().parent, path, flag, "write")
    return path


def check_output_dir(path: str | os.PathLike, flag: str) -> Path:
    """Refuse an output folder that is empty text, a file (or device, FIFO) or cannot be
    created/written, before any work."""
    path = _check_path_text(path, flag, "folder")
    if path.exists() and not path.is_dir():
        kind = _kind(os.stat(path).st_mode) or "file"
        raise ValueError(f"{flag}: {str(path)!r} is a {kind}; expected a folder")
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
    check_regular(path, "lock")
    with open(path, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

"""Atomic file and directory writes: a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import InputError


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _blocking_file(directory: Path) -> Path | None:
    """The nearest existing path at or above `directory`, when it is a file (so no folder can be made)."""
    for existing in (directory, *directory.parents):
        if existing.exists():
            return None if existing.is_dir() else existing
    return None


def ensure_writable_dir(directory: Path) -> Path:
    """Create `directory` (and parents) or raise one clear InputError."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        blocker = _blocking_file(directory)
        reason = f"{blocker} is a file, not a folder" if blocker else err.strerror or err
        raise InputError(f"cannot create output directory {directory}: {reason}") from None
    if not os.access(directory, os.W_OK):
        raise InputError(f"output directory {directory} is not writable")
    return directory


def check_writable_dir(directory: Path) -> Path:
    """The InputError `ensure_writable_dir` would raise, without creating anything: called before a long
    job, so a bad output path fails at once rather than after the work."""
    directory = Path(directory)
    nearest = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if nearest is not None and not nearest.is_dir():
        raise InputError(f"cannot create output directory {directory}: {nearest} is a file, not a folder")
    if nearest is not None and not os.access(nearest, os.W_OK):
        raise InputError(f"output directory {nearest} is not writable")
    return directory


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_mode(existing: Path) -> int:
    """The replaced file's mode, else what a plain open() would give (mkstemp makes 0600 files)."""
    try:
        return existing.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~current_umask()


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temp file in the same folder, fsync, then rename over it."""
    path = Path(path)
    ensure_writable_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _default_mode(path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Text flavour of `atomic_write_bytes` (UTF-8, newlines as given)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(final: Path, replace: bool = True) -> Iterator[Path]:
    """Yield a temp folder beside `final`; on success it is renamed to `final` in one step.

    On any exception (or a kill) the temp folder is what remains, never a half-filled `final`.
    """
    final = Path(final)
    ensure_writable_dir(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the final folder is as shareable as any
    try:
        yield tmp
        if final.exists():
            if not replace:
                raise InputError(f"{final} already exists")
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

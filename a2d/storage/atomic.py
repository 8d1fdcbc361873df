"""The one way a2d writes a finished file: to a temporary name beside it, then a rename.

A reader (or a resumed run) therefore sees either the old file or the complete new one, never a
half-written file, whatever kills the writer: a crash, Ctrl-C, ``kill -9`` or a full disk. Every
output of a2d goes through here: dataset manifests, checkpoints, evaluation progress, and each file
``a2d predict`` writes (whose folder is itself built under a temporary name, see
:func:`atomic_dir`).

A failed write (``ENOSPC``, ``EDQUOT``, ``EFBIG``, a read-only folder) removes its temporary file and
raises :class:`~a2d.contracts.errors.OutputError` with one line that names the file and says what to do.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from a2d.contracts.errors import OutputError

#: errno values that mean "the disk cannot take more" (EFBIG: a file size limit).
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: Prefix of every temporary name; ``.a2d-tmp-*`` entries are a2d's own leftovers.
TMP_PREFIX = ".a2d-tmp-"


def is_disk_full(exc: BaseException) -> bool:
    """True for "no space left" errors, also when a library (HDF5, libsndfile) wraps the errno in
    its message."""
    if getattr(exc, "errno", None) in DISK_FULL_ERRNOS:
        return True
    text = str(exc).lower()
    return any(
        s in text
        for s in ("no space left", "disk quota", "file too large", "errno = 28", "errno = 27")
    )


def output_error(path: str | Path, exc: BaseException, *, fix: str = "") -> OutputError:
    """The one-line :class:`OutputError` for a failed write of ``path`` (``exc`` is kept as its
    ``os_error``)."""
    if is_disk_full(exc):
        err = OutputError(
            f"disk full while writing {str(path)!r}; free space and re-run the same command "
            f"(finished results are kept){fix}"
        )
    else:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0] or type(exc).__name__
        err = OutputError(
            f"cannot write {str(path)!r} ({reason}); check the folder's permissions and free "
            f"space{fix}"
        )
    err.os_error = exc  # type: ignore[attr-defined]
    return err


def ensure_writable_dir(path: str | Path, *, option: str = "--out") -> Path:
    """Create folder ``path`` if needed and prove a file can be created in it, before any long
    work whose results would otherwise be lost at the end."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder")
        path.mkdir(parents=True, exist_ok=True)
        probe = tmp_name(path / "write-test")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(
            f"cannot write to {str(path)!r} ({reason}); choose a writable {option} folder"
        ) from None
    return path


def tmp_name(path: Path) -> Path:
    """A temporary name beside ``path``, private to this process."""
    return path.with_name(f"{TMP_PREFIX}{os.getpid()}-{path.name}")


@contextmanager
def atomic_path(
    path: str | Path, *, fsync: bool = True, tmp: str | Path | None = None
) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; on success it is renamed to ``path``.

    On any exception the temporary file is removed; an ``OSError`` becomes an :class:`OutputError`.

    :param tmp: the temporary name (beside ``path``); default :func:`tmp_name`.
    """
    path = Path(path)
    tmp = tmp_name(path) if tmp is None else Path(tmp)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise output_error(path, exc) from None
    except BaseException:
        _remove(tmp)
        raise


def atomic_write(path: str | Path, data: str | bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically; return ``path``."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    with atomic_path(path, fsync=fsync) as tmp, open(tmp, "wb") as fh:
        fh.write(raw)
    return path


def atomic_save(path: str | Path, save: Callable[[Path], object], *, fsync: bool = True) -> Path:
    """Call ``save(tmp)`` (e.g. ``torch.save``) and rename ``tmp`` to ``path``; return ``path``."""
    path = Path(path)
    with atomic_path(path, fsync=fsync) as tmp:
        save(tmp)
    return path


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it replaces ``path`` as a whole.

    A folder is complete or absent: an earlier ``path`` is moved aside and removed only once the new
    one is in place; a failure removes the temporary folder and leaves any earlier ``path`` alone.
    """
    path = Path(path)
    tmp = tmp_name(path)
    old = path.with_name(f"{TMP_PREFIX}{os.getpid()}-old-{path.name}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except (OSError, OutputError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)
        cause = getattr(exc, "os_error", None) or exc.__cause__ or exc
        if isinstance(exc, OutputError) and not isinstance(cause, OSError):
            raise
        raise output_error(path, cause) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _remove(path: Path) -> None:
    with suppress(OSError):
        path.unlink(missing_ok=True)

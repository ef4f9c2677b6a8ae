"""SQLite's refusals as the store's errors: a lock held too long is ``Busy``, a constraint
``InvalidArgument``, what the disk refused (full, read-only, failing) a ``StorageError`` that says so,
and a file SQLite cannot open ``DatabaseMissing`` (or ``ReadOnlyStorage``, when its folder is)."""

from __future__ import annotations

import os
from pathlib import Path

import sqlean

from ..errors import (
    Busy,
    DatabaseMissing,
    DiskFull,
    InvalidArgument,
    ReadOnlyStorage,
    StorageError,
    StoreError,
)


def store_error(exc: BaseException, busy_timeout_ms: int, path: Path | None = None) -> BaseException | None:
    """The typed error a failed write transaction raises instead of SQLite's, if any."""
    if isinstance(exc, sqlean.OperationalError) and "locked" in str(exc):
        return Busy(
            f"the database stayed locked by other writers for {busy_timeout_ms} ms; try again"
        )
    if isinstance(exc, sqlean.IntegrityError):
        # The checks in Python come first; this is the schema's last line of defence.
        return InvalidArgument(f"refused by the database: {exc}")
    return storage_error(exc, path)


def storage_error(exc: BaseException, path: Path | None) -> StorageError | None:
    """What the disk refused (SQLite's FULL, READONLY, IOERR), as an error that says so; else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlean.Error) or code is None:
        return None
    where = path if path is not None else "the database"
    primary = code & 0xFF  # extended codes keep the primary one in their low byte
    if primary == sqlean.SQLITE_FULL or (primary == sqlean.SQLITE_IOERR and _nearly_full(path)):
        return DiskFull(f"the disk holding {where} is full ({exc}); nothing was written: free some space "
                        "and try again")
    if primary == sqlean.SQLITE_READONLY:
        return ReadOnlyStorage(f"{where} cannot be written: the file, its folder or its disk is read-only "
                               f"({exc}); nothing was written")
    if primary == sqlean.SQLITE_IOERR:
        return StorageError(f"the disk failed reading or writing {where} ({exc}); nothing was written")
    return None


def cannot_open(path: Path, exc: BaseException) -> StoreError:
    """SQLite could not open the file: say so, and say why when its folder is read-only (SQLite writes
    the -shm and -wal files beside a WAL database even to read it)."""
    folder = path.parent
    if folder.is_dir() and path.exists() and not os.access(folder, os.W_OK):
        return ReadOnlyStorage(f"cannot open {path}: {exc}; its folder is read-only, and SQLite must write "
                               "beside a WAL database even to read it")
    return DatabaseMissing(f"cannot open {path}: {exc}")


def _nearly_full(path: Path | None) -> bool:
    """Whether the disk holding ``path`` has under a mebibyte left (SQLite reports a write that ran out
    of space part-way, in the WAL or its index, as an I/O error rather than as SQLITE_FULL)."""
    try:
        disk = os.statvfs(path.parent if path is not None else ".")
    except OSError:
        return False
    return disk.f_bavail * disk.f_frsize < 1 << 20

"""The host's write lock: every swarmdeck writer on this machine queues for it in the kernel."""

from __future__ import annotations

import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # not a POSIX system: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]


class HostWriteLock:
    """``flock(2)`` on a file beside the database, taken by every swarmdeck writer on this host.

    SQLite's own lock makes a writer that finds it taken sleep 1, 2, 5, 10, 15, 20 … ms and look
    again, so under a hundred writers the unlucky ones wait far longer than the lock is held. Writers
    that hold this lock while they write queue in the kernel instead, which wakes the next one the
    moment the lock is released; SQLite's lock is then free whenever they ask for it. (SQLite in WAL
    mode serves one host only, so a host-wide lock is all it takes.) Held for one transaction, which
    never waits on anything but SQLite; the kernel drops it if its process dies. Without a lock file
    (a directory we cannot write to) writers fall back to SQLite's busy handler alone.

    ``acquire`` waits in ``flock(2)`` on the caller's thread, which then runs its transaction at
    once: the kernel hands the lock straight to the thread that writes, with no other thread to wake
    while it is held. ``flock(2)`` has no timeout, so the caller of a write gives up on that thread
    after its own timeout (a holder that is alive but frozen, under SIGSTOP or a debugger, never lets
    go); the thread, once it gets the lock, finds nobody wants it and lets go at once. One store
    writes one transaction at a time, so there is at most one waiting thread per lock.
    """

    def __init__(self, db_path: Path | None) -> None:
        self._fd: int | None = None
        self._mutex = threading.Lock()
        self._queued = False  # a thread is in (or about to enter) flock(2)
        self._closed = False
        if db_path is not None and fcntl is not None:
            try:
                self._fd = os.open(f"{db_path}-writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError:
                pass
        self._file = self._fd  # the open file itself, for a waiting thread (``_fd`` is None once closed)

    @property
    def waiting(self) -> bool:
        """A thread waits in ``flock(2)`` for this lock now."""
        return self._queued

    def try_acquire(self) -> bool:
        if self._fd is None:
            return True
        with self._mutex:
            if self._queued:
                # Our own thread is in line: this caller goes behind it. (Both would hold the lock
                # of one open file at once, and either one's release would release the other's.)
                return False
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

    def acquire(self) -> bool:
        """Wait on this thread until the lock is ours, however long that takes; False (not holding
        it) if the lock was closed meanwhile."""
        with self._mutex:
            if self._fd is None:
                return not self._closed  # no lock file: SQLite's lock alone
            if self._queued:
                raise RuntimeError("one thread at a time waits for the host lock")
            self._queued = True
            fd = self._file
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            with self._mutex:
                self._queued = False
                if self._closed:
                    os.close(fd)  # closing waited for this thread: the number is not reused under it
                    return False  # noqa: B012 - the lock is gone, whatever flock said
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                self._closed = True
                if not self._queued:
                    os.close(self._fd)
                # else: the waiting thread closes it once flock(2) returns
                self._fd = None

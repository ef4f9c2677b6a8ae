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

    A holder that is alive but frozen (SIGSTOP, a debugger) never lets go, and ``flock(2)`` has no
    timeout, so a writer waits for it on a thread of its own and gives up after its timeout; that
    thread stays queued and, if nobody wants the lock by the time it gets it, lets go at once. One
    store writes one transaction at a time, so there is at most one caller per lock.
    """

    def __init__(self, db_path: Path | None) -> None:
        self._fd: int | None = None
        self._mutex = threading.Lock()
        self._request = threading.Condition(self._mutex)  # the waiting thread: "queue for it now"
        self._granted = threading.Event()  # the waiting thread got the lock for the caller
        self._waiter: threading.Thread | None = None  # started at the first wait, kept for the next
        self._queued = False  # the waiting thread is in (or about to enter) flock(2)
        self._wanted = False  # and a caller still waits for it
        self._closed = False
        if db_path is not None and fcntl is not None:
            try:
                self._fd = os.open(f"{db_path}-writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError:
                pass
        self._file = self._fd  # the open file itself, for the waiting thread (``_fd`` is None once closed)

    def try_acquire(self) -> bool:
        if self._fd is None:
            return True
        with self._mutex:
            if self._queued:
                return False  # our own waiting thread is in line: this caller goes behind it
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

    def acquire(self, timeout: float) -> bool:
        """Take the lock within ``timeout`` seconds; False (not holding it) if that ran out."""
        if self.try_acquire():
            return True
        with self._mutex:
            self._wanted = True
            if not self._queued:
                self._queued = True
                self._granted.clear()
                if self._waiter is None:
                    self._waiter = threading.Thread(target=self._serve, name="swarmdeck-host-lock", daemon=True)
                    self._waiter.start()
                self._request.notify()
        self._granted.wait(max(timeout, 0.0))
        with self._mutex:
            self._wanted = False
            if self._granted.is_set():
                self._granted.clear()
                return True
            return False

    def _serve(self) -> None:
        """The waiting thread: queues in flock(2) whenever asked, for as long as the lock file is open."""
        while True:
            with self._mutex:
                while not self._queued and not self._closed:
                    self._request.wait()
                if not self._queued:
                    return  # closed, and nothing in flight: close() closed the file
                fd = self._file
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._mutex:
                self._queued = False
                if self._wanted:
                    self._granted.set()
                elif self._closed:
                    os.close(fd)  # closing waited for this thread: the number is not reused under it
                    return
                else:
                    fcntl.flock(fd, fcntl.LOCK_UN)  # the caller gave up meanwhile

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
                self._request.notify()

"""One browser tab's app process under `swarmdeck serve`: the real dashboard (``swarmdeck ... dashboard``),
bound to the server's life so that it cannot outlive it, however the server ends.

textual-serve starts one such process per tab, and ends it when the tab closes or the server shuts
down cleanly. When the server dies without that (SIGKILL, a crash), the process's pipes close but the
app would go on running with nobody to see it. So, before the app starts:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends SIGTERM the moment the parent dies
  (the app's loop takes SIGTERM as "quit"; before the loop runs, SIGTERM simply ends the process);
- everywhere, a watchdog thread notices the parent is gone (``getppid`` changes), sends the same
  SIGTERM, and if the app has not ended ``GRACE`` seconds later, ends the process outright.

The server passes its pid as the first argument (``getppid`` taken before ``prctl`` could already be
another process's, if the server died meanwhile: the process checks it still has that parent once the
bond is made).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

#: linux/prctl.h
PR_SET_PDEATHSIG = 1
#: Seconds the app has to quit on its own once its server is gone, before the process is ended.
GRACE = 3.0
POLL = 0.25


def bind_to_parent(parent: int, *, grace: float = GRACE, poll: float = POLL) -> None:
    """End this process when ``parent`` (its parent process) ends, however it ends."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still ends it
    if os.getppid() != parent:  # the server ended before the bond was made
        os._exit(1)
    watch = threading.Thread(target=_watch, args=(parent, grace, poll), name="serve-parent-watch", daemon=True)
    watch.start()


def _watch(parent: int, grace: float, poll: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll)
    os.kill(os.getpid(), signal.SIGTERM)  # quit as the app quits
    time.sleep(grace)
    os._exit(1)  # it did not: end it


def main() -> None:
    """`python -m swarmdeck.app.serve_child SERVER_PID ARGS`: `swarmdeck ARGS`, bound to the server."""
    bind_to_parent(int(sys.argv[1]))
    from .entry import main as swarmdeck

    sys.argv = ["swarmdeck", *sys.argv[2:]]
    swarmdeck()


if __name__ == "__main__":
    main()

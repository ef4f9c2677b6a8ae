"""`swarmdeck serve` in a real process for the tests: started on a free port, its lines read as they come,
its tabs' app processes found through /proc, and everything it started ended when the test ends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import clean_env, command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_line(self, prefix: str, timeout: float = 60) -> str:
        """The first line (from now on) that starts with ``prefix``; fails, with the output, if none comes."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting {prefix!r} from swarmdeck serve; it said:\n{self.output}")

    def app_processes(self) -> list[int]:
        """The tabs' app processes: the server's children running app/serve_child.py."""
        return children(self.proc.pid, "swarmdeck.app.serve_child")


def children(parent: int, marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and marker in cmdline:
            found.append(int(entry.name))
    return found


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Waits up to ``timeout`` seconds for every one of ``pids`` to end; returns those still running."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@contextlib.contextmanager
def serving(db: Path | str | None, *args: Any, env: dict[str, str] | None = None, port: int | None = None,
            wait: bool = True) -> Iterator[Served]:
    """`swarmdeck --db DB serve --port PORT ARGS` (no --db if ``db`` is None) in its own session (as a
    terminal's foreground job would be), once it has said what it serves; at the end, it and anything it
    started are killed."""
    port = port or free_port()
    where = () if db is None else ("--db", db)
    proc = subprocess.Popen(command(*where, "serve", "--port", port, *args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                            env=clean_env({"SWARMDECK_EMBEDDER": "hash", **(env or {})}),
                            start_new_session=True)
    served = Served(proc, port)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            served.lines.append(line)
            served._queue.put(line)
        served._queue.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started: list[int] = []
    try:
        if wait:
            served.wait_line("  each browser tab")
        yield served
    finally:
        started = served.app_processes() if proc.poll() is None else []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for pid in started:  # whatever a failed test left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reader.join(10)


async def open_tab(served: Served, *, width: int = 80, height: int = 24):
    """A browser tab as textual-serve sees one: its websocket, once the tab's app has drawn something.
    Returns the aiohttp session and websocket; the caller closes both."""
    import aiohttp

    session = aiohttp.ClientSession()
    try:
        deadline = time.monotonic() + 60
        while True:  # the server says its URL as it starts listening: a moment before it accepts
            try:
                ws = await session.ws_connect(
                    f"ws://127.0.0.1:{served.port}/ws?width={width}&height={height}")
                break
            except aiohttp.ClientConnectorError:
                if time.monotonic() > deadline - 50:
                    raise
                await asyncio.sleep(0.05)
        while time.monotonic() < deadline:
            message = await ws.receive(timeout=deadline - time.monotonic())
            if message.type == aiohttp.WSMsgType.BINARY and message.data:
                return session, ws
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break
        raise AssertionError(f"the tab's app never drew; swarmdeck serve said:\n{served.output}")
    except BaseException:
        await session.close()
        raise

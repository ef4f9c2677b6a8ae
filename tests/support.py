"""What every test folder shares: the clock tests control, bounded waits on conditions, an initialised
swarm database, and the `swarmdeck` CLI run in this process (``invoke``) or as a real process
(``run_swarmdeck``, ``popen``, ``run_swarmdeck_async``).

CLI behaviour is tested in this process through the console script's own entry point (``main``);
real processes are for what only a process shows (tests/cli/test_smoke.py, concurrency, crashes).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: 2026-01-01T00:00:00Z: far from any DST or epoch edge, so arithmetic on it stays obvious.
EPOCH = 1_767_225_600.0


class FakeClock:
    """A callable clock (what open_store's ``clock=`` takes) that moves only when told: ``advance`` by
    some seconds, or ``at`` a later moment (never back: seeded rows get distinct, ordered times)."""

    def __init__(self, start: float = EPOCH) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def at(self, moment: float) -> None:
        assert moment >= self.now, "the clock only moves forward"
        self.now = moment


# -- waiting on conditions, never on sleeps ------------------------------------------------------------


async def wait_for(condition: Callable[[], object], what: str = "", *, tries: int = 500, step: float = 0.01,
                   pause: Callable[[float], Awaitable[Any]] | None = None) -> None:
    """Let others run until ``condition()`` (sync or async) holds; fail, saying what, if it never does.

    ``pause``: how to let others run for ``step`` seconds (a Textual pilot's ``pause`` while an app runs;
    ``asyncio.sleep`` by default, for work another process does in its own time)."""
    pause = pause or asyncio.sleep

    async def holds() -> object:
        result = condition()
        return await result if inspect.isawaitable(result) else result

    for _ in range(tries):
        if await holds():
            return
        await pause(step)
    assert await holds(), f"timed out waiting for {what or condition}"


# -- an initialised swarm database -------------------------------------------------------------------------


def init_db(path: Path) -> Path:
    """An empty swarm database at ``path``, made through the store as `swarmdeck init` makes it."""
    from swarmdeck.store import open_store

    async def init() -> None:
        store = await open_store(path, create=True)
        await store.close()

    asyncio.run(init())
    assert path.exists()
    return path


# -- the CLI ----------------------------------------------------------------------------------------------

# The venv's own script first (tests may run with a bare `python -m pytest`), else whatever is on PATH.
SWARMDECK = shutil.which("swarmdeck", path=str(Path(sys.executable).parent)) or shutil.which("swarmdeck")

#: Variables the CLI reads (scrubbed so the developer's own shell cannot steer a test), and
#: PYTHONDONTWRITEBYTECODE, which would make every process recompile swarmdeck.
SCRUBBED = ("SWARMDECK_DB", "SWARMDECK_ACTOR", "SWARMDECK_REVIEWER", "PYTHONDONTWRITEBYTECODE")


@dataclass
class Ran:
    """What one CLI call did, shaped like subprocess.CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _working_directory(cwd: Path | None):
    if cwd is None:
        yield
        return
    saved = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


def invoke(*args: Any, input: str | bytes | None = None, env: dict[str, str] | None = None,
           cwd: Path | None = None, tty: bool = False) -> Ran:
    """One CLI call in this process, through the console script's own entry point (``main``), with
    click's runner standing in for stdin, stdout, stderr and the environment. An exception that would
    end a real process with a traceback is turned into that traceback on stderr and exit code 1.

    ``tty``: whether a person's terminal stands in for stdin and stdout (``seat.is_human_seat``);
    without it, the seat check is the real one, which finds no terminal (as an agent's call has none).
    ``cwd``: the working directory of the call (where the default database is looked for).
    Called from a running event loop (an async test), the call runs on a thread of its own, since the
    CLI runs its own loop; this loop waits, as it would for a subprocess."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _invoke(args, input, env, cwd, tty)
    with concurrent.futures.ThreadPoolExecutor(1) as other:
        return other.submit(_invoke, args, input, env, cwd, tty).result()


def _invoke(args: tuple[Any, ...], input: str | bytes | None, env: dict[str, str] | None, cwd: Path | None,
            tty: bool) -> Ran:
    from click.testing import CliRunner

    from swarmdeck.app.cli import main, seat

    scrubbed: dict[str, str | None] = {name: None for name in SCRUBBED}
    patched_seat = seat.is_human_seat
    seat.is_human_seat = (lambda: True) if tty else _REAL_SEAT_CHECK
    try:
        with _working_directory(cwd), \
                CliRunner().isolation(input=input, env={**scrubbed, **(env or {})}) as (out, err, _):
            saved = sys.argv
            sys.argv = ["swarmdeck", *(a if isinstance(a, str) else str(a) for a in args)]
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # what a real process would print before dying
                sys.stderr.write(traceback.format_exc())
                code = 1
            finally:
                sys.argv = saved
                sys.stdout.flush()
                sys.stderr.flush()
            return Ran(code, out.getvalue().decode("utf-8", "backslashreplace"),
                       err.getvalue().decode("utf-8", "backslashreplace"))
    finally:
        seat.is_human_seat = patched_seat


def run_dashboards_with(monkeypatch: Any, run: Callable[..., Any]) -> None:
    """The dashboards the CLI opens in this test are run by ``run`` (in place of ``SwarmdeckApp.run``:
    headless, or only recorded), which needs no terminal: the CLI's terminal check
    (``seat.missing_terminal``) finds none missing."""
    from swarmdeck.app.cli import seat
    from swarmdeck.app.tui import SwarmdeckApp

    monkeypatch.setattr(SwarmdeckApp, "run", run)
    monkeypatch.setattr(seat, "missing_terminal", lambda: None)


def _real_seat_check() -> Callable[[], bool]:
    from swarmdeck.app.cli import seat

    return seat.is_human_seat


_REAL_SEAT_CHECK = _real_seat_check()


def clean_env(extra: dict[str, str] | None = None, *, every_setting: bool = False) -> dict[str, str]:
    """The environment of a real `swarmdeck` process: this one's without what would steer it (with
    ``every_setting``, without any SWARMDECK_* but the test session's key folder, $SWARMDECK_KEYS)."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED
           and not (every_setting and k.startswith("SWARMDECK_") and k != "SWARMDECK_KEYS")}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def command(*args: Any) -> list[str | bytes]:
    """The console script and its arguments (bytes pass as they are: argv need not be UTF-8)."""
    assert SWARMDECK, "the swarmdeck console script is not installed (pip install -e .)"
    return [SWARMDECK, *(a if isinstance(a, bytes) else str(a) for a in args)]


def run_swarmdeck(*args: Any, input: str | None = None, env: dict[str, str] | None = None,
                  cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One CLI call in a real process. stdin is closed unless the call feeds it, so nothing can hang."""
    return subprocess.run(command(*args), input=input, stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, encoding="utf-8", env=clean_env(env), cwd=cwd,
                          timeout=timeout)


def popen(*args: Any, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The CLI in a real background process (e.g. `gate wait`); the caller waits on it, or kills it."""
    return subprocess.Popen(command(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", env=clean_env(env))


async def run_swarmdeck_async(*args: Any, env: dict[str, str] | None = None,
                              timeout: float = 60) -> Ran:
    """The CLI in a real process from inside a running event loop (an app, a server): the loop keeps
    running while the other process works."""
    proc = await asyncio.create_subprocess_exec(*command(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, env=clean_env(env))
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    return Ran(proc.returncode, stdout.decode("utf-8", "backslashreplace"), stderr.decode("utf-8", "backslashreplace"))

"""The CLI as agents use it: the real `swarmdeck` console script in a subprocess, or its entry point
in this process (``invoke``, ``sdi``) where a test needs no process of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from signing_support import PASSPHRASE

#: What a person types by default: yes to the confirmation, then the passphrase of their signing key
#: (twice, when it is made: `reviewer add`); what a command does not ask for is never read.
YES_SIGNED = f"y\n{PASSPHRASE}\n{PASSPHRASE}\n"

# The venv's own script first (tests may run with a bare `python -m pytest`), else whatever is on PATH.
SWARMDECK = shutil.which("swarmdeck", path=str(Path(sys.executable).parent)) or shutil.which("swarmdeck")

#: Variables the CLI reads (scrubbed so the developer's own shell cannot steer a test), and
#: PYTHONDONTWRITEBYTECODE, which would make every one of the ~200 calls recompile swarmdeck.
_SCRUBBED = ("SWARMDECK_DB", "SWARMDECK_ACTOR", "SWARMDECK_REVIEWER", "PYTHONDONTWRITEBYTECODE")
_BASE_ENV = {"PYTHONIOENCODING": "utf-8"}


@pytest.fixture(scope="session", autouse=True)
def _bytecode_cache(tmp_path_factory) -> None:
    """Compiled modules go to a temporary folder, never into the source tree."""
    _BASE_ENV["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(_BASE_ENV)
    env.update(extra or {})
    return env


def command(*args: Any) -> list[str | bytes]:
    """The console script and its arguments (bytes pass as they are: argv need not be UTF-8)."""
    assert SWARMDECK, "the swarmdeck console script is not installed (pip install -e .)"
    return [SWARMDECK, *(a if isinstance(a, bytes) else str(a) for a in args)]


def run_swarmdeck(
    *args: Any, input: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """One CLI call. stdin is closed unless the call feeds it, so nothing can hang on a read."""
    return subprocess.run(
        command(*args),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=clean_env(env),
        cwd=cwd,
        timeout=60,
    )


@pytest.fixture
def run_sd() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`swarmdeck` with no --db: for tests of how the database is found."""
    return run_swarmdeck


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A swarm database made by `swarmdeck init`."""
    path = tmp_path / "swarm.db"
    result = run_swarmdeck("--db", path, "init")
    assert result.returncode == 0, result.stderr
    assert path.exists()
    return path


@pytest.fixture
def sd(db: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`sd(*args, input=None, env=None)`: the CLI against the test's database."""

    def call(*args: Any, input: str | None = None, env: dict[str, str] | None = None):
        return run_swarmdeck("--db", db, *args, input=input, env=env)

    return call


@pytest.fixture
def sdj(sd) -> Callable[..., Any]:
    """`sdj(*args)`: the CLI with --json; the call must succeed; returns the parsed result."""

    def call(*args: Any, input: str | None = None) -> Any:
        result = sd("--json", *args, input=input)
        assert result.returncode == 0, f"swarmdeck {' '.join(map(str, args))} failed: {result.stderr}"
        assert result.stderr == ""
        return json.loads(result.stdout)

    return call


@pytest.fixture
def sd_popen() -> Callable[..., subprocess.Popen[str]]:
    """`sd_popen(db_path, *args)`: the CLI in the background (e.g. `gate wait`); the test waits on it."""
    started: list[subprocess.Popen[str]] = []

    def start(db_path: Path, *args: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            command("--db", db_path, *args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=clean_env(),
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:  # a failed assertion must not leave a waiter running
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# -- a person at a terminal --------------------------------------------------------------------------


def as_person(db_path: Path, *args: Any, input: str | None = YES_SIGNED, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    """The CLI in-process, as a person at a terminal runs it: call with the terminal check standing in
    (the ``person`` fixture does that); the confirmation and the passphrase are typed on stdin."""
    from click.testing import CliRunner

    from swarmdeck.app.cli import cli

    scrubbed: dict[str, str | None] = {name: None for name in _SCRUBBED}
    scrubbed.update(env or {})
    result = CliRunner(env=scrubbed).invoke(cli, ["--db", str(db_path), *map(str, args)], input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def person(monkeypatch) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`person(db_path, *args, input="y\\n", env=None)`: a person's act at a terminal (see as_person).
    The real terminal is exercised in a pseudo-terminal by test_human_seat.py; here, the rules."""
    from swarmdeck.app.cli import seat

    monkeypatch.setattr(seat, "is_human_seat", lambda: True)
    return as_person


@pytest.fixture
def human(db: Path, person) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`human(*args, input="y\\n", env=None)`: a person's act on the test's database."""

    def call(*args: Any, input: str | None = YES_SIGNED, env: dict[str, str] | None = None):
        return person(db, *args, input=input, env=env)

    return call


@pytest.fixture
def humanj(human) -> Callable[..., Any]:
    """`humanj(*args)`: a person's act with --json, confirmed; it must succeed; returns the result."""

    def call(*args: Any, input: str = YES_SIGNED, env: dict[str, str] | None = None) -> Any:
        result = human("--json", *args, input=input, env=env)
        assert result.returncode == 0, f"swarmdeck {' '.join(map(str, args))} failed: {result.stderr}"
        return json.loads(result.stdout)

    return call


# -- in process -------------------------------------------------------------------------------------------


@dataclass
class Ran:
    """What one in-process CLI call did, shaped like subprocess.CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


def invoke(*args: Any, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Ran:
    """One CLI call in this process, through the console script's own entry point (``main``), with
    click's runner standing in for stdin, stdout, stderr and the environment. An exception that would
    end a real process with a traceback is turned into that traceback on stderr and exit code 1."""
    from swarmdeck.app.cli import main

    scrubbed: dict[str, str | None] = {name: None for name in _SCRUBBED}
    with CliRunner().isolation(input=input, env={**scrubbed, **(env or {})}) as (out, err, _):
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


@pytest.fixture
def cli() -> Callable[..., Ran]:
    """`cli(*args)`: the CLI in this process, with no --db: for tests that bring their own."""
    return invoke


@pytest.fixture
def sdi(tmp_path: Path) -> Callable[..., Ran]:
    """`sdi(*args)`: the CLI in this process against a database made by `swarmdeck init` (``sdi.db``)."""
    path = tmp_path / "swarm.db"
    made = invoke("--db", path, "init")
    assert made.returncode == 0, made.stderr

    def call(*args: Any, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Ran:
        return invoke("--db", path, *args, input=input, env=env)

    call.db = path
    return call

"""The CLI as agents and people use it, run in this process through the console script's own entry
point (tests/support.py ``invoke``): same exit codes, stdout and stderr as the real process, without
starting one per call. The real process is smoke-tested in test_smoke.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from signing_support import PASSPHRASE
from support import Ran, invoke, popen

#: What a person types by default: yes to the confirmation, then the passphrase of their signing key
#: (twice, when it is made: `reviewer add`); what a command does not ask for is never read.
YES_SIGNED = f"y\n{PASSPHRASE}\n{PASSPHRASE}\n"


@pytest.fixture
def run_sd() -> Callable[..., Ran]:
    """`run_sd(*args, input=None, env=None, cwd=None)`: `swarmdeck` with no --db, for tests of how the
    database is found."""
    return invoke


@pytest.fixture
def sd(db: Path) -> Callable[..., Ran]:
    """`sd(*args, input=None, env=None)`: the CLI against the test's database, as an agent runs it."""

    def call(*args: Any, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Ran:
        return invoke("--db", db, *args, input=input, env=env)

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
def sd_popen():
    """`sd_popen(db_path, *args)`: the CLI in a real background process (e.g. `gate wait`)."""
    started = []

    def start(db_path: Path, *args: Any):
        proc = popen("--db", db_path, *args)
        started.append(proc)
        return proc

    yield start
    for proc in started:  # a failed assertion must not leave a waiter running
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# -- a person at a terminal --------------------------------------------------------------------------


def as_person(db_path: Path, *args: Any, input: str | None = YES_SIGNED, env: dict[str, str] | None = None,
              ) -> Ran:
    """The CLI as a person at a terminal runs it: the terminal check stands in (the real terminal is
    exercised in a pseudo-terminal by test_human_seat.py); the confirmation and the passphrase are
    typed on stdin."""
    return invoke("--db", db_path, *args, input=input, env=env, tty=True)


@pytest.fixture
def person() -> Callable[..., Ran]:
    """`person(db_path, *args, input="y\\n", env=None)`: a person's act at a terminal (see as_person)."""
    return as_person


@pytest.fixture
def human(db: Path, person) -> Callable[..., Ran]:
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


# -- in process, for tests that bring their own database --------------------------------------------------


@pytest.fixture
def cli() -> Callable[..., Ran]:
    """`cli(*args)`: the CLI in this process, with no --db: for tests that bring their own."""
    return invoke

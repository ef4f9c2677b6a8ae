"""The calls agents make in loops import what they use and nothing else (tests/bench/bench_cli.py times
them): no input models (pydantic), no vectors (numpy), no signing (cryptography), no dashboard
(textual), no HTTP client (httpx), and of the CLI's command modules only their own."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from support import clean_env, invoke

#: Packages a claim or a bare heartbeat has no use for.
HEAVY = ("pydantic", "pydantic_core", "numpy", "cryptography", "textual", "httpx", "rich")

#: The console script's entry point, with what was imported reported as it exits.
WRAPPER = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["swarmdeck", *json.loads(sys.argv[1])]
from swarmdeck.app.cli import main
main()
"""


def imported_by(*args: str) -> set[str]:
    """The modules one real `swarmdeck` process imported for ``args`` (it must succeed)."""
    done = subprocess.run([sys.executable, "-c", WRAPPER, json.dumps(args)], capture_output=True, text=True,
                          env=clean_env(), timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.fixture
def swarm(db):
    """A database with agent a1 registered, one task it can claim and a failure that concerns it (which the
    claim brings along)."""
    assert invoke("--db", db, "agent", "register", "a1", "--type", "coder").returncode == 0
    assert invoke("--db", db, "task", "enqueue", "one", "--type", "coder").returncode == 0
    assert invoke("--db", db, "failure", "log", "--feature", "one", "--approach", "a", "--why", "b",
                  "--lesson", "c").returncode == 0
    return db


@pytest.mark.parametrize("args, own", [
    (("task", "claim", "--agent", "a1"), "swarmdeck.app.cli.tasks"),
    (("agent", "heartbeat", "a1"), "swarmdeck.app.cli.agents"),
])
def test_a_loop_call_imports_no_heavy_package_and_no_other_command(swarm, args, own):
    modules = imported_by("--db", str(swarm), *args)
    assert own in modules  # the wrapper saw the call itself
    assert not [m for m in modules if m.split(".")[0] in HEAVY]
    commands = {m for m in modules if m.startswith("swarmdeck.app.cli.") and not m.split(".")[-1].startswith("_")}
    assert commands == {own}
    assert "swarmdeck.app.settings" not in modules  # the settings are built only by commands that read them
    assert not modules & NOT_FOR_A_LOOP_CALL


#: swarmdeck's modules a claim and a bare heartbeat have no use for: signing and its hashing, the gate
#: and reviewer parts and rules, the time parser (loaded when an option is converted).
NOT_FOR_A_LOOP_CALL = {
    "swarmdeck.store.signing",
    "swarmdeck.store.gates", "swarmdeck.store.sqlite.gates", "swarmdeck.store.sqlite.reviewers",
    "swarmdeck.store.timeparse",
}


def test_every_lazy_command_is_the_command_of_its_name():
    from swarmdeck.app.cli import LAZY_COMMANDS, cli

    ctx = click.Context(cli)
    for name in LAZY_COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name, name
    assert set(LAZY_COMMANDS) <= set(cli.list_commands(ctx))
    assert cli.list_commands(ctx) == sorted(cli.list_commands(ctx))


def test_the_console_script_holds_the_collector_only_until_a_command_runs(swarm):
    """app/entry.py turns the cyclic collector off while the CLI loads; the CLI's group callback turns it
    back on (after freezing what loaded), so every command runs with it on."""
    code = (
        "import gc, sys\n"
        "import swarmdeck.app.entry\n"
        "from swarmdeck.app import cli\n"
        "held = not gc.isenabled()\n"
        "cli._resume_collector()\n"
        "print(held, gc.isenabled())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    probe = """
import gc, json, sys
import swarmdeck.app.entry as entry
from swarmdeck.app.cli import _base
seen = []
real = _base.emit
def emit(*args, **kwargs):
    seen.append(gc.isenabled())
    return real(*args, **kwargs)
_base.emit = emit
sys.argv = ["swarmdeck", *json.loads(sys.argv[1])]
try:
    entry.main()
finally:
    print("ENABLED", seen, file=sys.stderr)
"""
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(["--db", str(swarm), "agent", "heartbeat", "a1"])],
                          capture_output=True, text=True, env=clean_env(), timeout=120)
    assert "ENABLED [True]" in done.stderr, done.stderr

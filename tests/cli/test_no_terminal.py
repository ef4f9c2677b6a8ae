"""The commands that open the dashboard (`swarmdeck`, `dashboard`, `demo`, `replay`) where there is no
terminal to run it in (cron, CI, an agent's tool call, a redirect): one line on stderr and exit 2 at once,
before anything is made or opened, never the app's escape codes in a file or a process waiting for keys.
The browser seat's tabs run it without a terminal, under textual-serve's driver (tests/ui/test_browser_seat.py)."""

from __future__ import annotations

import os
import pty
import subprocess
import tempfile
from pathlib import Path

import pytest

from swarmdeck.app.cli import seat
from swarmdeck.app.tui import SwarmdeckApp

from support import clean_env, command, invoke, run_swarmdeck
from test_cli import expect_error, expect_json_error
from test_smoke import Terminal

ESC = "\x1b"
#: What textual-serve sets $TEXTUAL_DRIVER to for each tab's process.
WEB_DRIVER = "textual.drivers.web_driver:WebDriver"

#: Each way to open the dashboard, and a fragment of what its refusal offers instead.
OPENERS = {
    "bare": ([], "`swarmdeck serve`"),
    "dashboard": (["dashboard"], "`swarmdeck attention --json`"),
    "demo": (["demo"], "run `swarmdeck demo` from a terminal"),
    "replay": (["replay"], "`swarmdeck events tail --json --since ID`"),
}


@pytest.mark.smoke
@pytest.mark.parametrize("name", OPENERS)
def test_without_a_terminal_it_says_so_in_one_line_and_exits_2_at_once(db, tmp_path, name):
    """stdin from /dev/null, stdout and stderr to pipes, as cron, CI or an agent's tool call runs it."""
    args, instead = OPENERS[name]
    if name == "demo":
        args = [*args, "--db", str(tmp_path / "demo.db")]
    ran = run_swarmdeck("--db", db, *args, timeout=20)  # a process waiting for keys fails here
    expect_error(ran, 2, "needs an interactive terminal", "standard input and standard error are not terminals",
                 instead)
    assert ESC not in ran.stderr
    assert not (tmp_path / "demo.db").exists()


@pytest.mark.smoke
def test_a_terminal_on_stdin_and_stdout_is_not_enough_the_dashboard_draws_on_stderr(db):
    master, slave = pty.openpty()
    try:
        ran = subprocess.run(command("--db", db, "dashboard"), stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                             text=True, env=clean_env(), timeout=20)
    finally:
        os.close(slave)
        os.close(master)
    assert ran.returncode == 2, ran.stderr
    [line] = ran.stderr.splitlines()
    assert line.startswith("swarmdeck: the dashboard needs an interactive terminal (standard error is not a terminal")
    assert ESC not in ran.stderr


@pytest.mark.smoke
def test_stdout_to_a_file_leaves_the_dashboard_working_at_the_terminal(db, tmp_path):
    """The dashboard reads keys on stdin and draws on stderr: stdout, redirected, is not its business."""
    out = tmp_path / "out"
    with out.open("w") as stdout:
        term = Terminal("--db", str(db), "dashboard", stdout=stdout)
        term.read_until("No milestones yet")
        term.type("\x11")  # ctrl+q
        assert term.finish() == 0
    assert ESC not in out.read_text()


# -- in this process: --json, and nothing made or opened before the refusal -----------------------------------


@pytest.mark.parametrize("name", OPENERS)
def test_json_before_or_after_the_verb_makes_it_a_json_error(db, name):
    args, _ = OPENERS[name]
    expect_json_error(invoke("--db", db, "--json", *args), 2, "no_terminal", "needs an interactive terminal")
    if args:
        expect_json_error(invoke("--db", db, *args, "--json"), 2, "no_terminal", "needs an interactive terminal")


def test_the_demo_makes_no_database_or_folder_without_a_terminal(monkeypatch):
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **_: pytest.fail("the demo made a folder"))
    expect_error(invoke("demo"), 2, "needs an interactive terminal")


def test_replay_builds_no_cache_without_a_terminal(db: Path):
    expect_error(invoke("--db", db, "replay"), 2, "needs an interactive terminal")
    assert [p.name for p in db.parent.iterdir() if "replay" in p.name] == []


def test_under_another_textual_driver_no_terminal_is_needed(db, monkeypatch):
    """textual-serve runs each browser tab's dashboard with its web driver ($TEXTUAL_DRIVER), on pipes."""
    opened = []
    monkeypatch.setattr(SwarmdeckApp, "run", lambda self, **_: opened.append(self) or 0)
    ran = invoke("--db", db, "dashboard", env={"TEXTUAL_DRIVER": WEB_DRIVER})
    assert ran.returncode == 0, ran.stderr
    assert len(opened) == 1


def test_the_check_names_the_streams_the_dashboard_uses(monkeypatch):
    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    terminals: set[object] = set()
    monkeypatch.setattr(seat, "_tty", lambda stream: stream in terminals)
    assert seat.missing_terminal() == "standard input and standard error are not terminals"
    terminals.add(seat.sys.stdin)
    assert seat.missing_terminal() == "standard error is not a terminal"
    terminals.add(seat.sys.stderr)
    assert seat.missing_terminal() is None  # stdout is not the dashboard's
    terminals.clear()
    monkeypatch.setenv("TEXTUAL_DRIVER", WEB_DRIVER)
    assert seat.missing_terminal() is None


# -- the other long-running commands: --json after the verb too ----------------------------------------


def test_serve_and_mcp_take_json_after_the_verb_as_every_command_does(tmp_path):
    missing = str(tmp_path / "none.db")
    expect_json_error(invoke("--db", missing, "serve", "--json"), 2, "usage", "a deciding seat needs a reviewer")
    expect_json_error(invoke("--db", missing, "mcp", "--json"), 1, "database_missing", "no swarmdeck database")
    assert not (tmp_path / "none.db").exists()

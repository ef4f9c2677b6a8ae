"""`swarmdeck serve`: who the seat decides as (or that it only watches), what it says at start, and that
no tab's app process outlives the server, however the server ends."""

from __future__ import annotations

import os
import signal
import socket
import sys

import pytest

from swarmdeck.app.cli.serve import is_loopback, public_url
from swarmdeck.store import describe
from serve_support import cmdline, open_tab, serving, wait_gone
from support import init_db, invoke

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc to find the tabs' processes")


def test_loopback_hosts_and_the_rest():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "LOCALHOST"))
    beyond = ("0.0.0.0", "::", "192.168.1.5", "example.org", "localhost.example")
    assert not any(is_loopback(h) for h in beyond)
    assert public_url("::1", 8000) == "http://[::1]:8000"
    assert public_url("127.0.0.1", 9) == "http://127.0.0.1:9"
    assert "0.0.0.0" not in public_url("0.0.0.0", 80)  # a browser cannot reach 0.0.0.0: this machine's name


def test_a_deciding_seat_needs_a_reviewer_and_nothing_starts_without_one(db):
    ran = invoke("--db", db, "serve", "--port", "1", env={"SWARMDECK_REVIEWER": ""})
    assert ran.returncode == 2
    assert ran.stderr.strip() == ("swarmdeck: a deciding seat needs a reviewer: --reviewer NAME (or "
                                  "$SWARMDECK_REVIEWER), or --read-only to watch")
    # Beyond localhost, --deciding asks for one too.
    ran = invoke("--db", db, "serve", "--host", "0.0.0.0", "--deciding", "--port", "1")
    assert ran.returncode == 2 and "needs a reviewer" in ran.stderr
    ran = invoke("--db", db, "serve", "--read-only", "--deciding", "--reviewer", "alice")
    assert ran.returncode == 2 and "contradict" in ran.stderr


def test_a_port_already_taken_is_one_line_and_nothing_else(db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = invoke("--db", db, "serve", "--read-only", "--port", port)
    assert ran.returncode == 1 and ran.stdout == ""
    assert ran.stderr == f"swarmdeck: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_a_missing_database_is_one_line_before_anything_listens(tmp_path):
    ran = invoke("--db", tmp_path / "nowhere.db", "serve", "--reviewer", "alice", "--port", "1")
    assert ran.returncode != 0 and len(ran.stderr.strip().splitlines()) == 1, ran.stderr
    assert not (tmp_path / "nowhere.db").exists()


@pytest.fixture(params=["--db", "$SWARMDECK_DB"])
def given(request, db_path):
    """A swarm database given either way: a SQLite file by --db, a PostgreSQL URL by the environment
    (where a password stays out of process lists)."""
    if request.param == "--db":
        return "--db", init_db(db_path)
    return "env", request.getfixturevalue("pg_store_url")


async def test_on_localhost_the_tab_decides_as_the_reviewer_on_the_same_database(given):
    how, db = given
    with serving(*((db,) if how == "--db" else (None,)), "--reviewer", "alice",
                 env={"SWARMDECK_DB": str(db)} if how == "env" else None) as served:
        said = served.output
        assert f"swarmdeck serve: {served.url}" in said
        assert "deciding seat as alice" in said and f"database: {describe(db)}" in said
        session, ws = await open_tab(served)
        try:
            [app] = served.app_processes()
            argv = cmdline(app)
            assert argv[argv.index("--reviewer") + 1] == "alice" and "--read-only" not in argv
            if how == "--db":  # already on the server's own command line
                assert argv[argv.index("--db") + 1] == str(db.resolve())
            else:  # inherited with the environment, never on a command line
                assert "--db" not in argv and not any(str(db) in a for a in argv)
        finally:
            await ws.close()
            await session.close()
        assert wait_gone([app], 15) == [], "closing the tab ends its app"


async def test_beyond_localhost_the_seat_is_read_only_unless_deciding_and_named(db):
    with serving(db, "--host", "0.0.0.0", "--reviewer", "alice") as served:
        said = served.output
        assert "read-only: 0.0.0.0 is beyond localhost (--deciding --reviewer NAME to decide)" in said
        session, ws = await open_tab(served)
        try:
            [app] = served.app_processes()
            assert "--read-only" in cmdline(app) and "alice" not in cmdline(app)
        finally:
            await ws.close()
            await session.close()
    with serving(db, "--host", "0.0.0.0", "--deciding", "--reviewer", "alice") as served:
        assert "deciding seat as alice — beyond localhost: anyone who reaches" in served.output
    with serving(db, "--read-only") as served:  # a watching seat needs no name
        assert "  read-only\n" in served.output
    with serving(db, "--reviewer", "mallory") as served:  # a name nobody registered: said at once
        assert ("swarmdeck: warning: mallory is not a registered reviewer of this swarm: every decision will "
                "be refused (swarmdeck reviewer add mallory)") in served.output


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "Ctrl-C"])
async def test_no_app_process_outlives_the_server_however_it_ends(db, how):
    with serving(db, "--reviewer", "alice") as served:
        tabs = [await open_tab(served), await open_tab(served)]
        try:
            apps = served.app_processes()
            assert len(apps) == 2
            if how == "Ctrl-C":  # the terminal sends SIGINT to the whole foreground job
                os.killpg(served.proc.pid, signal.SIGINT)
            else:
                served.proc.send_signal(getattr(signal, how))
            served.proc.wait(15)  # promptly: it closes its tabs rather than wait for their browsers
            assert wait_gone(apps, 15) == [], f"app processes outlived the server ({how})"
        finally:
            for session, ws in tabs:
                await ws.close()
                await session.close()


def page(served, host: str) -> str:
    """The page a browser gets when it reached the server as ``host``."""
    import time

    import httpx

    deadline = time.monotonic() + 30
    while True:  # the server says what it serves as it starts listening: a moment before it accepts
        try:
            return httpx.get(served.url, headers={"Host": host}, timeout=10).text
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_the_page_connects_back_to_the_address_the_browser_used_unless_a_public_url_is_given(db):
    with serving(db, "--host", "0.0.0.0", "--read-only") as served:
        # A wildcard host's name, a tunnel's port: whatever the browser used reaches the server.
        assert 'data-session-websocket-url="ws://seat.example:9000/ws"' in page(served, "seat.example:9000")
        here = f"127.0.0.1:{served.port}"
        assert f'data-session-websocket-url="ws://{here}/ws"' in page(served, here)
    with serving(db, "--read-only", "--public-url", "https://deck.example") as served:
        assert "swarmdeck serve: https://deck.example" in served.output
        assert 'data-session-websocket-url="wss://deck.example/ws"' in page(served, "anything:1")

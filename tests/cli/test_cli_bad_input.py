"""Bad input loses nothing and never kills a process: too deep or too big JSON, text that is not UTF-8,
an empty file given as the database, a disk that is read-only or full, and a --read-only seat asked
to write. Each is one line on stderr (a JSON object with --json) with the README's exit code, and
changes nothing. In this process (click's runner); the real process is in test_smoke.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from test_cli import expect_error, expect_json_error

from swarmdeck.store.sqlite import base


def nested(depth: int) -> object:
    value: object = 1
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def deep_file(tmp_path: Path, depth: int = 970, name: str = "deep.json") -> str:
    """'@path' of a file holding JSON ``depth`` lists deep (written as text: json.dumps would recurse)."""
    path = tmp_path / name
    path.write_text("[" * depth + "1" + "]" * depth)
    return f"@{path}"


def snapshot(db: Path) -> tuple[bytes, list[str]]:
    """The database's bytes and the files beside it (a -wal or -shm left behind would show)."""
    return db.read_bytes(), sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name + "-"))


# -- deep and big JSON ---------------------------------------------------------------------------------------


def test_deep_json_is_refused_in_one_line_and_every_reader_keeps_working(tmp_path, sd):
    deep = deep_file(tmp_path)
    # Refused as the file is read, naming the option given (the store names its field, input_data).
    expect_error(sd("task", "enqueue", "x", "--input", deep), 1,
                 "--input: nested deeper than 32 levels (limit 32)")
    expect_json_error(sd("--json", "task", "enqueue", "x", "--input", deep), 1, "invalid_argument",
                      "--input: nested deeper than 32 levels (limit 32)")
    # So deep that Python's own parser gives up: still one line.
    expect_error(sd("task", "enqueue", "x", "--input", "[" * 200_000 + "]" * 200_000), 1,
                 "--input: nested deeper than 32 levels (limit 32)")
    expect_error(sd("task", "enqueue", "x", "--input", "-", input="[" * 200_000), 1, "--input: nested deeper")
    ok = sd("--json", "task", "enqueue", "fine", "--input", json.dumps(nested(32)))
    assert ok.returncode == 0, ok.stderr
    assert sd("agent", "register", "w1", "--type", "general").returncode == 0
    for reader in (["task", "list"], ["task", "get", "1"], ["task", "status"], ["task", "claim", "--agent", "w1"]):
        got = sd("--json", *reader)
        assert got.returncode == 0 and got.stderr == "", (reader, got.stderr)
    assert json.loads(sd("--json", "task", "get", "1").stdout)["input_data"] == nested(32)
    expect_error(sd("task", "complete", "1", "--result", deep), 1, "--result: nested deeper than 32 levels")


@pytest.mark.parametrize("args, field", [
    (["memory", "add", "ns", "k", "DEEP", "--json-value"], "value"),
    (["memory", "add", "ns", "k", "v", "--meta", "DEEP_OBJECT"], "metadata"),
    (["session", "create", "--state", "DEEP_OBJECT"], "state"),
    (["session", "state", "s1", "--set", "DEEP_OBJECT"], "state"),
    (["session", "event", "s1", "--kind", "note", "--payload", "DEEP_OBJECT"], "payload"),
])
def test_deep_json_is_refused_by_every_command_that_takes_json(tmp_path, db, sd, args, field):
    assert sd("session", "create", "--id", "s1").returncode == 0
    deep, deep_object = deep_file(tmp_path), json.dumps({"d": nested(100)})
    args = [deep if a == "DEEP" else deep_object if a == "DEEP_OBJECT" else a for a in args]
    before = snapshot(db)
    expect_json_error(sd("--json", *args), 1, "invalid_argument", "nested deeper than 32 levels (limit 32)")
    assert snapshot(db) == before


def test_a_deep_report_file_is_refused(tmp_path, sd):
    assert sd("milestone", "add", "M1").returncode == 0
    report = tmp_path / "report.json"
    report.write_text('{"summary": "s", "criteria": [{"name": "c", "status": "met", "evidence": '
                      + "[" * 900 + "]" * 900 + "}]}")
    expect_error(sd("gate", "submit", "M1", "--file", str(report)), 1, "--file: nested deeper than 32 levels")


def test_big_values_are_refused_without_reading_them_whole(tmp_path, sd):
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * 5_000_000}))
    expect_json_error(sd("--json", "task", "enqueue", "x", "--input", f"@{big}"), 1, "invalid_argument",
                      "--input: more than 1000000 bytes of JSON, limit 1000000")
    expect_error(sd("task", "enqueue", "d" * (10 * 1024 * 1024)), 1,
                 f"description: {10 * 1024 * 1024} characters, limit 65536")
    expect_error(sd("memory", "add", "ns", "k", "-", input="v" * 2_000_000), 1,
                 "value: more than 1000000 characters, limit 1000000")
    doc = tmp_path / "doc.md"
    doc.write_text("word " * 1_000_000)
    expect_error(sd("document", "index", str(doc)), 1, "content: ", "characters, limit 1000000")
    assert json.loads(sd("--json", "task", "list").stdout) == []


# -- text that is not UTF-8 ----------------------------------------------------------------------------------


BAD = "\udcff\udcfe"  # what Python makes of the argv bytes \xff\xfe (surrogateescape)


@pytest.mark.parametrize("args", [
    ["task", "enqueue", BAD],
    ["task", "enqueue", "x", "--type", BAD],
    ["agent", "register", BAD, "--type", "coder"],
    ["memory", "add", "ns", "k", BAD],
    ["task", "list", "--type", BAD],
    ["agent", "get", BAD],
    ["memory", "get", BAD, "k"],
])
def test_arguments_that_are_not_utf8_are_one_line(sd, args):
    message = expect_error(sd(*args), 1, "not valid UTF-8")
    assert "\udcff" not in message
    expect_json_error(sd("--json", *args), 1, "invalid_argument", "not valid UTF-8")


# -- the database file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["task", "list"], ["--read-only", "task", "list"], ["task", "enqueue", "x"], ["events", "tail"],
])
def test_an_empty_file_is_not_turned_into_a_database(tmp_path, cli, args):
    empty = tmp_path / "empty.db"
    empty.touch()
    expect_error(cli("--db", empty, *args), 1, str(empty), "empty", "swarmdeck init")
    expect_json_error(cli("--db", empty, "--json", *args), 1, "database_missing", "empty")
    assert empty.stat().st_size == 0 and [p.name for p in tmp_path.iterdir()] == ["empty.db"]
    made = cli("--db", empty, "init")  # only init makes it one
    assert made.returncode == 0 and empty.stat().st_size > 0, made.stderr


# -- disks that refuse ---------------------------------------------------------------------------------------


def connect_with(monkeypatch, setup) -> None:
    original = base._connector
    monkeypatch.setattr(base, "_connector", lambda path: (lambda: setup(original(path), path)))


def test_a_full_disk_is_one_line(db, sd, monkeypatch):
    """SQLite's own SQLITE_FULL, raised by capping the database at the pages it has."""
    assert sd("task", "enqueue", "before").returncode == 0

    def full(make, path):
        conn = make()
        conn.execute("PRAGMA max_page_count = 1")
        return conn

    connect_with(monkeypatch, full)
    expect_error(sd("task", "enqueue", "x" * 60_000), 1, "full")
    expect_json_error(sd("--json", "task", "enqueue", "x" * 60_000), 1, "disk_full", str(db))
    monkeypatch.undo()
    assert [t["description"] for t in json.loads(sd("--json", "task", "list").stdout)] == ["before"]


def test_a_read_only_database_file_is_one_line(sd, monkeypatch):
    """SQLite's own SQLITE_READONLY, from opening the file read-only (as root, chmod stops nothing)."""
    import sqlean

    assert sd("task", "enqueue", "before").returncode == 0
    connect_with(monkeypatch, lambda make, path: sqlean.connect(
        f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False))
    expect_error(sd("task", "enqueue", "x"), 1, "read-only")
    expect_json_error(sd("--json", "agent", "register", "w", "--type", "t"), 1, "read_only_storage")
    assert sd("--json", "task", "list").returncode == 0


@contextlib.contextmanager
def mounted(*commands: list[str], target: Path):
    """Mount something for the test (root with CAP_SYS_ADMIN only, else skip); always unmounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    for cmd in commands:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
            pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_real_full_disk_is_one_line(tmp_path, cli):
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], target=disk):
        db = disk / "db"
        assert cli("--db", db, "init").returncode == 0
        filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)  # take what is left, to the last block
        with contextlib.suppress(OSError):
            while True:
                os.write(filler, b"\0" * 4096)
        os.close(filler)
        results = [cli("--db", db, "--json", "task", "enqueue", "x" * 60_000) for _ in range(3)]
        failed = [r for r in results if r.returncode != 0]
        assert failed, "the disk never filled"
        for r in failed:
            expect_json_error(r, 1, "disk_full", str(db))
        (disk / "filler").unlink()
        assert cli("--db", db, "--json", "task", "list").returncode == 0


def test_a_real_read_only_mount_is_one_line(tmp_path, cli):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "db"
    assert cli("--db", db, "init").returncode == 0
    assert cli("--db", db, "task", "enqueue", "before").returncode == 0
    with mounted(["mount", "--bind", str(folder), str(folder)],
                 ["mount", "-o", "remount,ro,bind", str(folder)], target=folder):
        # SQLite writes beside a WAL database (its -shm) even to read it: on a read-only disk even a read
        # fails, in one line that says why.
        for args in (["task", "enqueue", "x"], ["agent", "register", "w", "--type", "t"], ["task", "list"],
                     ["--read-only", "task", "list"]):
            message = expect_json_error(cli("--db", db, "--json", *args), 1, "read_only_storage", str(db))
            assert "read-only" in message, message
    assert [t["description"] for t in json.loads(cli("--db", db, "--json", "task", "list").stdout)] == ["before"]


# -- a read-only seat ----------------------------------------------------------------------------------------


@pytest.fixture
def swarm(tmp_path, sd):
    """A database with something for every verb to act on; closed (no -wal beside it)."""
    for args in (
        ["agent", "register", "a1", "--type", "coder"],
        ["task", "enqueue", "first"],
        ["task", "enqueue", "second"],
        ["task", "claim", "--agent", "a1"],
        ["milestone", "add", "M1"],
        ["gate", "submit", "M1", "--by", "a1", "--summary", "done"],
        ["memory", "add", "ns", "k", "v"],
        ["session", "create", "--id", "s1"],
        ["decision", "log", "--decision", "d", "--rationale", "r"],
    ):
        got = sd(*args)
        assert got.returncode == 0, (args, got.stderr)
    (tmp_path / "status.json").write_text(json.dumps({"agents": {"x": {"status": "idle"}}}))
    return sd


WRITES = [
    ["init"],
    ["task", "enqueue", "x"],
    ["task", "claim", "--agent", "a1"],
    ["task", "complete", "1", "--agent", "a1"],
    ["task", "fail", "1", "--error", "e"],
    ["task", "cancel", "2"],
    ["task", "retry", "1"],
    ["task", "priority", "2", "7"],
    ["task", "depend", "2", "--on", "1"],
    ["task", "reap"],
    ["agent", "register", "a2", "--type", "coder"],
    ["agent", "heartbeat", "a1"],
    ["agent", "update", "a1", "--status", "idle"],
    ["agent", "log", "a1", "--phase", "p", "--action", "a"],
    ["milestone", "add", "M2"],
    ["gate", "submit", "M1", "--summary", "again"],
    ["gate", "decide", "M1", "--decision", "APPROVE", "--rationale", "ok", "--reviewer", "alice"],
    ["gate", "resume"],
    ["gate", "close-condition", "1"],
    ["memory", "add", "ns", "k2", "v"],
    ["memory", "update", "ns", "k", "v2"],
    ["memory", "delete", "ns", "k"],
    ["memory", "restore", "ns", "k"],
    ["memory", "index"],
    ["failure", "log", "--feature", "f", "--approach", "a", "--why", "w", "--lesson", "l"],
    ["decision", "log", "--decision", "d2", "--rationale", "r"],
    ["record", "log", "pattern", "--field", "name=n", "--field", "description=d"],
    ["document", "index", "-", "--as", "doc.md"],
    ["session", "create"],
    ["session", "event", "s1", "--kind", "note"],
    ["session", "state", "s1", "--set", '{"a": 1}'],
    ["session", "status", "s1", "active"],
    ["watch-status", "STATUS", "--once"],
    ["demo"],
]

READS = [
    ["task", "list"], ["task", "get", "1"], ["task", "status"], ["task", "plan", "1", "2"],
    ["agent", "list"], ["agent", "get", "a1"], ["milestone", "list"], ["milestone", "show", "M1"],
    ["gate", "status", "M1"], ["events", "tail"], ["memory", "get", "ns", "k"], ["memory", "list"],
    ["memory", "history", "ns", "k"], ["memory", "search", "v", "--mode", "keyword"],
    ["memory", "status", "--embedder", "hash"], ["record", "list"], ["session", "get", "s1"],
    ["session", "events", "s1"], ["session", "state", "s1"],
]


def test_a_read_only_seat_refuses_every_write_and_changes_nothing(tmp_path, db, swarm):
    before = snapshot(db)
    env = {"SWARMDECK_EMBEDDER": "hash"}
    for args in WRITES:
        args = [str(tmp_path / "status.json") if a == "STATUS" else a for a in args]
        expect_json_error(swarm("--read-only", "--json", *args, input="doc text", env=env), 1,
                          "permission_denied", "read-only")
        expect_error(swarm("--read-only", *args, input="doc text", env=env), 1, "read-only")
        assert snapshot(db) == before, args
    for args in READS:
        got = swarm("--read-only", "--json", *args, env=env)
        assert got.returncode == 0 and got.stderr == "", (args, got.stderr)
    assert snapshot(db) == before


def test_a_read_only_seat_never_migrates(tmp_path, cli, monkeypatch):
    from swarmdeck.store.sqlite import schema

    db = tmp_path / "old.db"
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    assert cli("--db", db, "init").returncode == 0
    monkeypatch.undo()
    before = snapshot(db)
    for args in (["task", "list"], ["task", "enqueue", "x"], ["init"]):
        got = cli("--db", db, "--read-only", "--json", *args)
        assert got.returncode == 1 and len(got.stderr.splitlines()) == 1, got.stderr
        assert json.loads(got.stderr)["error"]["code"] in ("schema_outdated", "permission_denied")
    assert snapshot(db) == before
    assert cli("--db", db, "task", "list").returncode == 0  # a writing seat migrates it


# -- anything else -------------------------------------------------------------------------------------------


def test_an_unexpected_failure_is_still_one_line(sd, monkeypatch):
    from swarmdeck.store.sqlite import SQLiteStore

    async def broken(self, *args, **kwargs):
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(SQLiteStore, "list_tasks", broken)
    expect_error(sd("task", "list"), 1, "something nobody planned for")
    expect_json_error(sd("--json", "task", "list"), 1, "internal_error", "RuntimeError")

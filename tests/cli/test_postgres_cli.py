"""The CLI on a PostgreSQL swarm: `--db postgresql://...` (or $SWARMDECK_DB) is the same CLI, the same
results and the same errors as on a SQLite file; a password in the URL is never printed."""

from __future__ import annotations

import json

from swarmdeck.store import describe


def test_an_agents_loop_runs_through_the_cli_on_postgresql(pg_database, run_sd):
    def sdj(*args):
        out = run_sd("--db", pg_database, "--json", *args)
        assert out.returncode == 0, f"{args}: {out.stderr}"
        return json.loads(out.stdout)

    assert sdj("init")["schema_version"] >= 1
    sdj("agent", "register", "bot-1", "--type", "coder")
    first = sdj("task", "enqueue", "lay the [bold]schema[/]", "--type", "coder")["id"]
    second = sdj("task", "enqueue", "build on it", "--type", "coder", "--after", str(first))["id"]
    claimed = sdj("task", "claim", "--agent", "bot-1", "--type", "coder")
    assert claimed["id"] == first and claimed["description"] == "lay the [bold]schema[/]"
    assert sdj("task", "get", str(second))["status"] == "blocked"
    sdj("task", "complete", str(first), "--agent", "bot-1")
    assert sdj("task", "get", str(second))["status"] == "ready"
    tail = run_sd("--db", pg_database, "--json", "events", "tail")
    kinds = [json.loads(line)["kind"] for line in tail.stdout.splitlines()]
    assert "task.completed" in kinds and "task.claimed" in kinds, tail.stderr

    # The same errors, with their exit codes.
    missing = run_sd("--db", pg_database, "task", "get", "9999")
    assert missing.returncode == 3 and "9999" in missing.stderr
    unregistered = run_sd("--db", pg_database, "task", "claim", "--agent", "nobody")
    assert unregistered.returncode == 3 and "swarmdeck agent register nobody" in unregistered.stderr


def test_a_read_only_seat_on_postgresql_changes_nothing(pg_database, run_sd):
    assert run_sd("--db", pg_database, "init").returncode == 0
    out = run_sd("--db", pg_database, "--read-only", "task", "enqueue", "x")
    assert out.returncode == 1 and "read-only" in out.stderr


def test_the_database_is_described_without_its_password():
    assert describe("postgresql://bot:s3cret@db.example:5433/swarm?sslmode=require&password=x") == (
        "postgresql://bot@db.example:5433/swarm")
    assert describe("sqlite:///swarm.db") == "swarm.db"


def test_an_unreachable_server_is_one_line_without_the_password(run_sd):
    out = run_sd("--db", "postgresql://bot:s3cret@127.0.0.1:1/swarm?connect_timeout=2", "task", "list")
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "s3cret" not in out.stderr and "127.0.0.1" in out.stderr


def test_the_audit_trail_is_verified_through_the_cli_on_postgresql(pg_database, run_sd):
    """`audit head` and `audit verify` on PostgreSQL: an event's id is its place in the sealed chain, and
    an edit by the database's owner (triggers disabled) is named as on a SQLite file."""
    import psycopg

    def sd(*args):
        return run_sd("--db", pg_database, *args)

    assert sd("init").returncode == 0
    assert sd("agent", "register", "bot-1", "--type", "coder").returncode == 0
    for i in range(3):
        assert sd("task", "enqueue", f"task {i}").returncode == 0
    head = sd("audit", "head")
    assert head.returncode == 0 and head.stdout.startswith("4:"), head.stderr
    intact = sd("audit", "verify", "--head", head.stdout.strip())
    assert intact.returncode == 0 and intact.stdout.startswith("audit trail intact: 4 events"), intact.stderr
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        conn.execute("""UPDATE events SET payload = '{"description":"rm -rf"}' WHERE seq = 2""")
    broken = sd("audit", "verify")
    assert broken.returncode == 1 and broken.stdout.startswith("AUDIT TRAIL BROKEN at event 2: content changed")

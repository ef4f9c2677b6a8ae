"""`swarmdeck db migrate --from SQLITE --to postgresql://...`: the report on stdout (or --json), exit 0
when every table matches, 1 when the target is refused or a table differs."""

from __future__ import annotations

import json

import psycopg


def some_swarm(sdj) -> None:
    sdj("agent", "register", "builder-1", "--type", "coder")
    first = sdj("task", "enqueue", "lay the schema")["id"]
    sdj("task", "enqueue", "write the copy", "--after", str(first))
    sdj("agent", "heartbeat", "builder-1", "--status", "idle")


def test_a_swarm_migrates_and_the_report_says_every_table_matches(db, sdj, run_sd, pg_database):
    some_swarm(sdj)
    out = run_sd("db", "migrate", "--from", f"sqlite:///{db}", "--to", pg_database, "--batch", "2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["table", "sqlite", "postgres", "checksum"]
    assert any(line.split()[:3] == ["tasks", "2", "2"] for line in lines)
    assert lines[-1] == "every table matches"

    again = run_sd("db", "migrate", "--from", str(db), "--to", pg_database)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.startswith("swarmdeck: the target already holds swarmdeck data")

    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE tasks SET description = 'tampered' WHERE id = 2")
    forced = run_sd("--db", db, "--json", "db", "migrate", "--to", pg_database, "--force")  # from --db
    assert forced.returncode == 1, forced.stderr
    report = json.loads(forced.stdout)
    assert report["ok"] is False
    bad = [t for t in report["tables"] if not t["ok"]]
    assert [(t["table"], t["first_difference"]) for t in bad] == [("tasks", 2)]
    assert "description" in bad[0]["detail"]


def test_the_target_must_be_a_postgresql_url(db, run_sd):
    out = run_sd("--json", "db", "migrate", "--from", str(db), "--to", "sqlite:///elsewhere.db")
    assert out.returncode == 1
    assert json.loads(out.stderr)["error"]["message"].startswith("--to must be a PostgreSQL URL")

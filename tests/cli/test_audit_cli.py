"""`swarmdeck audit verify` and `audit head`: one line, exit 0 when the trail is intact, 1 when it is not."""

from __future__ import annotations

import json
import re
from contextlib import closing

import sqlean


def tamper(db, *statements: str) -> None:
    """Edit the file as an agent with write access could: drop the event log's triggers first."""
    with closing(sqlean.connect(str(db), isolation_level=None)) as conn:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"
        ).fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        for sql in statements:
            conn.execute(sql)


def some_activity(sdj) -> int:
    sdj("agent", "register", "builder-1", "--type", "coder")
    for i in range(6):
        sdj("task", "enqueue", f"task {i}")
    sdj("agent", "heartbeat", "builder-1", "--status", "idle")
    return sdj("audit", "head")["id"]


def test_an_intact_trail_verifies_in_one_line(sd, sdj):
    latest = some_activity(sdj)
    out = sd("audit", "verify")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n") == 1 and out.stderr == ""
    assert out.stdout.startswith(f"audit trail intact: {latest} events")
    result = sdj("audit", "verify")
    assert result["ok"] is True and result["checked"] == latest and result["broken_at"] is None


def test_an_edited_event_is_named_and_exits_1(db, sd, sdj):
    some_activity(sdj)
    tamper(db, 'UPDATE events SET payload = \'{"description":"rm -rf"}\' WHERE id = 4')
    out = sd("audit", "verify")
    assert out.returncode == 1
    assert out.stdout.count("\n") == 1 and out.stderr == ""
    assert out.stdout.startswith("AUDIT TRAIL BROKEN at event 4: content changed")
    result = sd("--json", "audit", "verify")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert (data["ok"], data["broken_at"], data["problem"]) == (False, 4, "content_changed")


def test_a_cut_is_named_and_exits_1(db, sd, sdj):
    some_activity(sdj)
    tamper(db, "DELETE FROM events WHERE id BETWEEN 3 AND 5")
    out = sd("audit", "verify")
    assert out.returncode == 1 and out.stdout.count("\n") == 1
    assert out.stdout.startswith("AUDIT TRAIL BROKEN at event 3: events 3-5 are missing")


def test_a_recorded_head_catches_a_cut_tail(db, sd, sdj):
    some_activity(sdj)
    head = sd("audit", "head")
    assert head.returncode == 0 and re.fullmatch(r"\d+:[0-9a-f]{64}\n", head.stdout), head.stdout
    recorded = head.stdout.strip()
    assert sd("audit", "verify", "--head", recorded).returncode == 0
    latest = int(recorded.split(":")[0])
    tamper(db, f"DELETE FROM events WHERE id = {latest}")
    assert sd("audit", "verify").returncode == 0  # the shorter chain is consistent by itself
    out = sd("audit", "verify", "--head", recorded)
    assert out.returncode == 1 and out.stdout.count("\n") == 1
    assert out.stdout.startswith(f"AUDIT TRAIL BROKEN at event {latest}: ")


def test_a_malformed_head_is_a_usage_error(sd, sdj):
    some_activity(sdj)
    out = sd("audit", "verify", "--head", "12:nothex")
    assert out.returncode == 2 and out.stdout == ""
    assert "ID:HASH" in out.stderr and out.stderr.count("\n") == 1

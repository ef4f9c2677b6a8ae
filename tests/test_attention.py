"""What waits on a person (store/attention.py), how they are told (app/notify.py), and `swarmdeck
attention` / `swarmdeck watch` with a webhook against a local HTTP server."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from pathlib import Path

import pytest

from swarmdeck.app import notify
from swarmdeck.store import open_store
from swarmdeck.store.attention import AttentionKind, Urgency, attention

from signing_support import decide, register
from support import FakeClock, invoke


async def test_each_cause_is_an_item_until_it_is_gone(store, clock: FakeClock):
    """A gate in review, a silent agent holding a task and a task failed for good (with what waits
    behind it) are items, most urgent first; each leaves when its cause is gone."""
    assert await attention(store) == []
    await store.register_agent("a1", agent_type="coder", stale_after_seconds=60)
    await store.register_agent("validator", agent_type="validation")
    await register(store, "alice")
    await store.add_milestone("M1")
    await store.add_milestone("M2")
    doomed = await store.enqueue_task(description="build", milestone="M1")
    waits = await store.enqueue_task(description="test", milestone="M1", prerequisites=[doomed.id])
    await store.claim_task(agent="a1")
    await store.fail_task(doomed.id, agent="a1", error="compiler crashed\nwith a long trace", retry=False)
    held = await store.enqueue_task(description="also", milestone="M1")
    await store.claim_task(agent="a1")  # holds `held`
    clock.advance(120)  # a1 is now silent for longer than it promised
    await store.submit_report("M1", submitted_by="validator", summary="done")

    items = await attention(store)
    kinds = [(i.kind, i.urgency) for i in items]
    assert kinds[0] == (AttentionKind.TASK_FAILED, Urgency.CRITICAL)  # a task waits behind it
    assert {k for k, _ in kinds} == {AttentionKind.TASK_FAILED, AttentionKind.STALE_AGENT, AttentionKind.GATE_REVIEW}
    failed = items[0]
    assert failed.title == f"task {doomed.id} failed for good: compiler crashed; 1 task(s) wait behind it"
    assert (failed.entity, failed.entity_id) == ("task", doomed.id)
    stale = next(i for i in items if i.kind is AttentionKind.STALE_AGENT)
    assert (stale.entity, stale.entity_id, stale.key) == ("agent", "a1", f"stale:a1:{held.id}")
    assert stale.age(clock.now) == pytest.approx(120)
    gate = next(i for i in items if i.kind is AttentionKind.GATE_REVIEW)
    assert gate.title == "M1: report v1 by validator awaits review (0/1 approvals)"

    await decide(store, "M1", reviewer="alice", decision="APPROVE", rationale="good enough")
    await store.heartbeat("a1")
    await store.retry_task(doomed.id)
    assert await attention(store) == []
    assert (await store.get_task(waits.id)).held_by is None  # it waits on the retried task again


async def test_a_paused_swarm_is_the_most_urgent(store):
    await store.register_agent("validator", agent_type="validation")
    await register(store, "alice")
    await store.add_milestone("M1")
    await store.submit_report("M1", submitted_by="validator")
    await decide(store, "M1", reviewer="alice", decision="ESCALATE", rationale="security review needed")
    items = await attention(store)
    assert items[0].kind is AttentionKind.SWARM_PAUSED and items[0].urgency is Urgency.CRITICAL
    assert "security review needed" in items[0].title


def test_notifications_carry_no_control_characters_and_pass_through_tmux():
    hostile = "done\x1b]52;c;ZXZpbA==\x07 \x9b31m[bold]x\u202e\x00"
    line = notify.plain_line(hostile)
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in line) and "\u202e" not in line
    assert line == "done ]52;c;ZXZpbA== 31m[bold]x"
    bare = notify.desktop_sequence("swarmdeck", hostile, env={"TERM": "xterm-256color"})
    assert bare.startswith("\x1b]9;swarmdeck: done ") and bare.endswith("\x07") and bare.count("\x1b") == 1
    kitty = notify.desktop_sequence("t", "b", env={"TERM": "xterm-kitty"})
    assert kitty == "\x1b]99;;t: b\x1b\\"
    vte = notify.desktop_sequence("a;b", "c;d", env={"VTE_VERSION": "7600"})
    assert vte == "\x1b]777;notify;a,b;c,d\x07"
    wrapped = notify.desktop_sequence("t", "b", env={"TERM": "screen", "TMUX": "/tmp/tmux-0/default,1,0"})
    assert wrapped == "\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\"


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_first = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
        else:
            type(self).received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook():
    _Hook.received, _Hook.fail_first = [], 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook
    finally:
        server.shutdown()
        server.server_close()


def _swarm_with_a_failure(db: Path) -> None:
    async def build():
        store = await open_store(db, create=True)
        try:
            await store.register_agent("a1", agent_type="coder")
            t = await store.enqueue_task(description="build")
            await store.claim_task(agent="a1")
            await store.fail_task(t.id, agent="a1", error="boom \x1b[31m[bold]red", retry=False)
        finally:
            await store.close()

    asyncio.run(build())


def test_watch_posts_each_new_item_once_even_after_a_restart(tmp_path, hook, monkeypatch):
    monkeypatch.setattr("swarmdeck.app.cli.attention.WEBHOOK_BACKOFF_S", 0.01)
    url, handler = hook
    db = tmp_path / "swarm.db"
    _swarm_with_a_failure(db)
    handler.fail_first = 2  # the receiver is down for a moment: retried, then delivered
    ran = invoke("--db", db, "watch", "--once", "--webhook", url)
    assert ran.returncode == 0, ran.stderr
    assert len(handler.received) == 1
    sent = handler.received[0]
    assert sent["kind"] == "task_failed" and sent["urgency"] == "high" and sent["entity"] == "task"
    assert sent["title"].startswith("task 1 failed for good: boom")
    assert "new  high" in ran.stdout and "\x1b" not in ran.stdout
    again = invoke("--db", db, "watch", "--once", "--webhook", url)  # a restart: nothing twice
    assert again.returncode == 0 and len(handler.received) == 1 and again.stdout == ""
    state = json.loads((tmp_path / "swarm.db.watch.json").read_text())
    assert state == {"sent": ["failed:1:0"]}


def test_watch_slack_style_and_a_receiver_that_stays_down(tmp_path, hook, monkeypatch):
    monkeypatch.setattr("swarmdeck.app.cli.attention.WEBHOOK_BACKOFF_S", 0.01)
    url, handler = hook
    db = tmp_path / "swarm.db"
    _swarm_with_a_failure(db)
    handler.fail_first = 100
    down = invoke("--db", db, "watch", "--once", "--webhook", url, "--webhook-style", "slack")
    assert down.returncode == 0 and handler.received == []
    assert "not delivered (HTTP 503); tried again at the next poll" in down.stdout
    handler.fail_first = 0
    up = invoke("--db", db, "watch", "--once", "--webhook", url, "--webhook-style", "slack")
    assert up.returncode == 0
    assert handler.received == [{"text": "[swarmdeck HIGH] task 1 failed for good: boom [31m[bold]red"}]


def test_attention_lists_what_waits_and_refuses_a_bad_webhook(tmp_path):
    db = tmp_path / "swarm.db"
    _swarm_with_a_failure(db)
    listed = invoke("--db", db, "attention")
    assert listed.returncode == 0 and "task 1 failed for good: boom" in listed.stdout
    assert "\x1b" not in listed.stdout
    as_json = invoke("--db", db, "attention", "--json")
    assert json.loads(as_json.stdout.splitlines()[0])["key"] == "failed:1:0"
    bad = invoke("--db", db, "watch", "--once", "--webhook", "file:///etc/passwd")
    assert bad.returncode == 2 and "http:// or https://" in bad.stderr


async def test_a_gate_past_its_review_deadline_escalates_and_is_never_decided(store, clock: FakeClock):
    """A milestone may say how long its report may wait; past that the item is critical, under a key
    of its own (a watcher tells once more), and the gate is still waiting: nothing decided it."""
    await store.register_agent("validator", agent_type="validation")
    m = await store.add_milestone("M1", review_within_seconds=3600)
    assert m.review_within_seconds == 3600
    await store.submit_report("M1", submitted_by="validator")
    clock.advance(1800)
    item = (await attention(store))[0]
    assert (item.urgency, item.key) == (Urgency.HIGH, f"gate:{m.id}:v1")
    clock.advance(3600)
    item = (await attention(store))[0]
    assert (item.urgency, item.key) == (Urgency.CRITICAL, f"gate:{m.id}:v1:overdue")
    assert item.title.endswith("; OVERDUE by 30 min (review within 60 min)")
    assert (await store.gate_status("M1")).decisions == ()
    with pytest.raises(Exception, match="review_within_seconds must be a positive number"):
        await store.add_milestone("M2", review_within_seconds=0)


def test_milestone_add_takes_a_review_deadline(tmp_path):
    db = tmp_path / "swarm.db"
    assert invoke("--db", db, "init").returncode == 0
    added = invoke("--db", db, "--json", "milestone", "add", "M1", "--review-within", "24h")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["review_within_seconds"] == 86400
    bad = invoke("--db", db, "milestone", "add", "M2", "--review-within", "soon")
    assert bad.returncode == 2


def test_the_terminal_is_read_from_the_environment_through_the_settings(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-kitty")
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    assert notify.protocol_for() == "osc99"
    assert notify.desktop_sequence("t", "b").startswith("\x1bPtmux;\x1b\x1b]99;;t: b")


async def test_a_blocker_reported_for_over_a_day_needs_a_person(store, clock: FakeClock):
    """Each blocker keeps the time it was first reported while the agent keeps reporting it; past a
    day it is an item, and it goes when the agent stops reporting it."""
    await store.register_agent("a1", agent_type="coder", stale_after_seconds=10 * 86400)
    agent = await store.heartbeat("a1", blockers=["waiting for the staging database"])
    first = agent.blockers_since[0]
    assert first is not None and first.timestamp() == clock.now
    clock.advance(20 * 3600)
    agent = await store.heartbeat("a1", blockers=["waiting for the staging database", "flaky CI"])
    assert [s.timestamp() for s in agent.blockers_since] == [first.timestamp(), clock.now]
    assert await attention(store) == []
    clock.advance(5 * 3600)
    await store.heartbeat("a1")  # a bare heartbeat changes no blocker
    items = await attention(store)
    assert [(i.kind, i.title) for i in items] == [
        (AttentionKind.OLD_BLOCKER, "agent a1 has been blocked for 25.0 h: waiting for the staging database")]
    await store.heartbeat("a1", blockers=["flaky CI"])
    assert await attention(store) == []


async def test_a_bridged_swarm_s_critical_issues_and_failing_quality_gates_need_a_person(store, clock, tmp_path):
    """A coordination_status.json's critical_issues and failing quality_gates are items (through the real
    bridge), aged from the version that first reported them; gone when the file stops reporting them,
    and news again (a new key) if they come back. Agent text stays text."""
    from swarmdeck.app.status_bridge import StatusBridge
    from swarmdeck.store.attention import counts

    path = tmp_path / "coordination_status.json"
    bridge = StatusBridge(store, path)

    def status(issues, gates):
        path.write_text(json.dumps({"phase": "1", "agents": {"db": {"status": "in_progress"}},
                                    "quality_gates": gates, "critical_issues": issues}))

    status([], {"e2e": "pending"})
    await bridge.poll()
    assert await attention(store) == []

    hostile = "Redis drops messages [bold red]x[/] \x1b]52;c;ZXZpbA==\x07"
    status([hostile, {"title": "migration corrupts rows", "owner": "db"}], {"e2e": "failed", "unit": "passed"})
    await bridge.poll()
    clock.advance(3600)
    status([hostile, {"title": "migration corrupts rows", "owner": "db"}, "disk full"],
           {"e2e": {"status": "FAILING", "runs": 3}, "unit": "passed"})
    await bridge.poll()

    items = await attention(store)
    issues = [i for i in items if i.kind is AttentionKind.SWARM_ISSUE]
    gates = [i for i in items if i.kind is AttentionKind.QUALITY_GATE]
    assert {i.title for i in issues} == {
        f"critical issue reported by status-bridge: {hostile}",
        "critical issue reported by status-bridge: migration corrupts rows",
        "critical issue reported by status-bridge: disk full"}
    assert all(i.urgency is Urgency.CRITICAL and i.entity == "memory" for i in issues)
    ages = {i.title.rpartition(": ")[2]: i.age(clock.now) for i in issues}
    assert ages["migration corrupts rows"] == pytest.approx(3600) and ages["disk full"] == pytest.approx(0)
    assert [(g.title, g.urgency) for g in gates] == [
        ("quality gate e2e is FAILING (reported by status-bridge)", Urgency.HIGH)]
    assert gates[0].age(clock.now) == pytest.approx(3600)  # failing since the first version that said so
    assert gates[0].entity_id == "bridge:coordination_status/quality_gates"
    assert counts(items) == ((("critical", 3, 3), ("checks failing", 1, 2)), 0)

    # Fixed: gone. Failing again later: a new item (a watcher tells a person again).
    first_key = gates[0].key
    status([], {"e2e": "passed"})
    await bridge.poll()
    assert await attention(store) == []
    status([], {"e2e": "failed"})
    await bridge.poll()
    again = await attention(store)
    assert [i.kind for i in again] == [AttentionKind.QUALITY_GATE] and again[0].key != first_key

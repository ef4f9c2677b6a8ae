"""How the screens read the change feed: by kind and typed payload (store/events.py), for the agents'
activity, a task's history and the screens' choice of what to reload. Pure: no app, no store."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from swarmdeck.app.screens.agents import activity_line
from swarmdeck.app.screens.milestones import _books_hours
from swarmdeck.store.models import Event

TS = datetime(2026, 1, 1, 12, 30, 5, tzinfo=timezone.utc)


def event(kind: str, payload: dict, entity: str = "task", entity_id: str | None = "7") -> Event:
    return Event(1, TS, "a1", kind, entity, entity_id, payload)


def styles(text) -> set[str]:
    return {str(span.style) for span in text.spans}


class TestActivityLine:
    def test_an_action_with_its_duration_and_error(self):
        payload = {"phase": "build", "action": "compile", "duration_ms": 12.4, "success": False,
                   "error_message": "linker"}
        line = activity_line(event("agent.action", payload, "agent", "a1"))
        assert line.plain.endswith("agent.action           build/compile 12 ms  linker")
        assert "red" in styles(line)

    def test_a_long_action_says_its_duration_in_seconds_and_minutes(self):
        for ms, said in ((999.0, "999 ms"), (1200, "1.2s"), (563793, "9m24s"), (7_380_000, "2h03m")):
            line = activity_line(event("agent.action", {"phase": "review", "action": "complete #173",
                                                        "duration_ms": ms, "success": True}, "agent", "a1"))
            assert line.plain.endswith(f"review/complete #173 {said}"), line.plain

    def test_a_heartbeat_says_what_changed_in_order(self):
        line = activity_line(event("agent.heartbeat", {"status": "working", "completion": 50.0,
                                                        "blockers": ["x"]}, "agent", "a1"))
        assert line.plain.endswith("status=working, completion=50.0, blockers=['x']")
        bare = activity_line(event("agent.heartbeat", {}, "agent", "a1"))
        assert bare.plain.endswith("agent.heartbeat       ")

    def test_a_failure_shows_its_error_in_the_failed_colour(self):
        line = activity_line(event("task.failed", {"agent": "a1", "error": "boom\x1b[31m", "duration_s": 3}))
        assert " task 7  boom\\x1b[31m" in line.plain  # agent text: escapes shown, never acted on
        assert "bold red" in styles(line)
        retried = activity_line(event("task.retried", {"retry": 1, "manual": True}))
        assert retried.plain.endswith("task.retried           task 7")

    def test_an_escalation_names_the_debugging_task_and_shows_the_note_literally(self):
        line = activity_line(event("task.escalated", {"agent": "a1", "debug_task": 9, "agent_type": "debugger",
                                                       "note": "[bold]KeyError[/bold]\x1b[31m"}))
        assert "task 7 → task 9 (debugger): [bold]KeyError[/bold]\\x1b[31m" in line.plain
        heartbeat = activity_line(event("agent.heartbeat", {"activity": "[@click=app.quit]Validating[/]"},
                                        "agent", "a1"))
        assert heartbeat.plain.endswith("activity=[@click=app.quit]Validating[/]")

    def test_a_memory_written_says_which_entry_and_version_literally(self):
        added = activity_line(event("memory.added", {"namespace": "project:x", "key": "gate-protocol",
                                                     "version": 1}, "memory", "12"))
        assert added.plain.endswith("memory.added           project:x/gate-protocol v1")
        updated = activity_line(event("memory.updated", {"namespace": "p", "key": "[@click=app.quit]k[/]\x1b[2J",
                                                         "version": 3}, "memory", "12"))
        assert updated.plain.endswith("p/[@click=app.quit]k[/]\\x1b[2J v3")
        deleted = activity_line(event("memory.deleted", {"namespace": "p", "key": "k"}, "memory", "12"))
        assert deleted.plain.endswith("memory.deleted         p/k")

    def test_an_old_row_without_its_keys_still_reads(self):
        line = activity_line(event("agent.action", {}, "agent", "a1"))
        assert line.plain.endswith("None/None")


class TestWhatMovesTheMilestones:
    def test_task_events_that_name_a_milestone(self):
        assert _books_hours(event("task.completed", {"agent": "a1", "milestone_id": 2}))
        assert _books_hours(event("task.retried", {"retry": 1, "milestone_id": 2}))
        assert not _books_hours(event("task.completed", {"agent": "a1", "milestone_id": None}))
        assert not _books_hours(event("task.claimed", {"agent": "a1"}))
        assert not _books_hours(event("memory.added", {"milestone_id": 2}, "memory"))


def test_no_face_of_the_dashboard_reads_the_feed_by_strings():
    """Screens, widgets, modals and the poller match on EventKind and typed payloads (store/events.py):
    no kind spelt as a string, no prefix test on a kind, no payload read by a guessed key."""
    root = Path(__file__).resolve().parents[2]
    files = [*root.glob("app/screens/*.py"), *root.glob("app/modals/*.py"), *root.glob("widgets/*.py"),
             root / "app" / "poller.py", root / "app" / "tui.py", root / "app" / "replay_seat.py",
             root / "app" / "attention_seat.py", root / "store" / "charts.py"]
    entities = "task|agent|reviewer|gate|milestone|swarm|session|memory|record|document|index"
    # A kind spelt out (a binding's id, `id="memory.search"`, only looks like one).
    by_string = re.compile(rf"""(?<!id=)["']({entities})\.[a-z_]+["']"""
                           r"""|\.payload\s*(\.get\b|\[)"""  # a payload key guessed
                           r"""|kind\.(startswith|removeprefix|split)""")  # a kind cut apart
    found = [f"{path.relative_to(root)}:{number}: {line.strip()}"
             for path in files for number, line in enumerate(path.read_text().splitlines(), 1)
             if by_string.search(line)]
    assert not found, "\n".join(found)

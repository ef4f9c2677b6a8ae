"""The dashboard's replay mode: the marker, the keys, every write refused, play, jumping, leaving.

The history engine (store/replay) is not needed here: a fake replay over the seeded swarm opened
read-only, whose point moves over the real event ids and whose clock stands at the point's time."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, RichLog, Static

from swarmdeck.app.modals.decision import DecisionModal
from swarmdeck.app.modals.enqueue import EnqueueModal
from swarmdeck.app.modals.help import HelpModal
from swarmdeck.app.modals.seek import SeekModal
from swarmdeck.app.replay_mode import MAX_IDLE_S, MIN_FRAME_S, marker, pace, parse_target, step_speed
from swarmdeck.app.screens.agents import AgentsScreen
from swarmdeck.app.screens.queue import QueueScreen
from swarmdeck.store import Event, open_store
from swarmdeck.store.errors import PermissionDenied
from swarmdeck.store.replay import ReplayPoint, Step
from swarmdeck.widgets.status_bar import StatusBar
from ui_support import NOW, db_call, laid_out, loaded, make_app, plain, rows, screen_text, settle, static_text, \
    wait_for

SIZE = (120, 40)

KINDS = {Step.DECISION: {"gate.decided"}, Step.FAILURE: {"task.failed"}, Step.REPORT: {"gate.report_submitted"},
         Step.STALE: set()}


class FakeReplay:
    """The seeded swarm as it stands, opened read-only, with a point that moves over its event ids: the
    state does not change with the point (no engine here), the clock and the marker do."""

    def __init__(self, events: list[Event], at: int | datetime | None) -> None:
        self.events = events
        self.index = len(events) - 1
        self.closed = False
        self.moves: list[int] = []
        self._store = None
        self._to(at)

    @classmethod
    async def open(cls, path: Path, at: int | datetime | None = None) -> FakeReplay:
        events = await db_call(path, "changes_since", 0, limit=100_000)
        replay = cls(events, at)
        replay._store = await open_store(path, read_only=True, clock=lambda: replay.point.ts.timestamp())
        return replay

    def _to(self, to: int | datetime | None) -> None:
        if to is None:
            self.index = len(self.events) - 1
        elif isinstance(to, int):
            self.index = max((i for i, e in enumerate(self.events) if e.id <= to), default=0)
        else:
            self.index = max((i for i, e in enumerate(self.events) if e.ts <= to), default=0)

    @property
    def point(self) -> ReplayPoint:
        e = self.events[self.index]
        return ReplayPoint(event_id=e.id, ts=e.ts, kind=str(e.kind), first_id=self.events[0].id,
                           last_id=self.events[-1].id)

    @property
    def store(self):
        return self._store

    async def seek(self, to: int | datetime) -> ReplayPoint:
        self._to(to)
        self.moves.append(self.point.event_id)
        return self.point

    async def step(self, by: Step = Step.EVENT, *, forward: bool = True) -> ReplayPoint:
        order = range(self.index + 1, len(self.events)) if forward else range(self.index - 1, -1, -1)
        for i in order:
            if by is Step.EVENT or str(self.events[i].kind) in KINDS[by]:
                self.index = i
                break
        self.moves.append(self.point.event_id)
        return self.point

    async def close(self) -> None:
        self.closed = True
        await self._store.close()


class Opener:
    """The app's ``replay_opener``: remembers the replays it opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.opened: list[FakeReplay] = []

    async def __call__(self, at: int | datetime | None) -> FakeReplay:
        replay = await FakeReplay.open(self.path, at)
        self.opened.append(replay)
        return replay


def bar_text(app) -> str:
    return app.screen.query_one(StatusBar).render().plain


async def events_of(path: Path) -> list[Event]:
    return await db_call(path, "changes_since", 0, limit=100_000)


def replay_app(path: Path, at: int | datetime | None | bool = True, **kw):
    opener = Opener(path)
    app = make_app(path, replay_opener=opener, replay_at=at, **kw)
    return app, opener


async def in_replay(pilot, event_id: int | None = None) -> None:
    await loaded(pilot)
    if event_id is not None:
        await wait_for(pilot, lambda: pilot.app.replay_point and pilot.app.replay_point.event_id == event_id,
                       what=f"replay at event {event_id}")
    await settle(pilot)


async def on_screen(pilot, key: str) -> None:
    """The app loaded, then the screen behind ``key`` loaded."""
    await loaded(pilot)
    await pilot.press(key)
    await loaded(pilot)


# -- what the mode decides without Textual -------------------------------------------------------------


def test_play_waits_the_real_spacing_divided_by_the_speed_within_a_frame_and_a_cap() -> None:
    t = datetime(2026, 12, 3, 14, 0, tzinfo=timezone.utc)
    assert pace(t, t + timedelta(seconds=10), 10) == 1.0
    assert pace(t, t, 10) == MIN_FRAME_S  # simultaneous events still get a frame each
    assert pace(t, t + timedelta(hours=8), 10) == MAX_IDLE_S  # a quiet night never stalls play
    assert step_speed(10, 1) == 30 and step_speed(10, -1) == 5 and step_speed(1, -1) == 1


def test_a_target_is_an_event_id_or_a_time_and_anything_else_says_what_is_accepted(monkeypatch) -> None:
    day = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
    assert parse_target("1234") == 1234 and parse_target(" #7 ") == 7
    assert parse_target("14:32:05", day=day) == datetime(2026, 12, 3, 14, 32, 5, tzinfo=timezone.utc)
    assert parse_target("14:32", day=day) == datetime(2026, 12, 3, 14, 32, tzinfo=timezone.utc)
    assert parse_target("2026-12-01 08:00:00+00:00") == datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
    assert parse_target("2026-12-01T08:00") == datetime(2026, 12, 1, 8, tzinfo=timezone.utc)  # as the CLI reads it
    assert abs(parse_target("2h").timestamp() - (time.time() - 7200)) < 60  # how long ago
    for bad in ("yesterday", "25:00", "0", "[bold]1[/bold]"):
        with pytest.raises(ValueError, match="event id|time"):
            parse_target(bad)
    with pytest.raises(ValueError, match="no event id: too large") as huge:  # not Python's int limit
        parse_target("9" * 100_000)
    assert len(str(huge.value)) < 100  # said back in one short line
    with pytest.raises(ValueError, match="neither an event id nor a time") as long:
        parse_target("[" * 10_000)
    assert len(str(long.value)) < 400


def test_the_marker_says_replay_the_time_and_the_event() -> None:
    point = ReplayPoint(event_id=1234, ts=datetime(2026, 12, 3, 14, 32, 5, tzinfo=timezone.utc),
                        kind="task.failed", first_id=1, last_id=2000)
    assert marker(point) == "REPLAY 14:32:05 · event 1234 task.failed"
    assert marker(point, playing=True, speed=30).endswith("· ▶ 30×")


# -- the marker and the moves ------------------------------------------------------------------------------


async def test_replay_shows_the_marker_on_every_screen_and_ages_as_of_the_point(seeded) -> None:
    events = await events_of(seeded.path)
    first_heartbeat = next(e for e in events if e.kind == "agent.heartbeat" and e.entity_id == "researcher-2")
    app, opener = replay_app(seeded.path, first_heartbeat.id)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot, first_heartbeat.id)
        when = first_heartbeat.ts.strftime("%H:%M:%S")
        for key in "12345":
            await pilot.press(key)
            await loaded(pilot)
            assert f"REPLAY {when} · event {first_heartbeat.id} agent.heartbeat" in bar_text(app), key
            assert "LIVE" not in bar_text(app)
        await pilot.press("3")
        await loaded(pilot)
        # The clock stands at the heartbeat: researcher-2's is "0s ago" there (it is 10m old live).
        await wait_for(pilot, lambda: rows(app.screen.table)["researcher-2"][3].startswith("0s"),
                       what="the heartbeat age as of the point")
        assert opener.opened[0].point.event_id == first_heartbeat.id


async def test_step_keys_move_the_point_and_every_screen_follows(seeded) -> None:
    events = await events_of(seeded.path)
    app, opener = replay_app(seeded.path, events[5].id)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot, events[5].id)
        await pilot.press("full_stop")
        await in_replay(pilot, events[6].id)
        await pilot.press("comma", "comma")
        await in_replay(pilot, events[4].id)
        assert f"event {events[4].id} {events[4].kind}" in bar_text(app)
        failed = next(e for e in events if e.kind == "task.failed")
        await pilot.press("b")  # the next failure
        await in_replay(pilot, failed.id)
        report = next(e for e in events if e.kind == "gate.report_submitted" and e.id > failed.id)
        await pilot.press("o")
        await in_replay(pilot, report.id)
        await pilot.press("B")  # back to the failure
        await in_replay(pilot, failed.id)
        await pilot.press("h")  # no stale step in this history: it stays, and says so
        await wait_for(pilot, lambda: any("No later stale agent" in str(n.message) for n in app._notifications),
                       what="the word that nothing is later")
        assert app.replay_point.event_id == failed.id
        # Every screen loads afresh after a move: the agents screen, out of view, catches up on return.
        await pilot.press("3")
        await loaded(pilot)
        agents = app.screen
        assert isinstance(agents, AgentsScreen)
        loads = []
        original = agents.load

        async def counting_load() -> None:
            loads.append(app.replay_point.event_id)
            await original()

        agents.load = counting_load
        await pilot.press("full_stop")
        await wait_for(pilot, lambda: loads, what="the visible screen to load again")
        assert loads[-1] == app.replay_point.event_id


async def test_every_write_is_refused_in_replay(seeded) -> None:
    app, _ = replay_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot)
        await pilot.press("d")  # decide on the gate in review
        await settle(pilot)
        assert not isinstance(app.screen, DecisionModal)
        for key in ("x", "R", "c"):
            assert not app.screen.check_action({"x": "close_condition", "R": "resume_swarm",
                                                "c": "replan"}[key], ())
        await pilot.press("2")
        await loaded(pilot)
        assert isinstance(app.screen, QueueScreen)
        await pilot.press("n")  # enqueue
        await settle(pilot)
        assert not isinstance(app.screen, EnqueueModal)
        for action in QueueScreen.MUTATING:
            assert not app.screen.check_action(action, ())
        footer = screen_text(app)
        assert "Enqueue" not in footer and "Cancel" not in footer and "Retry" not in footer
        # A write that reaches the app anyway is refused before any store sees it ...
        before = await db_call(seeded.path, "latest_event_id")
        app.run_store_action(app.store.enqueue_task(description="sneaked in", agent_type="ops"))
        await wait_for(pilot, lambda: any("nothing can be changed" in str(n.message) for n in app._notifications),
                       what="the refusal")
        # ... and the replay's store refuses it too.
        with pytest.raises(PermissionDenied):
            await app.store.enqueue_task(description="sneaked in", agent_type="ops")
        assert await db_call(seeded.path, "latest_event_id") == before
        # The live view's own keys mean nothing in the past.
        assert not app.check_action("toggle_live", ()) and not app.check_action("poll_faster", ())


async def test_play_steps_at_the_paced_spacing_until_the_end_without_sleeping(seeded) -> None:
    events = await events_of(seeded.path)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    start = len(events) - 6
    app, _ = replay_app(seeded.path, events[start].id, sleep=sleep)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot, events[start].id)
        await pilot.press("greater_than_sign")  # 10x -> 30x
        await pilot.press("space")
        await wait_for(pilot, lambda: app.replay_point.event_id == events[-1].id and not app.replay_playing,
                       what="play to reach the last event and stop")
        expected = [pace(a.ts, b.ts, 30) for a, b in zip(events[start:], events[start + 1:])]
        assert waits == expected
        assert any("end of this history" in str(n.message) for n in app._notifications)
        assert "▶" not in bar_text(app)


async def test_play_shows_its_speed_and_space_pauses_it(seeded) -> None:
    events = await events_of(seeded.path)
    gate = __import__("asyncio").Event()

    async def sleep(seconds: float) -> None:
        await gate.wait()  # play waits here until the test lets it go

    app, _ = replay_app(seeded.path, events[0].id, sleep=sleep)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot, events[0].id)
        await pilot.press("space")
        await wait_for(pilot, lambda: "▶ 10×" in bar_text(app), what="the play marker")
        await pilot.press("less_than_sign")
        await wait_for(pilot, lambda: "▶ 5×" in bar_text(app), what="the slower speed")
        await pilot.press("space")  # pause: the step taken is shown, nothing more
        await settle(pilot)
        assert not app.replay_playing and "▶" not in bar_text(app)
        assert app.replay_point.event_id == events[1].id
        gate.set()
        await settle(pilot)
        assert app.replay_point.event_id == events[1].id


async def test_jump_to_an_event_id_or_a_time_and_a_bad_one_says_why(seeded) -> None:
    events = await events_of(seeded.path)
    app, _ = replay_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot)
        await pilot.press("at")
        await wait_for(pilot, lambda: isinstance(app.screen, SeekModal), what="the jump modal")
        for ch in "soon":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SeekModal)
        assert "neither an event id nor a time" in str(app.screen.query_one("#seek-error").render())
        app.screen.query_one(Input).value = str(events[3].id)
        await pilot.press("enter")
        await in_replay(pilot, events[3].id)
        target = events[10]
        await pilot.press("at")
        await wait_for(pilot, lambda: isinstance(app.screen, SeekModal), what="the jump modal")
        app.screen.query_one(Input).value = target.ts.isoformat()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.replay_point.ts <= target.ts and app.replay_point.event_id >= target.id,
                       what="the jump to a time")


# -- from the live dashboard, and back -----------------------------------------------------------------


async def test_the_replay_key_opens_replay_at_now_and_leaving_returns_to_live(seeded) -> None:
    app, opener = replay_app(seeded.path, False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        live_store = app.store
        assert "LIVE" in bar_text(app) and not app.check_action("replay_play", ())
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.replay is not None, what="replay to open")
        await settle(pilot)
        last = await db_call(seeded.path, "latest_event_id")
        assert app.replay_point.event_id == last and "REPLAY" in bar_text(app)
        assert app.read_only and app.clock() == opener.opened[0].point.ts.timestamp()
        await pilot.press("comma")
        await wait_for(pilot, lambda: app.replay_point.event_id == last - 1, what="a step back")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.replay is None, what="replay to close")
        await settle(pilot)
        assert opener.opened[0].closed and app.store is live_store and not app.read_only
        assert app.clock() == NOW and "LIVE" in bar_text(app) and "REPLAY" not in bar_text(app)
        await pilot.press("d")  # writes are back
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionModal), what="the decision dialog")


async def test_a_read_that_leaving_replay_cut_short_is_no_error(seeded) -> None:
    """A screen's read of the replay still under way when a person leaves it fails on the closed replay:
    it read a state no longer shown, and the live screens load afresh; no error modal."""
    from swarmdeck.app.modals.error import ErrorModal

    app, opener = replay_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot)
        replay = opener.opened[0]
        gate = asyncio.Event()

        async def slow_read() -> None:
            await gate.wait()
            await replay.store.list_tasks()

        worker = app.screen.run_worker(slow_read, group="detail", exit_on_error=False)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.replay is None and replay.closed, what="live again")
        gate.set()
        await settle(pilot)
        assert worker.state.name == "ERROR"  # the replay's store was closed under it
        assert not isinstance(app.screen, ErrorModal)
        assert not [n.message for n in app._notifications if n.severity == "error"]
        assert "LIVE" in bar_text(app)


async def test_a_replay_file_alone_closes_when_replay_is_left(seeded) -> None:
    opener = Opener(seeded.path)
    from swarmdeck.app.tui import SwarmdeckApp
    from ui_support import clock

    app = SwarmdeckApp(None, clock=clock, poll=False, title="replay", replay_opener=opener, replay_at=True)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot)
        assert "REPLAY" in bar_text(app)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not app.is_running, what="the app to close")
    assert opener.opened[0].closed


async def replay_from_the_first(pilot, options: OptionList) -> None:
    """Pick the first event the picker offers: replay opens there, and the marker says so."""
    app = pilot.app
    options.highlighted = 0
    picked = int(options.get_option_at_index(0).id)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.replay_point is not None and app.replay_point.event_id == picked,
                   what="replay at the event picked")
    assert f"event {picked}" in bar_text(app)


async def test_from_a_focused_activity_the_replay_key_starts_at_the_event_picked(seeded) -> None:
    app, opener = replay_app(seeded.path, False)
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, "3")
        screen = app.screen
        assert isinstance(screen, AgentsScreen)
        while screen.table.selected_key != "builder-1":
            await pilot.press("down")
        await wait_for(pilot, lambda: screen.query_one("#activity", RichLog).lines, what="the activity")
        activity = screen.query_one("#activity", RichLog)
        unfocused = activity.styles.border_left
        activity.focus()
        await settle(pilot)
        assert activity.styles.border_left != unfocused  # the log shows it has the focus
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, SeekModal), what="the pick of an event")
        options = app.screen.query_one(OptionList)
        assert options.option_count == len(screen.focused_events())
        options.focus()
        await replay_from_the_first(pilot, options)


async def test_from_a_focused_task_history_the_replay_key_starts_at_the_event_picked(seeded) -> None:
    """The queue's detail pane lists the task's history: with it focused, ctrl+r offers those events,
    the latest highlighted; agent-written words in them stay plain text."""
    await db_call(seeded.path, "register_agent", "prober", agent_type="probe")
    task = await db_call(seeded.path, "enqueue_task", description="[bold]x[/] described", agent_type="probe")
    await db_call(seeded.path, "claim_task", agent="prober", agent_type="probe")
    await db_call(seeded.path, "fail_task", task.id, agent="prober",
                  error="[bold]x[/] [@click=app.quit]quit[/] \x1b[31mred")  # retried: ready again
    history = await db_call(seeded.path, "events", entity="task", entity_id=task.id)
    app, _ = replay_app(seeded.path, False)
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, "2")
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        while screen.table.selected_key != str(task.id):
            await pilot.press("down")
        await wait_for(pilot, lambda: screen._detail is not None and screen._detail[0].id == task.id,
                       what="the task's detail")
        assert screen.focused_events() == []  # the table has the focus: ctrl+r replays from now
        detail = screen.query_one("#task-detail")
        unfocused = detail.styles.border_top
        screen.query_one("#task-detail-side").focus()
        await settle(pilot)
        assert detail.styles.border_top != unfocused  # the pane shows it has the focus
        events = screen.focused_events()
        assert [event_id for event_id, _ in events] == sorted(e.id for e in history)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, SeekModal), what="the pick of an event")
        options = app.screen.query_one(OptionList)
        assert options.option_count == len(history)
        assert int(options.get_option_at_index(options.highlighted).id) == max(e.id for e in history)
        last = options.get_option_at_index(options.option_count - 1).prompt
        assert "[bold]x[/] [@click=app.quit]quit[/]" in last.plain and "\x1b" not in last.plain
        assert not any(span.style and ("bold" in str(span.style) or "click" in str(span.style))
                       for span in last.spans)
        await replay_from_the_first(pilot, options)


async def test_help_lists_the_replay_keys(seeded) -> None:
    app, _ = replay_app(seeded.path)
    async with app.run_test(size=(120, 80)) as pilot:
        await in_replay(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal), what="help")
        await settle(pilot)
        text = "\n".join(plain(static.content, 160) for static in app.screen.query(Static))
        for words in ("Replay: one event forward", "Replay: the next decision on a gate", "Replay: jump to",
                      "Leave replay", "Replay the swarm's history"):
            assert words in text, words


# -- what it looks like ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_snapshot_of_the_agents_screen_in_replay(seeded, snap_compare, size) -> None:
    """The agents at the report's submission (the real history engine): the marker, the ages as of
    then, replay's own footer."""
    events = __import__("asyncio").run(events_of(seeded.path))
    report = next(e for e in reversed(events) if e.kind == "gate.report_submitted")

    async def run_before(pilot):
        await in_replay(pilot, report.id)
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, AgentsScreen))
        await loaded(pilot)
        await laid_out(pilot, pilot.app.screen.query_one("#agent-detail"))

    from swarmdeck.store.replay import open_replay

    app = make_app(seeded.path, replay_opener=lambda at: open_replay(seeded.path, at=at), replay_at=report.id)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


# -- with the real history engine ---------------------------------------------------------------------------


def test_swarmdeck_replay_at_an_event_shows_the_swarm_as_it_was_then_and_leaving_shows_it_now(
        seeded, monkeypatch) -> None:
    """`swarmdeck replay --at ID` on a real swarm database: the task that failed later is still running
    there, one step on it has failed, and leaving replay shows the live dashboard."""
    import asyncio

    from swarmdeck.app.tui import SwarmdeckApp
    from support import invoke, run_dashboards_with

    events = asyncio.run(events_of(seeded.path))
    failed = next(e for e in events if e.kind == "task.failed")
    bench = str(failed.entity_id)
    seen: dict[str, object] = {}

    async def drive(app: SwarmdeckApp) -> int:
        async with app.run_test(size=SIZE) as pilot:
            await in_replay(pilot, failed.id - 1)
            seen["bar"] = bar_text(app)
            await pilot.press("2")
            await loaded(pilot)
            seen["before"] = rows(app.screen.table)[bench][1]
            while app.screen.table.selected_key != bench:
                await pilot.press("down")
            detail = app.screen.query_one("#task-detail-body")
            await wait_for(pilot, lambda: static_text(detail).startswith(f"Task {bench}  {seen['before']}"),
                           what="the task's detail as it was")
            await pilot.press("full_stop")
            await in_replay(pilot, failed.id)
            await wait_for(pilot, lambda: rows(app.screen.table)[bench][1] == "failed", what="the failure")
            await wait_for(pilot, lambda: static_text(detail).startswith(f"Task {bench}  failed"),
                           what="the detail to follow the step")
            await pilot.press("comma")
            await wait_for(pilot, lambda: rows(app.screen.table)[bench][1] == seen["before"], what="back again")
            with pytest.raises(PermissionDenied):
                await app.store.cancel_task(int(bench), reason="from the past")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.replay is None, what="live again")
            await wait_for(pilot, lambda: rows(app.screen.table)[bench][1] == "failed", what="the live state")
            seen["live_bar"] = bar_text(app)
        return 0

    run_dashboards_with(monkeypatch, lambda self, loop: loop.run_until_complete(drive(self)))
    result = invoke("--db", seeded.path, "replay", "--at", str(failed.id - 1))
    assert result.returncode == 0, result.stderr
    when = events[failed.id - 2].ts.astimezone().strftime("%H:%M:%S")
    assert f"REPLAY {when} · event {failed.id - 1}" in seen["bar"]
    assert seen["before"] != "failed"
    assert "REPLAY" not in seen["live_bar"] and "LIVE" in seen["live_bar"]


def test_swarmdeck_replay_refuses_a_missing_file_and_a_bad_time_before_any_dashboard(seeded, tmp_path,
                                                                                    monkeypatch) -> None:
    from swarmdeck.app.tui import SwarmdeckApp
    from support import invoke, run_dashboards_with

    run_dashboards_with(monkeypatch, lambda self, loop: pytest.fail("no dashboard for a mistake"))
    missing = invoke("--db", seeded.path, "replay", str(tmp_path / "nowhere.replay"))
    assert missing.returncode == 2 and "no replay file at" in missing.stderr
    bad = invoke("--db", seeded.path, "replay", "--at", "teatime")
    assert bad.returncode == 2 and "--at: 'teatime' is neither an event id nor a time" in bad.stderr
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello")
    wrong = invoke("--db", seeded.path, "replay", str(not_a_db))
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr, wrong.stderr


async def test_agent_text_in_the_event_picker_stays_plain(seeded) -> None:
    """Agent-written words in an activity reach the picker as text: no markup, no escapes, no actions."""
    await db_call(seeded.path, "log_action", "builder-1", phase="[bold red]loud[/]",
                  action="[@click=app.quit]quit[/] \x1b[31mred", success=False,
                  error_message="[link=https://evil.example]click[/link]")
    app, _ = replay_app(seeded.path, False)
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, "3")
        screen = app.screen
        while screen.table.selected_key != "builder-1":
            await pilot.press("down")
        await wait_for(pilot, lambda: any("loud" in line.text for line in screen.query_one("#activity", RichLog).lines),
                       what="the hostile action in the activity")
        screen.query_one("#activity", RichLog).focus()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, SeekModal), what="the picker")
        options = app.screen.query_one(OptionList)
        last = options.get_option_at_index(options.option_count - 1).prompt
        assert "[bold red]loud[/]" in last.plain and "[@click=app.quit]quit[/]" in last.plain
        assert "\x1b" not in last.plain and "[link=https://evil.example]click[/link]" in last.plain
        assert not any(span.style and "link" in str(span.style) for span in last.spans)
        await pilot.press("escape")
        assert app.is_running and app.replay is None


def test_swarmdeck_replay_of_a_replay_file_opens_it_alone_and_leaving_closes_it(seeded, tmp_path,
                                                                                 monkeypatch) -> None:
    """A post-mortem file another person sent: it opens with no database, in its own range."""
    import asyncio

    from swarmdeck.app.tui import SwarmdeckApp
    from swarmdeck.store.replay.engine import export_replay
    from support import invoke, run_dashboards_with

    events = asyncio.run(events_of(seeded.path))
    file = tmp_path / "incident.replay"
    first, last = asyncio.run(export_replay(seeded.path, file, start=events[10].id, end=events[30].id))
    seen: dict[str, object] = {}

    async def drive(app: SwarmdeckApp) -> int:
        async with app.run_test(size=SIZE) as pilot:
            await in_replay(pilot, last)
            seen["point"] = app.replay_point
            seen["bar"] = bar_text(app)
            seen["title"] = app.db_title
            await pilot.press("full_stop")  # the end of this file: it stays
            await wait_for(pilot, lambda: any("No later event" in str(n.message) for n in app._notifications),
                           what="the end of the file")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: not app.is_running, what="the app to close")
        return 0

    run_dashboards_with(monkeypatch, lambda self, loop: loop.run_until_complete(drive(self)))
    result = invoke("--db", tmp_path / "elsewhere.db", "replay", file)
    assert result.returncode == 0, result.stderr
    assert seen["point"].first_id == first and seen["point"].event_id == last
    assert f"event {last}" in seen["bar"] and str(seen["title"]).endswith("incident.replay")


async def test_the_palette_offers_replay_moves_in_replay_and_the_replay_itself_live(seeded) -> None:
    from swarmdeck.app.commands import SwarmCommands

    app, _ = replay_app(seeded.path, False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        live = {hit.text: hit.help async for hit in SwarmCommands(app.screen).discover()}
        assert live["View: Replay the swarm's history"] == "Key ^r on any screen"
        assert not any(text.startswith("Replay:") for text in live) and "View: Pause or resume the live view" in live
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.replay is not None, what="replay")
        past = {hit.text: hit.help async for hit in SwarmCommands(app.screen).discover()}
        assert past["Replay: one event back"] == "Key , on any screen"
        assert "Replay: the next decision on a gate" in past and "Queue: Add a task" not in past
        assert "View: Pause or resume the live view" not in past and "View: Replay the swarm's history" not in past


async def test_live_changes_that_arrive_during_replay_do_not_reach_the_past(seeded) -> None:
    from swarmdeck.app.poller import StoreChanged

    app, _ = replay_app(seeded.path, False)
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, "2")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.replay is not None, what="replay")
        await settle(pilot)
        await db_call(seeded.path, "enqueue_task", description="written while replaying", agent_type="ops")
        fresh = await db_call(seeded.path, "changes_since", app.replay_point.event_id)
        app.post_message(StoreChanged(fresh))
        await settle(pilot)
        assert not any("written while replaying" in " ".join(r) for r in rows(app.screen.table).values())
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("written while replaying" in " ".join(r)
                                          for r in rows(app.screen.table).values()), what="the live task")


async def test_next_stale_agent_with_the_real_engine_lands_where_the_agents_screen_shows_one_stale(seeded) -> None:
    from swarmdeck.store.replay import open_replay

    events = await events_of(seeded.path)
    app = make_app(seeded.path, replay_opener=lambda at: open_replay(seeded.path, at=at), replay_at=events[0].id)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot, events[0].id)
        await pilot.press("3")
        await loaded(pilot)
        await pilot.press("h")
        await wait_for(pilot, lambda: app.replay_point.event_id != events[0].id, what="the next stale agent")
        await wait_for(pilot, lambda: any(r[2] == "STALE" for r in rows(app.screen.table).values()),
                       what="a stale agent on the agents screen")
        assert f"event {app.replay_point.event_id}" in bar_text(app)


async def test_a_jump_to_before_the_selected_milestone_existed_selects_one_that_did(seeded) -> None:
    from swarmdeck.store.replay import open_replay

    events = await events_of(seeded.path)
    memory_service = str(seeded.milestones["Memory service"])
    second = next(e for e in events if e.kind == "milestone.added" and e.entity_id == memory_service)
    app = make_app(seeded.path, replay_opener=lambda at: open_replay(seeded.path, at=at), replay_at=True)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot)
        assert app.screen.selected == seeded.milestones["Memory service"]  # the gate in review
        await pilot.press("at")
        await wait_for(pilot, lambda: isinstance(app.screen, SeekModal), what="the jump modal")
        app.screen.query_one(Input).value = str(second.id - 1)
        await pilot.press("enter")
        await in_replay(pilot, second.id - 1)
        await wait_for(pilot, lambda: app.screen.selected == seeded.milestones["Foundation"],
                       what="the first milestone")
        await settle(pilot)
        assert not [n.message for n in app._notifications if n.severity == "error"]


async def test_in_replay_a_read_of_what_does_not_exist_at_the_point_is_no_error_but_live_it_is(seeded) -> None:
    from swarmdeck.store.errors import NotFound

    async def gone() -> None:
        raise NotFound("task 10 does not exist", entity="task", key="10")

    def refusals() -> list[str]:
        return [str(n.message) for n in app._notifications if n.severity == "error"]

    app, _ = replay_app(seeded.path, False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.replay is not None, what="replay")
        app.run_worker(gone, exit_on_error=False)
        await settle(pilot)
        assert refusals() == []
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.replay is None, what="live")
        app.run_worker(gone, exit_on_error=False)
        await wait_for(pilot, lambda: refusals(), what="the live refusal")


async def test_a_replay_slow_to_open_says_it_is_building_the_history_and_a_quick_one_says_nothing(seeded) -> None:
    class SlowOpener(Opener):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            self.go_on = asyncio.Event()

        async def __call__(self, at: int | datetime | None) -> FakeReplay:
            await self.go_on.wait()  # a first replay of a big history: the cache is being built
            return await super().__call__(at)

    def building(app) -> bool:
        return any("builds its cache" in str(n.message) for n in app._notifications)

    opener = SlowOpener(seeded.path)
    app = make_app(seeded.path, replay_opener=opener, replay_at=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: building(app), what="the notice that the history is being read")
        opener.go_on.set()
        await wait_for(pilot, lambda: app.replay is not None, what="replay to open")

    quick = replay_app(seeded.path, False)[0]
    async with quick.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: quick.replay is not None, what="replay to open")
        await pilot.pause(0.6)  # past the notice's delay: the timer was stopped, not just not yet run
        assert not building(quick)


async def test_the_memory_screen_in_replay_shows_the_memory_as_it_was_and_searches_its_words(seeded) -> None:
    from swarmdeck.app.screens.memory import MemoryScreen
    from swarmdeck.store.replay import open_replay

    now = [NOW + 60]

    def later() -> float:
        now[0] += 30
        return now[0]

    store = await open_store(seeded.path, clock=later)
    try:
        before = [h.title for h in await store.recent(limit=100)]
        await store.add_memory("project:a", "deploy-notes", "use blue-green deploys", memory_type="semantic",
                               created_by="builder-1")
        await store.log_record("decision", {"decision": "SQLite with WAL", "rationale": "readers never block"},
                               agent="lead")
        point = await store.latest_event_id()
        await store.update_memory("project:a", "deploy-notes", "use canary deploys now", updated_by="builder-2")
        await store.add_memory("project:a", "late-key", "written after the point", memory_type="semantic",
                               created_by="builder-1")
        await store.delete_memory("project:a", "deploy-notes", deleted_by="lead")
    finally:
        await store.close()
    app = make_app(seeded.path, replay_opener=lambda at: open_replay(seeded.path, at=at), replay_at=point)
    async with app.run_test(size=SIZE) as pilot:
        await in_replay(pilot, point)
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, MemoryScreen), what="the memory screen")
        await loaded(pilot)
        screen = app.screen
        # Exactly what held at the point, newest first: no later entry, the memory deleted later still there.
        assert [h.title for h in screen.hits] == ["decision: SQLite with WAL", "deploy-notes", *before]
        health = static_text(screen.query_one("#memory-health"))
        assert f"index: {len(before) + 2} entries then" in health and "replay searches by words, not meaning" in health
        results = screen.query_one("#memory-results", OptionList)
        results.focus()
        results.highlighted = 1
        await wait_for(pilot, lambda: "deploy-notes" in static_text(screen.query_one("#memory-preview-body")),
                       what="the memory's preview")
        preview = static_text(screen.query_one("#memory-preview-body"))
        assert "use blue-green deploys" in preview and "canary" not in preview
        assert "v1" in preview and "v2" not in preview and "deleted" not in preview
        # Search by words over the memory as it was: the old text is found, the later one is not.
        box = screen.query_one("#memory-query", Input)
        found = {"blue-green": ["deploy-notes"], "canary": [], "readers": ["decision: SQLite with WAL"], "": None}
        for query, titles in found.items():
            box.focus()
            screen.results_for = None
            box.value = query
            await wait_for(pilot, lambda: screen.results_for == query, what=f"results for {query!r}")
            await settle(pilot)
            if titles is not None:
                assert [h.title for h in screen.hits] == titles
            if query == "canary":  # said as a search's answer, not as if the memory were empty
                assert "Nothing matches" in static_text(screen.query_one("#memory-preview-body"))
            if query:
                assert "replay: keyword only" in static_text(screen.query_one("#memory-mode"))
        await pilot.press("escape")  # leave the box
        await pilot.press("ctrl+r")  # live: the memory as it is now
        await wait_for(pilot, lambda: app.replay is None, what="live")
        await loaded(pilot)
        await wait_for(pilot, lambda: "late-key" in [h.title for h in app.screen.hits], what="the live memory")
        assert "deploy-notes" not in [h.title for h in app.screen.hits]

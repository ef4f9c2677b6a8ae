"""What the UI tests share: the seeded swarm, the app over it, waiting on conditions, reading the screen.

Every app here runs on a frozen clock (so ages, deadlines and snapshots never move) with the
poller off unless a test turns it on; times are shown in local time, so the zone is pinned to UTC.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.cells import cell_len
from rich.segment import Segment
from textual.pilot import Pilot
from textual.widgets import DataTable

from swarmdeck.app.tui import SwarmdeckApp
from swarmdeck.widgets.live_table import LiveTable
from swarmdeck.store import open_store

from signing_support import decide, signer
from support import FakeClock, Ran, invoke, run_swarmdeck_async
from support import wait_for as wait_on

#: The frozen "now" of every app under test: 2027-01-15 08:00:00 UTC.
NOW = 1_800_000_000.0


def clock() -> float:
    return NOW


@dataclass
class Seeded:
    """What the seed made, by name, so tests never hard-code an id by accident."""

    path: Path
    milestones: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    report_hash: str = ""


#: The acceptance criteria the Memory service report leaves not met: an approval accepts them by name.
M2_UNMET = ["Search p95 under 50 ms"]

M2_REPORT: dict[str, Any] = {
    "summary": "MemoryService is in place; search latency still misses its target.",
    "criteria": [
        {"name": "CRUD on memory entries", "status": "met", "evidence": "42 tests pass in CI run 118"},
        {"name": "Namespaces isolate entries", "status": "met", "evidence": "property test, 10k cases"},
        {"name": "Search p95 under 50 ms", "status": "not_met", "evidence": "p95 is 71 ms on 100k entries"},
    ],
    "metrics": [
        {"name": "search p95", "value": 71, "target": 50, "comparator": "<", "unit": "ms"},
        {"name": "test coverage", "value": 88, "target": 85, "comparator": ">=", "unit": "%"},
    ],
    "issues": [
        {"severity": "low", "description": "log lines are too chatty"},
        {"severity": "critical", "description": "soft-deleted entries leak into search results"},
        {"severity": "medium", "description": "no index on namespace prefix"},
        {"severity": "high", "description": "embedding backfill is not resumable"},
    ],
    "recommendations": ["Fix the soft-delete leak before M3", "Add a vector index for search"],
    "proposed_decision": "CONDITIONAL",
}


#: Registered reviewers of the seeded swarm.
REVIEWERS = ("alice", "bob", "carol")


async def seed(path: Path) -> Seeded:
    """Three milestones (approved, in review, locked), four agents, three reviewers, fifteen tasks."""
    sc = FakeClock(NOW - 4 * 3600)
    store = await open_store(path, create=True, clock=sc)
    out = Seeded(path)
    t = out.tasks
    try:
        for name, objective, weeks, budget, criteria in (
            ("Foundation", "Schema, migrations and the claim loop", "1-2", 40.0, ["Schema deployed"]),
            ("Memory service", "Hierarchical memory with keyword and semantic search", "3-4", 60.0,
             ["CRUD on memory entries", "Search p95 under 50 ms"]),
            ("Learning loop", "Failures, decisions and lessons become searchable", "5-6", None, []),
        ):
            m = await store.add_milestone(name, objective=objective, planned_weeks=weeks, hour_budget=budget,
                                          acceptance_criteria=criteria)
            out.milestones[name] = m.id

        # The stale agent's last heartbeat is ten minutes before NOW (stale after 60 s).
        sc.at(NOW - 3.5 * 3600)
        await store.register_agent("builder-1", agent_type="implementation", colour="green", model="opus")
        await store.register_agent("tester-3", agent_type="testing", colour="orange")
        await store.register_agent("validator", agent_type="validation", colour="purple")
        await store.register_agent("researcher-2", agent_type="research", colour="blue", stale_after_seconds=60)
        # The people who decide gates: alice is every test app's reviewer; bob decided milestone 1.
        for name in REVIEWERS:
            await store.add_reviewer(name, by=REVIEWERS[0], public_key=signer(name).public_key)

        # Milestone 1: done and approved by another reviewer.
        sc.at(NOW - 3 * 3600)
        t["schema"] = (await store.enqueue_task(description="Design the coordination schema",
                                                agent_type="implementation", base_priority=8,
                                                milestone="Foundation")).id
        t["migrations"] = (await store.enqueue_task(description="Write the numbered migrations",
                                                    agent_type="implementation", prerequisites=[t["schema"]],
                                                    milestone="Foundation")).id
        for key in ("schema", "migrations"):
            claimed = await store.claim_task(agent="builder-1", agent_type="implementation")
            assert claimed is not None and claimed.id == t[key]
            sc.at(sc.now + 900)
            await store.complete_task(claimed.id, agent="builder-1", result={"files": 3})
        await store.submit_report("Foundation", submitted_by="validator", summary="All green",
                                  criteria=[{"name": "Schema deployed", "status": "met", "evidence": "ok"}],
                                  proposed_decision="APPROVE")
        sc.at(NOW - 2.5 * 3600)
        await decide(store, "Foundation", decision="APPROVE", rationale="Everything checked", reviewer="bob")

        # Milestone 2: open, work in flight, report in review.
        sc.at(NOW - 2 * 3600)
        t["service"] = (await store.enqueue_task(description="Implement MemoryService",
                                                 agent_type="implementation", base_priority=7,
                                                 milestone="Memory service", estimated_duration_seconds=7200)).id
        t["fts"] = (await store.enqueue_task(description="Add the FTS5 keyword index",
                                             agent_type="implementation", base_priority=6,
                                             milestone="Memory service")).id
        t["indexer"] = (await store.enqueue_task(description="Wire the background embedding indexer",
                                                 agent_type="implementation", prerequisites=[t["service"], t["fts"]],
                                                 milestone="Memory service")).id
        t["api_docs"] = (await store.enqueue_task(description="Document the memory API",
                                                  agent_type="docs", prerequisites=[t["indexer"]],
                                                  milestone="Memory service", base_priority=3)).id
        t["bench"] = (await store.enqueue_task(description="Benchmark search latency on 100k entries",
                                               agent_type="testing", base_priority=6,
                                               milestone="Memory service", max_retries=0)).id
        t["ns_tests"] = (await store.enqueue_task(description="Write namespace isolation tests",
                                                  agent_type="testing", milestone="Memory service",
                                                  deadline=NOW + 2 * 3600, estimated_duration_seconds=1800)).id
        t["hotfix"] = (await store.enqueue_task(description="Hotfix the soft-delete leak", agent_type="implementation",
                                                base_priority=9, milestone="Memory service",
                                                deadline=NOW - 1800)).id
        t["flaky"] = (await store.enqueue_task(description="Quarantine the flaky sync test",
                                               agent_type="testing", base_priority=2)).id
        # Milestone 3 is locked: its tasks wait for the gate.
        t["lessons"] = (await store.enqueue_task(description="Record failure lessons", agent_type="research",
                                                 milestone="Learning loop", base_priority=5)).id
        t["estimates"] = (await store.enqueue_task(description="Estimate accuracy report", agent_type="research",
                                                   milestone="Learning loop", base_priority=4)).id
        t["retro"] = (await store.enqueue_task(description="Retrospective template", agent_type="docs",
                                               prerequisites=[t["lessons"]], milestone="Learning loop")).id
        t["ci"] = (await store.enqueue_task(description="Upgrade the CI runners", agent_type="ops",
                                            source="agent_planner", base_priority=4)).id
        t["cleanup"] = (await store.enqueue_task(description="Clean up temporary branches", agent_type="ops",
                                                 source="agent_implementation", base_priority=1)).id

        sc.at(NOW - 1.5 * 3600)
        claimed = await store.claim_task(agent="tester-3", agent_type="testing")
        assert claimed is not None and claimed.id == t["bench"], claimed
        await store.fail_task(claimed.id, agent="tester-3", error="timeout: index build took 40 minutes", retry=False)
        await store.cancel_task(t["flaky"], reason="no longer flaky")

        sc.at(NOW - 3600)
        claimed = await store.claim_task(agent="builder-1", agent_type="implementation")
        assert claimed is not None and claimed.id == t["hotfix"], claimed
        await store.complete_task(claimed.id, agent="builder-1")
        claimed = await store.claim_task(agent="builder-1", agent_type="implementation")
        assert claimed is not None and claimed.id == t["service"], claimed
        await store.log_action("builder-1", phase="implement", action="write MemoryService.get", duration_ms=1200)

        report = await store.submit_report("Memory service", submitted_by="validator", **M2_REPORT)
        out.report_hash = report.content_hash

        sc.at(NOW - 600)
        await store.heartbeat("researcher-2", status="idle")
        sc.at(NOW - 30)
        await store.heartbeat("tester-3", status="idle", blockers=["waiting for test fixtures"])
        await store.heartbeat("validator", status="idle")
        sc.at(NOW - 5)
        await store.heartbeat("builder-1", status="working", current_task_id=t["service"], completion=40,
                              next_milestone="Learning loop")
    finally:
        await store.close()
    return out


def make_app(db: Path, *, read_only: bool = False, **kw: Any) -> SwarmdeckApp:
    """The app over ``db`` with a frozen clock and the poller off (unless a test passes poll=True).
    The reviewer's signing key is unlocked already, as after the passphrase was asked (a test of that
    modal passes ``signer=None``)."""
    options: dict[str, Any] = {"clock": clock, "reviewer": "alice", "poll": False, "title": "test",
                               "read_only": read_only}
    options["signer"] = signer(kw.get("reviewer", "alice")) if kw.get("reviewer", "alice") in REVIEWERS else None
    options.update(kw)
    return SwarmdeckApp(lambda: open_store(db, clock=clock, read_only=read_only), **options)


async def db_call(db: Path, method: str, *args: Any, **kwargs: Any) -> Any:
    """Read the database through a separate connection, as another process would."""
    store = await open_store(db, clock=clock)
    try:
        return await getattr(store, method)(*args, **kwargs)
    finally:
        await store.close()


async def db_act(db: Path, act: Any, *args: Any, **kwargs: Any) -> Any:
    """A person's signed act (tests/signing_support.py) through a separate connection: another seat."""
    store = await open_store(db, clock=clock)
    try:
        return await act(store, *args, **kwargs)
    finally:
        await store.close()


# -- waiting on conditions, never on sleeps ------------------------------------------------------------


async def wait_for(pilot: Pilot, condition: Callable[[], object], *, tries: int = 500, step: float = 0.01,
                   what: str = "") -> None:
    """Let the app run until ``condition()`` holds; fail (saying what) if it never does."""
    await wait_on(condition, what, tries=tries, step=step, pause=pilot.pause)


#: Worker groups `settle` does not wait for: an action parked on a modal, the poller's ticks, the indexer,
#: and the long-lived workers started beside the app (the status bridge, the demo's swarm).
_UNSETTLED = ("action", "poll", "indexer", "status-bridge", "demo-swarm")
#: Seconds `settle` waits for the screens' store workers to end (each is a read or two).
SETTLE_TIMEOUT = 30


async def settle(pilot: Pilot) -> None:
    """Wait until the screens' store workers are done, and the messages they posted are handled."""
    app = pilot.app

    def busy() -> list:
        return [w for w in app.workers if not w.is_finished and w.group not in _UNSETTLED]

    for _ in range(20):
        await pilot.pause()
        running = busy()
        if not running:
            await pilot.pause()  # a finished worker's messages may start another (a detail after a load)
            if not busy():
                return
            continue
        try:
            await asyncio.wait_for(app.workers.wait_for_complete(running), SETTLE_TIMEOUT)
        except asyncio.TimeoutError:
            raise AssertionError(f"workers still running after {SETTLE_TIMEOUT} s: {busy()}") from None
    raise AssertionError(f"workers never settled: {busy()}")


async def loaded(pilot: Pilot) -> None:
    """The visible screen has finished its first load (and the app its first look at what waits on a
    person, which the status bar shows)."""
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "_loaded", False), what="the screen to load")
    await wait_for(pilot, lambda: getattr(pilot.app, "_attention_looked", True), what="the first attention look")
    await settle(pilot)


async def laid_out(pilot: Pilot, widget) -> None:
    """``widget`` (height: auto) holds every line of its text. Its height follows an update in a layout
    pass of its own, which a snapshot under load once caught still pending."""
    await wait_for(pilot, lambda: widget.content_size.height >= str(widget.content).count("\n") + 1,
                   what=f"{widget} laid out whole")


# -- reading what is on screen ---------------------------------------------------------------------


def screen_segments(app) -> list[list[Segment]]:
    """The composed screen (modals over what they cover), one list of segments per terminal line.

    The same render `App.export_screenshot` makes, kept as segments so tests can read text and styles.
    """
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return [[segment for strip in line for segment in strip] for line in update.strips]


def screen_text(app) -> str:
    return "\n".join("".join(s.text for s in line) for line in screen_segments(app))


def rows(table: DataTable) -> dict[str, list[str]]:
    """The table's rows, in display order, as plain cell text keyed by row key: every column of a
    LiveTable, also those a narrow terminal hides (what is on screen: `region_text`)."""
    out = {}
    for index in range(table.row_count):
        key = table.coordinate_to_cell_key((index, 0)).row_key.value
        cells = table.cells_of(key) if isinstance(table, LiveTable) else table.get_row_at(index)
        out[key] = [getattr(c, "plain", str(c)) for c in cells]
    return out


def plain(renderable: Any, width: int = 200) -> str:
    """Render any Rich renderable to plain text."""
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def static_text(widget) -> str:
    return plain(widget.content)


# -- the CLI ------------------------------------------------------------------------------------------


def cli(db: Path, *args: Any, input: str | None = None) -> Ran:
    """One `swarmdeck` call (in this process, tests/support.py); it must succeed."""
    result = invoke("--db", db, *args, input=input)
    assert result.returncode == 0, f"swarmdeck {args} failed: {result.stderr}"
    return result


async def cli_async(db: Path, *args: Any) -> str:
    """The CLI in another process, from inside a running app: the event loop keeps running while the
    other process works."""
    result = await run_swarmdeck_async("--db", db, *args)
    assert result.returncode == 0, f"swarmdeck {args} failed: {result.stderr}"
    return result.stdout


async def type_text(pilot: Pilot, text: str) -> None:
    """Type into whatever has focus, key by key, as a person would."""
    names = {" ": "space", "\n": "enter"}
    await pilot.press(*[names.get(ch, ch) for ch in text])


def region_text(app, region) -> list[str]:
    """The screen's text inside ``region`` (say, a widget's content region), one string per line.

    Columns are counted in terminal cells, so wide characters left of the region do not shift it.
    """
    out = []
    for line in screen_segments(app)[region.y:region.bottom]:
        cells: list[str] = []
        for segment in line:
            for ch in segment.text:
                width = cell_len(ch)
                if width == 0 and cells:
                    cells[-1] += ch
                else:
                    cells.append(ch)
                    cells.extend([""] * (width - 1))
        out.append("".join(cells[region.x:region.right]))
    return out


def copy_db(source: Path, folder: Path) -> Path:
    """A copy of a database (and its WAL) of a test's own, for a test that writes."""
    db = folder / source.name
    for suffix in ("", "-wal", "-shm"):
        part = source.with_name(source.name + suffix)
        if part.exists():
            shutil.copy(part, db.with_name(db.name + suffix))
    return db

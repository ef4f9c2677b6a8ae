"""The milestones screen: widths that follow content and terminal, what a gate says was decided or
would open, the decision history, and what changed between report versions."""

from __future__ import annotations

import asyncio

from swarmdeck.widgets.live_table import LiveTable
from ui_support import (
    M2_UNMET,
    M2_REPORT,
    db_act,
    db_call,
    loaded,
    make_app,
    rows,
    region_text,
    static_text,
    wait_for,
)
from signing_support import decide

LONG = "M4 Core Schema Foundation and Migrations"


def table(app) -> LiveTable:
    return app.screen.query_one("#milestones-table", LiveTable)


def panel(app) -> str:
    return static_text(app.screen.query_one("#gate-panel"))


async def select(pilot, name: str) -> None:
    app = pilot.app
    ms = next(m for m in app.screen.milestones.values() if m.name == name)
    app.screen.table.move_cursor(row=app.screen.table.get_row_index(str(ms.id)))
    await wait_for(pilot, lambda: panel(app).startswith(f"{name}  gate:"), what=f"{name}'s gate")
    await loaded(pilot)


def shown_lines(app, text: str) -> list[str]:
    """The table's lines on screen that show ``text``."""
    return [line for line in region_text(app, table(app).region) if text in line]


async def test_names_and_counts_are_whole_while_the_terminal_has_room(seeded):
    db = seeded.path
    await db_call(db, "add_milestone", LONG, objective="x")
    for size in ((160, 48), (200, 60)):
        app = make_app(db)
        async with app.run_test(size=size) as pilot:
            await loaded(pilot)
            for cells in rows(table(app)).values():
                line = shown_lines(app, cells[1])
                assert line, f"{cells[1]!r} is cut at {size}"
                assert all(c in line[0] for c in cells), (size, cells, line[0])
            # The table is as wide as its content: no blank band between it and the report.
            table_width = table(app).size.width
            assert table_width <= table(app).virtual_size.width + 2, (size, table_width)


async def test_a_name_too_long_for_a_narrow_terminal_is_shortened_never_the_numbers(seeded):
    db = seeded.path
    await db_call(db, "add_milestone", LONG, objective="x")
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert app.screen.has_class("-narrow")  # the table sits above the report
        shown = rows(table(app))
        assert any(cells[1] == LONG for cells in shown.values())  # the cell keeps the whole name
        line = shown_lines(app, "M4 Core")[0]
        assert LONG not in line and "…" in line  # shown shortened, with an ellipsis
        assert "0/0" in line and "locked" in line
        assert table(app).virtual_size.width <= 80
        for name in ("Foundation", "Memory service", "Learning loop"):
            assert shown_lines(app, name), name
        # Wider again: the whole name comes back.
        await pilot.resize_terminal(200, 60)
        await wait_for(pilot, lambda: shown_lines(app, LONG), what="the whole name")


async def test_the_decision_history_separates_the_decision_from_the_reviewer(seeded):
    db = seeded.path
    await db_act(db, decide, "Memory service", decision="CONDITIONAL", rationale="ship it",
                 reviewer="bob", conditions=["fix the leak"], accept_unmet=M2_UNMET)
    app = make_app(db)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await select(pilot, "Memory service")
        assert "CONDITIONAL bob" in panel(app) and "CONDITIONALbob" not in panel(app)


async def test_a_decided_gate_says_what_was_decided_not_what_approving_would_do(seeded):
    db = seeded.path
    await db_act(db, decide, "Memory service", decision="CONDITIONAL", rationale="ship it",
                 reviewer="bob", conditions=["fix the leak", "add the index"], accept_unmet=M2_UNMET)
    app = make_app(db)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await select(pilot, "Foundation")
        text = panel(app)
        assert "Approved by bob: Memory service opened." in text
        assert "Approving opens" not in text and "unblocks" not in text
        await select(pilot, "Memory service")
        text = panel(app)
        assert "Approved with conditions by bob: Learning loop opened; 2 conditions still open." in text
        assert "Approving opens" not in text


async def test_a_gate_in_review_says_what_opens_in_tasks(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        assert "Approving opens Learning loop: 3 tasks, 2 ready now." in panel(app)
        assert "task(s)" not in panel(app)


REVISED = {
    **M2_REPORT,
    "criteria": [
        {"name": "CRUD on memory entries", "status": "met", "evidence": "42 tests pass in CI run 118"},
        {"name": "Search p95 under 50 ms", "status": "met", "evidence": "p95 is 44 ms on 100k entries"},
        {"name": "Soft delete hides entries", "status": "met", "evidence": "regression test added"},
    ],
    "metrics": [
        {"name": "search p95", "value": 44, "target": 50, "comparator": "<", "unit": "ms"},
        {"name": "test coverage", "value": 88, "target": 85, "comparator": ">=", "unit": "%"},
    ],
    "issues": [
        {"severity": "low", "description": "log lines are too chatty"},
        {"severity": "high", "description": "no index on namespace prefix"},
        {"severity": "medium", "description": "backfill restarts from zero"},
        {"severity": "high", "description": "embedding backfill is not resumable"},
    ],
    "proposed_decision": "APPROVE",
}


async def test_after_revise_the_detail_shows_what_changed_between_versions(seeded):
    db = seeded.path
    await db_act(db, decide, "Memory service", decision="REVISE", rationale="fix search first", reviewer="bob")
    app = make_app(db)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await select(pilot, "Memory service")
        # Returned for revision: the gate says so, and no version before it to compare with yet.
        assert "Returned for revision by bob on v1" in panel(app)
        assert not app.screen.query_one("#report-changes").display
    await db_call(db, "submit_report", "Memory service", submitted_by="validator", **REVISED)
    app = make_app(db)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await select(pilot, "Memory service")
        changes = static_text(app.screen.query_one("#report-changes"))
        assert app.screen.query_one("#report-changes").display
        assert "Changes since v1  (REVISE by bob)" in changes
        assert ("~ criterion Search p95 under 50 ms\n    was not_met: p95 is 71 ms on 100k entries\n"
                "    now met: p95 is 44 ms on 100k entries\n") in changes
        assert "- criterion Namespaces isolate entries: met: property test, 10k cases" in changes
        assert "+ criterion Soft delete hides entries: met: regression test added" in changes
        assert ("~ metric search p95\n    was 71 ms (target < 50 ms, missed)\n"
                "    now 44 ms (target < 50 ms, met)\n") in changes
        assert "test coverage" not in changes  # unchanged
        assert "- issue soft-deleted entries leak into search results: critical" in changes
        assert "~ issue no index on namespace prefix\n    was medium\n    now high\n" in changes
        assert "+ issue backfill restarts from zero: medium" in changes
        assert "~ proposed decision\n    was CONDITIONAL\n    now APPROVE\n" in changes
        assert "log lines" not in changes and "Fix the soft-delete" not in changes
        assert "v2" in panel(app)


# -- pictures ------------------------------------------------------------------------------------------


def test_snapshot_at_80x24(seeded, snap_compare):
    """Narrow: the table above the report, every column whole."""
    assert snap_compare(make_app(seeded.path), terminal_size=(80, 24), run_before=loaded)


def test_snapshot_at_200x60_after_a_revision(seeded, snap_compare):
    """Wide: the table as wide as its content beside the report, and what changed since v1."""

    async def revise() -> None:
        await db_act(seeded.path, decide, "Memory service", decision="REVISE", rationale="fix search first",
                     reviewer="bob")
        await db_call(seeded.path, "submit_report", "Memory service", submitted_by="validator", **REVISED)

    asyncio.run(revise())
    assert snap_compare(make_app(seeded.path), terminal_size=(200, 60), run_before=loaded)


async def plan_a_graph(db) -> None:
    """Seed 004's shape on the seeded swarm: Docker waits for two milestones (one in review) and has a
    schedule and money; Learning loop is cut by a reviewer, with a reason that looks like markup."""
    await db_call(db, "add_milestone", "Docker + Deployment", after=["Foundation", "Memory service"],
                  planned_weeks="1-2", starts_on="2027-01-04", hour_budget=80, money_budget=76336, hour_rate=120)
    await db_call(db, "enqueue_task", description="Write the Dockerfiles", milestone="Docker + Deployment",
                  estimated_duration_seconds=3600)
    await db_call(db, "replan_milestone", "Learning loop", state="cut", by="carol",
                  reason="[bold red]timeline[/] slipped")


async def test_the_plan_shows_prerequisites_schedule_money_and_a_cut(seeded):
    db = seeded.path
    await plan_a_graph(db)
    app = make_app(db)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        shown = {cells[1]: cells for cells in rows(table(app)).values()}
        assert shown["Learning loop"][2] == "cut" and shown["Docker + Deployment"][2] == "locked"
        await select(pilot, "Docker + Deployment")
        detail = static_text(app.screen.query_one("#milestone-objective"))
        assert "after    Foundation, Memory service" in detail
        assert "hours    0/80" in detail
        # 2027-01-15 is day 12 of 14 and nothing is done: 12 days behind
        assert "schedule 2027-01-04 → 2027-01-17  12 d behind" in detail
        assert "money    $0 of $76,336 (0%)" in detail
        await select(pilot, "Learning loop")
        detail = static_text(app.screen.query_one("#milestone-objective"))
        # who cut it and why, the reason as written: markup in it is text, never style
        assert "plan     CUT by carol: [bold red]timeline[/] slipped" in detail
        # a milestone in line with no plan of its own shows none
        await select(pilot, "Foundation")
        assert "Plan" not in static_text(app.screen.query_one("#milestone-objective"))


async def test_a_reviewer_cuts_and_reinstates_a_milestone_from_the_dashboard(seeded):
    from swarmdeck.app.modals.gate_acts import ReplanModal
    from ui_support import type_text

    db = seeded.path
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await select(pilot, "Learning loop")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ReplanModal), what="the plan dialog")
        await pilot.press("enter")  # no reason: refused, the dialog stays
        assert isinstance(app.screen, ReplanModal)
        await type_text(pilot, "timeline slipped")
        await pilot.press("enter")  # the first act offered: cut
        await wait_for(pilot, lambda: not isinstance(app.screen, ReplanModal), what="the dialog to close")
        m = await db_call(db, "get_milestone", "Learning loop")
        assert m.plan_state.value == "cut"
        task = await db_call(db, "get_task", seeded.tasks["lessons"])
        assert "milestone 'Learning loop' is cut" in task.blocked_reason
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ReplanModal), what="the plan dialog")
        await pilot.click("#replan-active")  # reinstate, not defer (offered first)
        app.screen.query_one("#replan-reason").focus()
        await type_text(pilot, "room again")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReplanModal), what="the dialog to close")
        assert (await db_call(db, "get_milestone", "Learning loop")).in_plan


async def test_a_read_only_seat_cannot_cut(seeded):
    app = make_app(seeded.path, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await select(pilot, "Learning loop")
        await pilot.press("c")
        await loaded(pilot)
        assert (await db_call(seeded.path, "get_milestone", "Learning loop")).in_plan


# -- at 80x24 and 160x48, as a person reads it ------------------------------------------------------------

ISSUE = "Data loss in the sync path when two agents write the same key at once (seen twice)"


async def bridged_reports(db) -> None:
    """What a bridged coordination_status.json reports: a failing quality gate and a long critical issue."""
    await db_call(db, "add_memory", "bridge:proj", "quality_gates", {"pytest": "passing", "ruff": "FAILED"},
                  memory_type="semantic", created_by="bridge")
    await db_call(db, "add_memory", "bridge:proj", "critical_issues", [ISSUE], memory_type="semantic",
                  created_by="bridge")


async def test_the_name_and_its_gate_stay_apart_at_80_columns_in_the_terminal_and_the_svg(seeded):
    db = seeded.path
    await db_call(db, "add_milestone", "M5 Hardening, observability and the long tail of production readiness")
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await select(pilot, "Memory service")
        lines = region_text(app, app.screen.query_one("#gate-scroll").region)
        assert any("Memory service  gate: review  approvals 0/1" in line for line in lines), lines
        # An SVG export drops the spaces that lead a styled run: the gap is padding, and "gate:" starts its
        # own run, so no picture runs the two together.
        svg = app.export_screenshot()
        assert ">Memory&#160;service</text>" in svg and ">gate:&#160;review</text>" in svg
        # A name too long for the line wraps in its own column; the gate's words are never split.
        await select(pilot, "M5 Hardening, observability and the long tail of production readiness")
        lines = region_text(app, app.screen.query_one("#gate-scroll").region)
        assert any(line.rstrip().endswith("gate: locked  approvals 0/1") for line in lines), lines
        assert not any(line.rstrip().endswith("gate:") for line in lines)


async def test_the_selected_plan_shows_first_and_agent_reports_wrap_never_cut(seeded):
    db = seeded.path
    await plan_a_graph(db)
    await bridged_reports(db)
    for size in ((80, 24), (160, 48)):
        app = make_app(db)
        async with app.run_test(size=size) as pilot:
            await loaded(pilot)
            await select(pilot, "Docker + Deployment")
            detail = app.screen.query_one("#milestone-detail")
            shown = "\n".join(region_text(app, detail.region))
            # The milestone's own schedule and money are in sight without scrolling, even at 80x24.
            assert "schedule 2027-01-04 → 2027-01-17  12 d behind" in shown, (size, shown)
            assert "money    $0 of $76,336 (0%)" in shown, (size, shown)
            detail.scroll_end(animate=False, immediate=True)
            await pilot.pause()
            shown = " ".join(line.strip() for line in region_text(app, detail.region))
            assert ISSUE in shown, (size, shown)  # wrapped within the pane, not cut at its edge
            reports = app.screen.query_one("#swarm-reports")
            assert reports.region.right <= detail.region.right, size

"""The decision dialog at a small terminal and by keyboard alone: it fits (or scrolls) with its buttons in
view, its footer names its own keys, the highlight is the choice, Enter confirms and never cancels, a
refusal keeps what was typed; and the report beside it is read from its top."""

from __future__ import annotations

from textual.widgets import Button, Checkbox, TextArea

from swarmdeck.app.modals.decision import DecisionModal
from swarmdeck.app.screens.milestones import MilestonesScreen
from swarmdeck.store.limits import MAX_TEXT
from ui_support import db_call, loaded, make_app, screen_text, settle, type_text, wait_for

SMALL = (80, 24)


async def open_decision(pilot) -> DecisionModal:
    await loaded(pilot)
    await pilot.press("d")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DecisionModal), what="the decision modal")
    await pilot.pause()
    return pilot.app.screen


def accept_unmet(modal: DecisionModal) -> None:
    """Tick the box that approves with the report's unmet acceptance criterion (the seeded report has one)."""
    modal.query_one("#accept-unmet", Checkbox).value = True


async def decisions(seeded) -> list[str]:
    gate = await db_call(seeded.path, "gate_status", seeded.milestones["Memory service"])
    return [d.decision.value for d in gate.decisions]


def in_view(app, widget) -> bool:
    """Whether the whole of ``widget`` is on the terminal and not scrolled out of its container."""
    region = widget.region
    width, height = app.size
    return (region.height > 0 and region.y >= 0 and region.bottom <= height and region.right <= width
            and widget.screen.find_widget(widget).region == region)


async def test_at_80x24_the_unmet_criteria_their_box_and_what_happens_stay_in_view(seeded):
    """An approval that leaves a criterion unmet asks for the box: at 80x24 the criterion, the box and what
    the decision does are on screen as the dialog opens, beside the rationale, not scrolled away."""
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        modal = await open_decision(pilot)
        for selector in ("#unsettled", "#accept-unmet", "#consequence", "#rationale", "#confirm"):
            assert in_view(app, modal.query_one(selector)), selector
        text = screen_text(app)
        assert "1 acceptance criterion not met:" in text and "Search p95 under 50 ms  (not met)" in text
        assert "Approve with these criteria as they stand" in text and "What happens:" in text
        assert modal.query_one("#rationale", TextArea).size.height == 2  # two lines to type in, not three
    app = make_app(seeded.path)
    async with app.run_test(size=(160, 48)) as pilot:
        modal = await open_decision(pilot)
        assert modal.query_one("#rationale", TextArea).size.height == 3  # the stylesheet's, unshrunk
        for selector in ("#unsettled", "#accept-unmet", "#consequence", "#confirm"):
            assert in_view(app, modal.query_one(selector)), selector


async def test_at_80x24_both_buttons_are_in_view_and_the_form_scrolls(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        modal = await open_decision(pilot)
        confirm, cancel = modal.query_one("#confirm", Button), modal.query_one("#cancel", Button)
        assert in_view(app, confirm) and in_view(app, cancel)
        text = screen_text(app)
        assert "Confirm CONDITIONAL" in text and "Cancel" in text
        dialog = modal.query_one("#decision-dialog")
        assert dialog.region.bottom <= app.size.height - 1  # above the dialog's own footer
        # What does not fit scrolls; the consequence can be brought into view while the buttons stay.
        body = modal.query_one("#decision-body")
        assert body.max_scroll_y > 0
        body.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert "What happens:" in screen_text(app)
        assert in_view(app, confirm) and in_view(app, cancel)
        await pilot.click("#cancel")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")


async def test_the_footer_shows_the_dialogs_keys_not_the_screens(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        await open_decision(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "Cancel" in footer and "Confirm" in footer and "New line" in footer
        for screen_key in ("Decide", "Close condition", "Next review"):
            assert screen_key not in footer


async def test_the_keyboard_highlight_starts_on_the_preselected_choice(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        modal = await open_decision(pilot)
        assert modal.decision.value == "CONDITIONAL"  # the report proposes it
        await pilot.press("shift+tab")
        assert modal.query_one("#decision").has_focus
        await pilot.press("left")
        await wait_for(pilot, lambda: modal.decision.value == "APPROVE", what="left to reach APPROVE")
        await pilot.press("left")
        await wait_for(pilot, lambda: modal.decision.value == "ESCALATE", what="left to wrap to ESCALATE")
        await pilot.press("right", "right")
        await wait_for(pilot, lambda: modal.decision.value == "CONDITIONAL", what="right, right")
        assert "Confirm CONDITIONAL" in screen_text(app)


async def test_enter_confirms_from_the_choice(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        modal = await open_decision(pilot)
        await type_text(pilot, "Met; latency later")
        await pilot.press("shift+tab", "left")
        await wait_for(pilot, lambda: modal.decision.value == "APPROVE", what="APPROVE chosen")
        accept_unmet(modal)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")
        await settle(pilot)
    assert await decisions(seeded) == ["APPROVE"]


async def test_enter_confirms_from_the_rationale_and_ctrl_j_starts_a_new_line(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        modal = await open_decision(pilot)
        await pilot.press("shift+tab", "left", "tab")  # APPROVE, back in the rationale
        await type_text(pilot, "Met")
        await pilot.press("ctrl+j")
        await type_text(pilot, "latency later")
        assert modal.query_one("#rationale", TextArea).text == "Met\nlatency later"
        accept_unmet(modal)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")
        await settle(pilot)
    gate = await db_call(seeded.path, "gate_status", seeded.milestones["Memory service"])
    assert [(d.decision.value, d.rationale) for d in gate.decisions] == [("APPROVE", "Met\nlatency later")]


async def test_enter_after_tab_never_lands_on_cancel(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        modal = await open_decision(pilot)
        await pilot.press("shift+tab", "left", "tab")  # APPROVE: no conditions box
        await type_text(pilot, "Met")
        await pilot.press("tab")  # the box that accepts the unmet criterion, then Confirm
        assert app.focused is modal.query_one("#accept-unmet")
        await pilot.press("space", "tab")
        assert app.focused is modal.query_one("#confirm")
        await pilot.press("tab")
        assert app.focused is not modal.query_one("#cancel")
        await pilot.press("tab", "tab", "tab")
        assert app.focused is not modal.query_one("#cancel")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")
        await settle(pilot)
    assert await decisions(seeded) == ["APPROVE"]


async def test_a_refused_decision_keeps_what_was_typed(seeded):
    """The store refuses (here a rationale over its size limit, a check only the store makes): the dialog
    stays, says why, and the rationale, the conditions and the choice are as the reviewer left them."""
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        modal = await open_decision(pilot)
        rationale = "Proceed. " + "x" * MAX_TEXT
        modal.query_one("#rationale", TextArea).text = rationale
        modal.query_one("#conditions", TextArea).text = "Fix leak"
        accept_unmet(modal)
        await pilot.press("ctrl+s")
        error = modal.query_one("#decision-error")
        await wait_for(pilot, lambda: "rationale" in str(error.content).lower(), what="the refusal, said here")
        await settle(pilot)
        assert app.screen is modal
        assert modal.query_one("#rationale", TextArea).text == rationale
        assert modal.query_one("#conditions", TextArea).text == "Fix leak"
        assert modal.decision.value == "CONDITIONAL"
        await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications),
                       what="the toast")

        # Shortened, the same dialog records it.
        modal.query_one("#rationale", TextArea).text = "Proceed"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")
        await settle(pilot)
    assert await decisions(seeded) == ["CONDITIONAL"]


async def test_a_refusal_for_a_report_that_changed_keeps_the_rationale(seeded):
    """Another version arrives while the reviewer writes: refused, said in the dialog, nothing lost."""
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        modal = await open_decision(pilot)
        await type_text(pilot, "Proceed")
        modal.query_one("#conditions", TextArea).text = "Fix leak"
        accept_unmet(modal)
        await db_call(seeded.path, "submit_report", "Memory service", submitted_by="validator", summary="v2")
        await pilot.press("ctrl+s")
        error = modal.query_one("#decision-error")
        await wait_for(pilot, lambda: "changed since it was read" in str(error.content), what="the refusal")
        await settle(pilot)
        assert app.screen is modal and modal.query_one("#rationale", TextArea).text == "Proceed"
    assert await decisions(seeded) == []


# -- the report beside the dialog ----------------------------------------------------------------------


async def test_n_reads_the_next_review_from_the_top(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        pane = app.screen.query_one("#gate-scroll")
        assert pane.max_scroll_y > 0
        pane.focus()
        await pilot.press("end")
        await wait_for(pilot, lambda: pane.scroll_y == pane.max_scroll_y, what="the end of the report")
        await pilot.press("n")
        await wait_for(pilot, lambda: pane.scroll_y == 0, what="the report back at its top")


async def test_another_gate_is_read_from_the_top(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        pane = app.screen.query_one("#gate-scroll")
        pane.scroll_end(animate=False, immediate=True)
        await wait_for(pilot, lambda: pane.scroll_y > 0, what="the report scrolled down")
        app.screen.table.focus()
        await pilot.press("up")
        await wait_for(pilot, lambda: app.screen.selected == seeded.milestones["Foundation"])
        await settle(pilot)
        await wait_for(pilot, lambda: pane.scroll_y == 0, what="the other report at its top")


async def test_a_focused_report_pane_is_visibly_focused(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        pane = app.screen.query_one("#gate-scroll")
        blurred = (pane.styles.border_left, pane.styles.background_tint)
        pane.focus()
        await pilot.pause()
        assert pane.has_focus
        assert (pane.styles.border_left, pane.styles.background_tint) != blurred


# -- how it looks ---------------------------------------------------------------------------------------------


def _snapshot_of_the_dialog(seeded, snap_compare, size: tuple[int, int]) -> bool:
    async def run_before(pilot):
        await open_decision(pilot)
        for area in pilot.app.screen.query(TextArea):
            area.cursor_blink = False  # a blinking cursor would make the picture depend on timing
        await type_text(pilot, "Met; latency later")
        await settle(pilot)

    return snap_compare(make_app(seeded.path), terminal_size=size, run_before=run_before)


def test_snapshot_of_the_dialog_at_80x24(seeded, snap_compare):
    assert _snapshot_of_the_dialog(seeded, snap_compare, SMALL)


def test_snapshot_of_the_dialog_at_200x60(seeded, snap_compare):
    assert _snapshot_of_the_dialog(seeded, snap_compare, (200, 60))


async def test_a_second_confirm_while_the_first_is_recorded_records_once(seeded):
    app = make_app(seeded.path)
    async with app.run_test(size=SMALL) as pilot:
        modal = await open_decision(pilot)
        await type_text(pilot, "Proceed")
        modal.query_one("#conditions", TextArea).text = "Fix leak"
        accept_unmet(modal)
        modal.action_confirm()
        modal.action_confirm()
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")
        await settle(pilot)
        assert not any(n.severity == "error" for n in app._notifications)
    assert await decisions(seeded) == ["CONDITIONAL"]

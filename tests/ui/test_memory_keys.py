"""The memory screen's keys: esc leaves the search box, the mode switches while typing, copying says what
it did, and nothing typed shows the newest entries (or, with none, how to add some)."""

from __future__ import annotations

from textual.widgets import Input, OptionList

from swarmdeck.app.screens.queue import QueueScreen
from swarmdeck.store import open_store
from swarmdeck.store.embed import HashEmbedder

from test_memory_screen import SIZE, memory_db, open_memory, search  # noqa: F401  (memory_db: a fixture)
from ui_support import clock, db_call, make_app, settle, static_text, type_text, wait_for


def footer_keys(screen) -> dict[str, str]:
    """What the footer offers now: key display -> description."""
    return {screen.app.get_key_display(b.binding): b.binding.description
            for b in screen.active_bindings.values() if b.binding.show and b.enabled}


async def test_esc_leaves_the_search_box_and_then_the_number_keys_switch_screens(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        box = screen.query_one("#memory-query", Input)
        assert box.has_focus
        await type_text(pilot, "wal 2")  # in the box, a digit is part of the query
        assert box.value == "wal 2" and app.screen is screen
        await pilot.press("escape")
        assert not box.has_focus and screen.query_one("#memory-results", OptionList).has_focus
        assert box.value == "wal 2"  # the query stays
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="the queue screen")
        await pilot.press("4")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the memory screen")
        await pilot.press("slash")
        assert box.has_focus


async def test_while_the_search_box_is_empty_the_number_keys_switch_screens(memory_db):
    """Arriving with 4 and leaving with 2 needs no Esc: an empty box does not take 1-5 (a digit after
    anything typed is part of the query, as above)."""
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        box = screen.query_one("#memory-query", Input)
        assert box.has_focus and box.value == ""
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), what="the queue screen")
        assert box.value == ""  # nothing was typed on the way out
        await pilot.press("4")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the memory screen")
        await pilot.press("slash")
        await type_text(pilot, "x3")
        assert box.value == "x3" and app.screen is screen


async def test_the_mode_switches_while_typing_with_a_key_the_footer_shows(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        await search(pilot, screen, "websocket")
        box = screen.query_one("#memory-query", Input)
        assert box.has_focus and screen.mode.value == "hybrid"
        keys = footer_keys(screen)
        assert keys.get("^t") == "Mode", keys
        screen.results_for = None
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.mode.value == "keyword", what="keyword mode")
        await wait_for(pilot, lambda: screen.results_for == "websocket", what="keyword results")
        assert box.has_focus and box.value == "websocket"  # nothing typed, still in the box
        assert all(h.semantic_rank is None for h in screen.hits)
        assert "esc" in footer_keys(screen)  # while typing, the footer says how to leave the box
        await pilot.press("escape")
        assert "esc" not in footer_keys(screen)


async def test_copy_says_it_sent_the_entry_to_the_terminal_not_that_it_was_copied(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        await search(pilot, screen, "busy_timeout_ms")
        await pilot.press("escape", "y")
        assert app.clipboard == screen.preview_text and screen.preview_text
        said = [n.message for n in app._notifications if n.title == "Clipboard"]
        assert said and "OSC 52" in said[-1] and "terminal" in said[-1]
        assert not any(n.message.startswith("Copied") for n in app._notifications)


async def test_nothing_typed_shows_the_newest_entries_and_they_follow_new_writes(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        await settle(pilot)
        results = screen.query_one("#memory-results", OptionList)
        assert screen.showing_recent and screen.results_for == ""
        assert results.option_count == len(screen.hits) == 17
        stamps = [h.created_at for h in screen.hits]
        assert stamps == sorted(stamps, reverse=True)
        assert screen.hits[0].title == "note-11"  # the last one written
        await db_call(memory_db, "add_memory", "project:abathur", "fresh", "just written", memory_type="episodic",
                      created_by="builder-1")
        app.changed()  # one poll now, as the poller's tick would
        await wait_for(pilot, lambda: screen.hits and screen.hits[0].title == "fresh", what="the new entry first")
        await settle(pilot)
        assert len(screen.hits) == 18
        await search(pilot, screen, "websocket")
        assert not screen.showing_recent
        await pilot.press("ctrl+u")  # the query erased: the newest entries again
        await wait_for(pilot, lambda: screen.results_for == "", what="the newest entries")
        assert screen.showing_recent and len(screen.hits) == 18


async def test_nothing_typed_and_filtered_shows_the_newest_entries_that_fit(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        await pilot.press("escape", "f")
        await pilot.pause()
        app.screen.query_one("#sf-namespace", Input).value = "project:other"
        screen.results_for = None
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.results_for == "", what="filtered newest entries")
        assert [h.title for h in screen.hits] == ["websocket-notes"]


async def test_an_empty_memory_says_how_entries_get_there(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        assert screen.hits == []
        text = static_text(screen.query_one("#memory-preview-body"))
        assert "No memories" in text and "swarmdeck memory add" in text and "swarmdeck demo" in text


async def test_the_store_lists_the_newest_entries_under_the_search_filters(memory_db):
    store = await open_store(memory_db, clock=clock)
    try:
        newest = await store.recent(limit=3)
        assert [h.title for h in newest] == ["note-11", "note-10", "note-9"]
        assert all(h.score == 0 and h.keyword_rank is None and h.semantic_rank is None for h in newest)
        kinds = await store.recent(kinds=["failure", "decision"], limit=10)
        assert {h.kind for h in kinds} == {"failure", "decision"}
        assert [h.namespace for h in await store.recent(namespace_prefix="project:other")] == ["project:other"]
    finally:
        await store.close()


def _snapshot(memory_db, snap_compare, size: tuple[int, int], query: str | None) -> bool:
    async def run_before(pilot):
        screen = await open_memory(pilot)
        if query is not None:
            await search(pilot, screen, query)
        preview = screen.query_one("#memory-preview-body")
        await wait_for(pilot, lambda: screen.hits[0].namespace in static_text(preview), what="the first preview")
        await pilot.press("escape")  # to the results: a focused input's blinking cursor would make the image random
        await wait_for(pilot, lambda: screen.query_one("#memory-results", OptionList).has_focus)
        await settle(pilot)

    return snap_compare(make_app(memory_db, embedder=HashEmbedder(64)), terminal_size=size, run_before=run_before)


def test_snapshot_80x24_searching(memory_db, snap_compare):
    assert _snapshot(memory_db, snap_compare, (80, 24), "why did websocket fail")


def test_snapshot_200x60_searching(memory_db, snap_compare):
    assert _snapshot(memory_db, snap_compare, (200, 60), "why did websocket fail")


def test_snapshot_80x24_newest_entries(memory_db, snap_compare):
    assert _snapshot(memory_db, snap_compare, (80, 24), None)


def test_snapshot_200x60_newest_entries(memory_db, snap_compare):
    assert _snapshot(memory_db, snap_compare, (200, 60), None)


async def test_the_filter_dialog_shows_its_buttons_at_80x24_and_its_fields_scroll(memory_db):
    app = make_app(memory_db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_memory(pilot)
        await pilot.press("escape", "f")
        await wait_for(pilot, lambda: app.screen is not screen, what="the filter dialog")
        modal = app.screen
        await pilot.pause()
        for button in ("#apply", "#clear", "#cancel"):
            region = modal.query_one(button).region
            assert region.height and region.bottom <= 24, (button, region)
        rng = modal.query_one("#sf-range")
        rng.focus()  # the last field, below the fold: focusing it scrolls it into view
        await pilot.pause()
        fields = modal.query_one("#sf-fields")
        await wait_for(pilot, lambda: fields.scroll_y > 0 and fields.region.contains_region(rng.region),
                       what="the fields to scroll the last one into view")

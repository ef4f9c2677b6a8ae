"""What every screen shares: the palette's words, quitting cleanly, the theme that stays, the screenshot."""

from __future__ import annotations

import gc
import re
import warnings

from swarmdeck.app.commands import SwarmCommands

from ui_support import loaded, make_app

SIZE = (120, 40)
#: What an action's code name looks like: a call, or a snake_case word.
CODE = re.compile(r"\w\(|\b[a-z]+_[a-z_]+\b")


async def test_quitting_with_a_poll_just_asked_for_leaves_no_coroutine_unawaited(db):
    """A poll asked for as the app stops is cancelled before it starts: nothing may be left unawaited."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = make_app(db)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            app.poller.poll_now()  # a tick as the person quits: the app cancels the worker before it starts
            app.workers.cancel_group(app, "poll")
        del app, pilot
        gc.collect()
    unawaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert not unawaited, unawaited


async def test_palette_entries_read_as_words_with_their_key(db):
    app = make_app(db, keymap={"memory.mode-from-search": "ctrl+o"})
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        provider = SwarmCommands(app.screen)
        hits = [hit async for hit in provider.discover()]
        found = [hit async for hit in provider.search("memory")]
        assert hits and found
        for hit in hits + found:
            words = f"{hit.text} {hit.help}"
            assert not CODE.search(words), words  # no switch_mode('memory'), no toggle_live
        helps = {hit.text: hit.help for hit in hits}
        assert helps["View: Milestones and gates"] == "Key 1 on any screen"
        mode = next(text for text in helps if text.startswith("Memory: ") and "while typing" in text)
        assert helps[mode] == "Key ^o on the Memory screen"  # as the keymap rebound it

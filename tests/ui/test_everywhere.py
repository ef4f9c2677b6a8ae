"""What every screen shares: the palette's words, quitting cleanly, the theme that stays, the screenshot."""

from __future__ import annotations

import gc
import warnings

from ui_support import loaded, make_app

SIZE = (120, 40)


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

"""What every screen shares: the palette's words, quitting cleanly, the theme that stays, the screenshot."""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import tempfile
import warnings

from swarmdeck.app import preferences
from swarmdeck.app.commands import SwarmCommands

from ui_support import loaded, make_app, wait_for

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


async def test_a_theme_chosen_is_the_next_runs_theme(db, tmp_path):
    path = tmp_path / "config" / "swarmdeck" / "dashboard.json"
    app = make_app(db, preferences_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.theme != "nord" and not path.exists()  # nothing chosen, nothing written
        app.theme = "nord"  # what the palette's Theme command does
        await wait_for(pilot, path.exists, what="the preferences file")
    assert json.loads(path.read_text())["theme"] == "nord"
    again = make_app(db, preferences_path=path)
    async with again.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert again.theme == "nord"


async def test_a_broken_preferences_file_is_said_and_the_defaults_used(db, tmp_path):
    path = tmp_path / "dashboard.json"
    path.write_text("{not json")
    app = make_app(db, preferences_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.theme == make_app(db).theme
        assert [n for n in app._notifications if n.title == "Preferences" and str(path) in n.message]
        app.theme = "nord"  # a new choice writes a good file over the broken one
        await wait_for(pilot, lambda: path.read_text().startswith("{\n"), what="the file rewritten")
    assert json.loads(path.read_text()) == {"theme": "nord"}


def test_the_preferences_file_lives_in_the_config_folder(tmp_path, monkeypatch):
    assert preferences.default_path(tmp_path) == tmp_path / "swarmdeck" / "dashboard.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert preferences.default_path() == tmp_path / "xdg" / "swarmdeck" / "dashboard.json"


async def test_the_palettes_screenshot_saves_in_the_current_folder_and_says_where(db, tmp_path, monkeypatch):
    home = tmp_path / "home"  # a home with no Downloads folder
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        command = [c for c in app.get_system_commands(app.screen) if c.title == "Screenshot"]
        assert len(command) == 1 and "current folder" in command[0].help
        command[0].callback()
        await pilot.pause()
        saved = list(work.glob("*.svg"))
        assert len(saved) == 1 and "<svg" in saved[0].read_text()
        said = [n.message for n in app._notifications if n.title == "Screenshot"]
        assert said == [f"Saved a screenshot to {saved[0]}"]
        assert not (home / "Downloads").exists()


async def test_the_screenshot_goes_to_the_temporary_folder_when_the_current_one_is_read_only(db, tmp_path,
                                                                                           monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    spare = tmp_path / "tmp"
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: os.fspath(path) != str(work) and access(path, mode, **kw))
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await app.run_action("screenshot")
        await pilot.pause()
        saved = list(spare.glob("*.svg"))
        assert len(saved) == 1 and not list(work.glob("*.svg"))
        assert [n.message for n in app._notifications if n.title == "Screenshot"] == [
            f"Saved a screenshot to {saved[0]}"]

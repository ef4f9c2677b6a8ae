"""Command palette providers: every action of every screen, by area, calling the same action as its key."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keymap import keys_of, own_bindings

if TYPE_CHECKING:
    from .tui import SwarmdeckApp

GLOBAL = [
    ("View", "Milestones and gates", None, "switch_mode('milestones')"),
    ("View", "Task queue", None, "switch_mode('queue')"),
    ("View", "Agents", None, "switch_mode('agents')"),
    ("View", "Memory search", None, "switch_mode('memory')"),
    ("View", "Performance charts", None, "switch_mode('charts')"),
    ("View", "Pause or resume the live view", None, "toggle_live"),
    ("View", "Poll faster", None, "poll_faster"),
    ("View", "Poll slower", None, "poll_slower"),
    ("View", "Replay the swarm's history", None, "open_replay"),
    ("Help", "Show every key", None, "help"),
]


def palette_entries(app: SwarmdeckApp) -> Iterator[tuple[str, str, str | None, str]]:
    """(area, title, mode, action) for every action a key can reach, read-only actions only in a read-only seat;
    in replay, replay's own (the app's ``check_action`` says which of its actions work now)."""
    for entry in GLOBAL:
        if app.check_action(entry[3].partition("(")[0], ()):
            yield entry
    for binding in own_bindings(type(app)):
        if (binding.id or "").startswith("replay.") and app.check_action(binding.action.partition("(")[0], ()):
            yield "Replay", binding.tooltip.removeprefix("Replay: "), None, binding.action
    for mode, screen in app.MODES.items():
        area = getattr(screen, "SCREEN_NAME", mode).split(" ", 1)[-1]
        mutating = getattr(screen, "MUTATING", frozenset())
        for binding in getattr(screen, "BINDINGS", []):
            if not isinstance(binding, Binding) or (app.read_only and binding.action in mutating):
                continue
            title = binding.tooltip or binding.description
            yield area, title, mode, binding.action


def palette_help(app: SwarmdeckApp, area: str, mode: str | None, action: str) -> str:
    """The line under a palette entry, in words: the key that does the same (as rebound by the keymap)
    and where it works; never the action's code name."""
    owner = type(app) if mode is None else app.MODES[mode]
    binding = next((b for b in own_bindings(owner) if b.action == action), None)
    where = "on any screen" if mode is None else f"on the {area} screen"
    if binding is None:
        return f"Works {where}"
    keys = [app.get_key_display(Binding(key.strip(), action)) for key in keys_of(binding, app.keymap).split(",")]
    return f"Key {' or '.join(keys)} {where}"


async def _run(app: SwarmdeckApp, mode: str | None, action: str) -> None:
    if mode is None:
        await app.run_action(action)
        return
    if app.current_mode != mode:
        await app.switch_mode(mode)
    await app.screen.run_action(action)


class SwarmCommands(Provider):
    """Queue, Milestones, Agents and View commands, prefixed by area."""

    async def discover(self) -> Hits:
        app: SwarmdeckApp = self.app  # type: ignore[assignment]
        for area, title, mode, action in palette_entries(app):
            yield DiscoveryHit(f"{area}: {title}", partial(_run, app, mode, action),
                               help=palette_help(app, area, mode, action))

    async def search(self, query: str) -> Hits:
        app: SwarmdeckApp = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for area, title, mode, action in palette_entries(app):
            text = f"{area}: {title}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(_run, app, mode, action), text=text,
                          help=palette_help(app, area, mode, action))


COMMAND_PROVIDERS = {SwarmCommands}

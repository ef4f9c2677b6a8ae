"""The bar at the top of every screen: live/paused, poll interval, gates awaiting review, swarm state, and
a broken audit trail."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from .text import safe


class StatusBar(Widget):
    """Data in (reactives), nothing out. The app sets the values; every screen shows one."""

    DEFAULT_CSS = """
    StatusBar { dock: top; height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    title: reactive[str] = reactive("swarmdeck")
    screen_name: reactive[str] = reactive("")
    live: reactive[bool] = reactive(True)
    interval: reactive[float] = reactive(1.0)
    pending_reviews: reactive[int] = reactive(0)
    swarm_paused: reactive[str] = reactive("")  # the reason, or "" when the swarm runs
    read_only: reactive[bool] = reactive(False)
    audit_broken: reactive[str] = reactive("")  # shown first, so that no width cuts it off
    #: What else waits on a person, by kind: (words, count, urgency) — urgency 3 is critical. Gates in
    #: review and a paused swarm have their own places above; ``overdue`` gates are counted apart.
    attention: reactive[tuple[tuple[str, int, int], ...]] = reactive(())
    overdue: reactive[int] = reactive(0)

    def render(self) -> Text:
        """What waits on a person comes first: the screen, live/paused, gates, a paused swarm and the
        inbox's counts always show; the title gets the room left (cut in the middle, or left out), and
        the key hints go when they do not fit."""
        lead: list[Text | str] = []
        if self.audit_broken:
            lead += [Text(f" ⚠ {self.audit_broken} ", style="bold white on red"), " "]
        state: list[Text | str] = [Text(self.screen_name, style="bold"), "   "]
        if self.live:
            state.append(Text(f"● LIVE {self.interval:g}s", style="bold green"))
        else:
            state.append(Text("⏸ PAUSED", style="bold black on yellow"))
        if self.pending_reviews:
            noun = "gate awaits" if self.pending_reviews == 1 else "gates await"
            state += ["   ", Text(f"⚑ {self.pending_reviews} {noun} review", style="bold magenta")]
            if self.overdue:
                state += [" ", Text(f"({self.overdue} overdue)", style="bold white on red")]
        if self.swarm_paused:
            state += ["   ", Text("SWARM PAUSED: ", style="bold white on red"),
                      safe(self.swarm_paused, one_line=True)]
        if self.attention:
            state.append("   ")
            for index, (words, count, urgency) in enumerate(self.attention):
                if index:
                    state.append(" · ")
                state.append(Text(f"{count} {words}", style="bold red" if urgency >= 3 else "bold yellow"))
            state.append(Text(" (i)", style="dim"))
        if self.read_only:
            state += ["   ", Text("read-only", style="bold cyan")]
        hints: list[Text | str] = ["   ", Text("1-5 screens · ? keys · ^p commands", style="dim")]

        width = self.content_region.width
        fixed = _cells(lead) + _cells(state)
        brand = Text("swarmdeck", style="bold")
        title = safe(self.title, one_line=True)
        if not width or fixed + len("swarmdeck ·  · ") + title.cell_len + _cells(hints) <= width:
            head = [brand, " · ", title, " · "]
        else:
            hints = []
            room = width - fixed - len("swarmdeck ·  · ")
            if room >= title.cell_len:
                head = [brand, " · ", title, " · "]
            elif room >= _MIN_TITLE:
                head = [brand, " · ", _middle_cut(title, room), " · "]
            elif width - fixed >= len("swarmdeck · "):
                head = [brand, " · "]
            else:
                head = []
        return Text.assemble(*lead, *head, *state, *hints, no_wrap=True, overflow="ellipsis")


#: A title cut shorter than this says nothing: leave it out instead.
_MIN_TITLE = 12


def _cells(parts: list[Text | str]) -> int:
    return sum(Text(p).cell_len if isinstance(p, str) else p.cell_len for p in parts)


def _middle_cut(text: Text, width: int) -> Text:
    """``text`` in ``width`` cells, its middle replaced by an ellipsis: both ends of a path say the most."""
    if text.cell_len <= width:
        return text
    keep = width - 1
    head = keep - keep // 2
    tail = keep // 2
    return Text.assemble(text[:head], "…", text[len(text.plain) - tail:] if tail else "")

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
        parts: list[Text | str] = []
        if self.audit_broken:
            parts += [Text(f" ⚠ {self.audit_broken} ", style="bold white on red"), " "]
        parts += [Text("swarmdeck", style="bold"), " · ", safe(self.title), " · ",
                  Text(self.screen_name, style="bold")]
        parts.append("   ")
        if self.live:
            parts.append(Text(f"● LIVE {self.interval:g}s", style="bold green"))
        else:
            parts.append(Text("⏸ PAUSED", style="bold black on yellow"))
        if self.pending_reviews:
            noun = "gate awaits" if self.pending_reviews == 1 else "gates await"
            parts += ["   ", Text(f"⚑ {self.pending_reviews} {noun} review", style="bold magenta")]
            if self.overdue:
                parts += [" ", Text(f"({self.overdue} overdue)", style="bold white on red")]
        if self.swarm_paused:
            parts += ["   ", Text("SWARM PAUSED: ", style="bold white on red"), safe(self.swarm_paused, one_line=True)]
        if self.attention:
            parts.append("   ")
            for index, (words, count, urgency) in enumerate(self.attention):
                if index:
                    parts.append(" · ")
                parts.append(Text(f"{count} {words}", style="bold red" if urgency >= 3 else "bold yellow"))
            parts.append(Text(" (i)", style="dim"))
        if self.read_only:
            parts += ["   ", Text("read-only", style="bold cyan")]
        parts += ["   ", Text("1-5 screens · ? keys · ^p commands", style="dim")]
        return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")

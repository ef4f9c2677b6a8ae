"""The bar at the top of every screen: live/paused, poll interval, gates awaiting review, swarm state, and
a broken audit trail."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from .text import safe


#: A database title cut shorter than this is left out.
MIN_TITLE = 8


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
    #: Every milestone's gate has passed: the project is done (store.gates.project_complete).
    project_complete: reactive[bool] = reactive(False)
    #: "REPLAY 14:32:05 · event 1234 task.failed" while the dashboard shows the past; "" live. It takes
    #: the place of LIVE/PAUSED, in a style nothing live uses, and survives any width.
    replay: reactive[str] = reactive("")

    def render(self) -> Text:
        """What matters most survives a narrow terminal: the screen, live or paused, what waits on a
        person. The database's title gives way first (cut from the left: its file name stays), then
        the key hint."""
        head = Text()
        if self.audit_broken:
            head.append(f" ⚠ {self.audit_broken} ", style="bold white on red")
            head.append(" ")
        if self.replay:
            head.append_text(safe(f" {self.replay} ", "bold black on bright_cyan", one_line=True))
            head.append(" ")
        head.append("swarmdeck", style="bold")
        rest = Text(" · ")
        rest.append(self.screen_name, style="bold")
        rest.append("   ")
        if self.replay:
            rest.append("nothing can be changed · ^r leaves", style="bold cyan")
        elif self.live:
            rest.append(f"● LIVE {self.interval:g}s", style="bold green")
        else:
            rest.append("⏸ PAUSED", style="bold black on yellow")
        if self.project_complete:
            rest.append("   ")
            rest.append("✔ PROJECT COMPLETE", style="bold black on green")
        if self.pending_reviews:
            noun = "gate awaits" if self.pending_reviews == 1 else "gates await"
            rest.append("   ")
            rest.append(f"⚑ {self.pending_reviews} {noun} review", style="bold magenta")
            if self.overdue:
                rest.append(" ")
                rest.append(f"({self.overdue} overdue)", style="bold white on red")
        if self.swarm_paused:
            rest.append("   ")
            rest.append("SWARM PAUSED: ", style="bold white on red")
            rest.append_text(safe(self.swarm_paused, one_line=True))
        if self.attention:
            rest.append("   ")
            for index, (words, count, urgency) in enumerate(self.attention):
                if index:
                    rest.append(" · ")
                rest.append(f"{count} {words}", style="bold red" if urgency >= 3 else "bold yellow")
            rest.append(" (i)", style="dim")
        if self.read_only and not self.replay:
            rest.append("   ")
            rest.append("read-only", style="bold cyan")
        hint = Text("   1-5 screens · ? keys · ^p commands", style="dim")

        width = self.content_size.width or 10_000
        room = width - head.cell_len - rest.cell_len
        if room < hint.cell_len + len(" · ") + MIN_TITLE:
            hint = Text()
        title = safe(self.title, one_line=True)
        room -= hint.cell_len + len(" · ")
        if title.cell_len > room:
            title = Text("…") + title[title.cell_len - room + 1:] if room >= MIN_TITLE else Text()
        line = Text.assemble(head, *((" · ", title) if title else ()), rest, hint, no_wrap=True,
                             overflow="ellipsis")
        return line

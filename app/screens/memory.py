"""Screen 4: search the swarm's memory as you type — memories, decisions, failures, lessons, documents."""

from __future__ import annotations

import json

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from swarmdeck.store import Event, learning, rules
from swarmdeck.store import search as search_rules
from swarmdeck.store.models import SearchHit, SearchMode
from swarmdeck.widgets.fitted import Fitted
from swarmdeck.widgets.text import highlighted, safe

from ..format import age, clock_time
from ..modals.memory_filters import SearchFilterModal, SearchFilters
from .base import LiveScreen, empty_state

DEBOUNCE = 0.15
RESULTS = 50
MODES = [SearchMode.HYBRID, SearchMode.KEYWORD, SearchMode.SEMANTIC]
#: What the memory screen says when the swarm has no memory yet: how entries get there.
EMPTY = empty_state("No memories, decisions or lessons yet.", [
    ("swarmdeck memory add NAMESPACE KEY VALUE", "remember something (agents do this, or over MCP)"),
    ("swarmdeck failure log …  /  swarmdeck decision log …", "record what failed and why, or what was decided"),
    ("swarmdeck demo", "open a simulated swarm that writes some, to try the search"),
])
#: What ``y`` does, said as it is: swarmdeck cannot know whether the terminal honoured the request.
SENT = ("Sent the entry to the terminal's clipboard (OSC 52, {chars:,} characters). A terminal without "
        "OSC 52 (or tmux without set-clipboard) ignores it.")
#: How a relevance label looks (store/search.py ``relevance_label``); a hit under the cut-off is dim.
RELEVANCE_STYLE = {"strong": "bold green", "good": "green", "weak": "yellow"}
RELEVANCE_WIDTH = len(" 100% strong ")
KIND_STYLE = {"memory": "cyan", "failure": "bold red", "decision": "bold green", "retrospective": "magenta",
              "spike": "yellow", "pattern": "blue", "estimate": "bright_black", "document": "white"}


#: The keys that switch screens everywhere (app/tui.py).
SCREEN_KEYS = frozenset("12345")


class QueryInput(Input):
    """The search box. While it is empty, 1-5 are not typed into it but switch screens, as on every other
    screen: arriving here with `4` and leaving with `5` needs no Esc between."""

    async def _on_key(self, event: events.Key) -> None:
        if not self.value and event.character in SCREEN_KEYS:
            event.prevent_default()  # Input's own handler would type it
            event.stop()
            # Leave the box (as Esc does), then press the key again where the screens' keys act (as the
            # keymap binds them).
            self.screen.set_focus(self.screen.query_one("#memory-results"))
            self.app.simulate_key(event.key)


class MemoryScreen(LiveScreen):
    """Type to search (nothing typed: the newest entries); esc leaves the box so that keys act; j/k to move;
    enter to read the whole entry; ctrl+t (or m outside the box) switches mode; f filters."""

    SCREEN_NAME = "4 Memory"
    AUTO_FOCUS = "#memory-query"
    BINDINGS = [
        Binding("slash", "focus_search", "Search", id="memory.search",
                tooltip="Type a query (searches as you type)"),
        # ctrl+m is Enter to a terminal: ctrl+t reaches the app, and works while typing in the box.
        Binding("ctrl+t", "toggle_mode", "Mode", id="memory.mode-from-search",
                tooltip="Switch between hybrid, keyword and semantic ranking (works while typing)"),
        Binding("m", "toggle_mode", "Mode", show=False, id="memory.mode",
                tooltip="Switch between hybrid, keyword and semantic ranking"),
        Binding("f", "filters", "Filters", id="memory.filters",
                tooltip="Namespace, kind, memory type, agent, time"),
        Binding("y", "copy", "Copy", id="memory.copy",
                tooltip="Send the selected entry to the terminal's clipboard (OSC 52)"),
        Binding("a", "toggle_all", "Show all", show=False, id="memory.all",
                tooltip="Show or hide the less relevant entries hybrid and semantic search leave out"),
        Binding("j", "cursor_down", "Down", show=False, id="memory.down"),
        Binding("k", "cursor_up", "Up", show=False, id="memory.up"),
        Binding("escape", "back", "Leave search", id="memory.back",
                tooltip="Leave the search box (the query stays), so that 1-5, f, y and the other keys act"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.query_text = ""
        self.mode = SearchMode.HYBRID
        self.filters = SearchFilters()
        self.hits: list[SearchHit] = []
        #: The query the shown results answer (the box may already hold a newer one).
        self.results_for: str | None = None
        #: Whether the list shows the newest entries (nothing typed) rather than a search's answer.
        self.showing_recent = False
        #: The last search's answer: whether it fell back to keywords, and why.
        self.fallback: rules.SearchAnswer | None = None
        #: Whether the less relevant entries (under the embedder's cut-off) are shown too (``a``).
        self.show_all = False
        self.preview_text = ""
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield self.status_bar()
        with Horizontal(id="memory-search-row"):
            yield QueryInput(placeholder="search memories, decisions, failures, lessons…  (/ to focus)",
                             id="memory-query")
            yield Static("", id="memory-mode")
        yield Static("", id="memory-health")
        with Horizontal(id="memory-body"):
            with Vertical(id="memory-list"):
                yield OptionList(id="memory-results", markup=False)
                yield Fitted("", id="memory-cutoff")
            with VerticalScroll(id="memory-preview"):
                yield Fitted("Type to search the swarm's memory; esc leaves the box.", id="memory-preview-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self._show_mode()

    # -- live data: the index health, and results when what they show changed ------------------------------

    async def load(self) -> None:
        await self._health()
        await self._search()  # nothing typed yet: the newest entries

    async def apply(self, events: list[Event]) -> None:
        if any(e.entity in ("memory", "record", "document", "index") for e in events):
            await self._health()
            if self.showing_recent and any(e.entity in ("memory", "record", "document") for e in events):
                await self._search()  # new entries lead the recent list

    @property
    def replaying(self) -> bool:
        """Whether the app shows the swarm's past (replay mode): its search is by words only."""
        return bool(getattr(self.app, "replay_marker", ""))

    async def _health(self) -> None:
        if self.replaying:  # the items as they were; no vectors are replayed (store/replay/engine.py)
            status = await self.store.index_status(None)
            self.query_one("#memory-health", Static).update(Text(
                f"index: {status.entries:,} entries then · replay searches by words, not meaning", style="dim"))
            return
        model = getattr(self.sd.embedder, "model", None)
        status = await self.store.index_status(model)
        line = Text(f"index: {status.entries:,} entries · {status.embedded:,} embedded · ", style="dim")
        line.append(f"{status.pending:,} pending", style="yellow" if status.pending else "dim")
        if status.failed:
            line.append(f" · {status.failed:,} failed", style="bold red")
        line.append(f" · model {status.model or 'none (keyword only)'}", style="dim")
        if status.dim:
            line.append(f" · {status.dim} dims", style="dim")
        if status.last_error:
            line.append(" · last error: ", style="red")
            line.append_text(safe(status.last_error, "red", one_line=True))
        self.query_one("#memory-health", Static).update(line)

    # -- searching ---------------------------------------------------------------------------------------------------

    @on(Input.Changed, "#memory-query")
    def _typed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self.run_search)

    @on(Input.Submitted, "#memory-query")
    def _submitted(self) -> None:
        self.query_one("#memory-results", OptionList).focus()

    def run_search(self) -> None:
        self.search_worker()

    @work(exclusive=True, group="search", exit_on_error=False)
    async def search_worker(self) -> None:
        """Exclusive: a newer query cancels the one still running, so stale results never land."""
        await self._search()

    async def _search(self) -> None:
        results = self.query_one("#memory-results", OptionList)
        query = self.query_text
        filters = self.filters.query(self.sd.clock())
        recent = not query.strip()
        if recent:
            self.hits = await self.store.recent(limit=RESULTS, **filters)
            self.fallback = None
        else:
            # The shared rule (store/rules.py): the mode asked for, else keyword results and why.
            # In replay, words only: the vectors are not replayed (the health line says so).
            answer = await rules.search(self.store, query, mode=SearchMode.KEYWORD if self.replaying else self.mode,
                                        embedder=self.sd.embedder, limit=RESULTS, everything=self.show_all,
                                        **filters)
            self.hits = answer.hits
            self.fallback = answer
        self.showing_recent = recent
        self._show_mode()
        self.results_for = query
        now = self.sd.clock()
        results.border_title = "newest entries (type to search)" if recent else None
        results.clear_options()
        results.add_options([Option(self._prompt(h, now, recent), id=str(h.item_id)) for h in self.hits])
        self._show_cutoff()
        if self.hits:
            results.highlighted = 0
        elif recent and self.filters == SearchFilters():
            self.preview_text = ""
            self.query_one("#memory-preview-body", Static).update(
                Text("No memories, decisions or lessons at this point of the history.", style="dim")
                if self.replaying else EMPTY)
        elif not recent and self.fallback is not None and self.fallback.hidden:
            # Entries matched, but none closely enough: say so, not "nothing matches".
            self.preview_text = ""
            message = Text("Nothing here is close to the question: ", style="dim")
            message.append(f"{self.fallback.hidden_note}. ", style="dim")
            message.append("a", style="bold")
            message.append(" shows them.", style="dim")
            self.query_one("#memory-preview-body", Static).update(message)
        else:
            self.preview_text = ""
            self.query_one("#memory-preview-body", Static).update(
                safe(f"Nothing matches ({self.filters.describe()}).", "dim", one_line=True))

    def _show_cutoff(self) -> None:
        """Under the list: how many less relevant entries are hidden and the key that shows them (or hides
        them again)."""
        answer = None if self.showing_recent else self.fallback
        note = Text()
        if answer is not None and answer.hidden:
            note.append(f"{answer.hidden_note} — ", style="dim")
            note.append("a", style="bold")
            note.append(" to show", style="dim")
        elif answer is not None and self.show_all and any(answer.less_relevant(h) for h in answer.hits):
            n = sum(answer.less_relevant(h) for h in answer.hits)
            note.append(f"showing {n} less relevant (dim) — ", style="dim")
            note.append("a", style="bold")
            note.append(" to hide", style="dim")
        cutoff = self.query_one("#memory-cutoff", Static)
        cutoff.update(note)
        cutoff.display = bool(note.plain)

    def _relevance(self, hit: SearchHit, *, column: bool = True) -> Text:
        """``84% strong``, coloured by its label (a column of RELEVANCE_WIDTH in the list); dim when it is
        under the embedder's cut-off."""
        label = search_rules.relevance_label(hit.relevance)
        text = f"{round((hit.relevance or 0) * 100):>4}% {label:<6} " if column else search_rules.relevance_text(hit.relevance)
        below = self.fallback is not None and self.fallback.less_relevant(hit)
        return Text(text, style="dim" if below else RELEVANCE_STYLE.get(label, ""))

    def _prompt(self, hit: SearchHit, now: float, recent: bool = False) -> Text:
        # A recent entry has no relevance: nothing was asked.
        line = Text()
        if not recent:
            line.append_text(self._relevance(hit))  # its colour spans the column only
        line.append(f"{hit.kind:<14}", style=KIND_STYLE.get(hit.kind, ""))
        # The title first: on a narrow terminal the namespace and age are what the ellipsis takes.
        line.append_text(safe(hit.title, "bold", one_line=True))
        line.append("  ")
        line.append_text(safe(hit.namespace, "italic", one_line=True))
        line.append(f"  {age(now - hit.created_at.timestamp())} ago", style="dim")
        line.append("\n" + " " * (8 if recent else RELEVANCE_WIDTH))
        line.append_text(highlighted(hit.snippet, hit.highlights, "bold black on yellow"))
        line.no_wrap = True  # two lines per hit, each cropped: the preview has the rest
        line.overflow = "ellipsis"
        return line

    # -- the preview ---------------------------------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#memory-results")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            hit = next((h for h in self.hits if str(h.item_id) == event.option.id), None)
            if hit is not None:
                self.show_preview(hit)

    @work(exclusive=True, group="preview", exit_on_error=False)
    async def show_preview(self, hit: SearchHit) -> None:
        body = Text()
        body.append(f"{hit.kind}", style=f"bold {KIND_STYLE.get(hit.kind, '')}")
        body.append("  ")
        body.append_text(safe(hit.namespace, "italic"))
        if self.showing_recent:
            body.append(f"\nwritten {age(self.sd.clock() - hit.created_at.timestamp())} ago\n", style="dim")
        else:
            body.append("\nrelevance ", style="dim")
            body.append_text(self._relevance(hit, column=False))
            similarity = "-" if hit.similarity is None else f"{hit.similarity:.3f}"
            body.append(f" · similarity {similarity} · score {hit.score:.4g} · keyword rank {hit.keyword_rank or '-'}"
                        f" · semantic rank {hit.semantic_rank or '-'}\n", style="dim")
        if hit.kind == "memory":
            entry = await self.store.get_memory_by_id(hit.ref_id)
            history = await self.store.memory_history(entry.namespace, entry.key)
            body.append("\n")
            body.append_text(safe(entry.key, "bold"))
            body.append(f"   v{entry.version} · {entry.memory_type} · by ")
            body.append_text(safe(entry.created_by))
            body.append(f" · {clock_time(entry.created_at)}\n\n")
            value = json.dumps(entry.value, indent=2, ensure_ascii=False) if entry.is_json else entry.value
            body.append_text(safe(value))
            self.preview_text = value
            body.append("\n\nVersions\n", style="bold underline")
            for version in reversed(history):
                body.append(f"  v{version.version}  {clock_time(version.created_at)}  ")
                body.append_text(safe(version.created_by))
                if version.deleted:
                    body.append("  deleted", style="red")
                body.append("\n")
            if entry.metadata:
                body.append("\nMetadata\n", style="bold underline")
                body.append_text(safe(json.dumps(entry.metadata, indent=2, ensure_ascii=False)))
                body.append("\n")
        elif hit.kind == "document":
            text = await self.store.search_item_body(hit.item_id)
            body.append("\n")
            body.append_text(safe(hit.title, "bold"))
            body.append("\n\n")
            body.append_text(safe(text))
            self.preview_text = text
        else:
            record = await self.store.get_record(hit.ref_id)
            body.append("\n")
            body.append_text(safe(record.title, "bold"))
            body.append(f"\n{clock_time(record.created_at)}\n\n", style="dim")
            for name, value in record.fields.items():
                body.append(f"{name.replace('_', ' ')}\n", style="bold")
                body.append_text(safe(learning.shown(record.kind, name, value)))
                body.append("\n\n")
            self.preview_text = json.dumps(record.fields, indent=2, ensure_ascii=False)
        links = [("task", hit.task_id), ("milestone", hit.milestone_id), ("agent", hit.agent)]
        if any(value for _, value in links):
            body.append("\nLinks  ", style="bold")
            for name, value in links:
                if value:
                    body.append(f"{name} ")
                    body.append_text(safe(value, "bold"))
                    body.append("   ")
        self.query_one("#memory-preview-body", Static).update(body)

    # -- actions ---------------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":  # esc has something to leave only while the box has focus
            return self.is_mounted and self.query_one("#memory-query", Input).has_focus
        return super().check_action(action, parameters)

    def action_focus_search(self) -> None:
        self.query_one("#memory-query", Input).focus()

    def action_back(self) -> None:
        """Esc leaves the search box for the results (the query stays; / comes back to it): from there
        1-5 switch screens and the screen's keys act, instead of being typed into the query."""
        if self.query_one("#memory-query", Input).has_focus:
            self.query_one("#memory-results", OptionList).focus()

    def action_cursor_down(self) -> None:
        self.query_one("#memory-results", OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one("#memory-results", OptionList).action_cursor_up()

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.run_search()

    def action_toggle_mode(self) -> None:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self._show_mode()
        self.run_search()

    def _show_mode(self) -> None:
        label = Text(f" {self.mode.value} ", style="bold reverse")
        label.append_text(safe(f"  {self.filters.describe()}", "dim", one_line=True))  # quotes what was typed
        if self.mode is not SearchMode.KEYWORD and self.replaying:
            label.append("  (replay: keyword only)", style="yellow")
        elif self.mode is not SearchMode.KEYWORD and self.sd.embedder is None:
            label.append("  (no embedder: keyword only)", style="yellow")
        elif self.mode is not SearchMode.KEYWORD and self.fallback is not None and self.fallback.fell_back:
            # The embedder's error may quote anything a server answered: plain text.
            why = f"  (keyword results only: {self.fallback.reason})"
            label.append_text(safe(why, "yellow", one_line=True))
        self.query_one("#memory-mode", Static).update(label)

    def action_filters(self) -> None:
        def chosen(filters: SearchFilters | None) -> None:
            if filters is not None:
                self.filters = filters
                self._show_mode()
                self.run_search()

        self.app.push_screen(SearchFilterModal(self.filters), chosen)

    def action_copy(self) -> None:
        if not self.preview_text:
            self.notify("Select an entry first", timeout=2)
            return
        self.app.copy_to_clipboard(self.preview_text)
        self.notify(SENT.format(chars=len(self.preview_text)), title="Clipboard", timeout=4)

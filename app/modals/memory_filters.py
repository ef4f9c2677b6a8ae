"""Search filters for the memory screen: namespace prefix, kinds, memory type, agent, time range."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, SelectionList

from swarmdeck.store.learning import KINDS as RECORD_KINDS
from swarmdeck.store.models import MemoryType

KINDS = ("memory", *RECORD_KINDS, "document")
RANGES = {"any time": None, "last hour": 3600.0, "last day": 86400.0, "last week": 604800.0, "last 30 days": 2592000.0}


@dataclass(frozen=True)
class SearchFilters:
    namespace_prefix: str = ""
    kinds: tuple[str, ...] = ()
    memory_type: str | None = None
    agent: str = ""
    range_name: str = "any time"

    def query(self, now: float) -> dict:
        window = RANGES[self.range_name]
        return {
            "namespace_prefix": self.namespace_prefix or None,
            "kinds": self.kinds,
            "memory_type": self.memory_type,
            "agent": self.agent or None,
            "since": None if window is None else now - window,
        }

    def describe(self) -> str:
        parts = []
        if self.namespace_prefix:
            parts.append(f"ns {self.namespace_prefix}*")
        if self.kinds:
            parts.append("/".join(self.kinds))
        if self.memory_type:
            parts.append(self.memory_type)
        if self.agent:
            parts.append(f"by {self.agent}")
        if self.range_name != "any time":
            parts.append(self.range_name)
        return ", ".join(parts) or "no filters"


class SearchFilterModal(ModalScreen[SearchFilters | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="modal.confirm"),
    ]

    def __init__(self, current: SearchFilters) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="sf-dialog"):
            yield Label("Filter the search", classes="dialog-title")
            # The fields scroll and the buttons stay: at 80x24 the whole form does not fit.
            with VerticalScroll(id="sf-fields"):
                yield from self._fields()
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Clear", id="clear")
                yield Button("Cancel", id="cancel")

    def _fields(self) -> ComposeResult:
        yield Label("Namespace prefix")
        yield Input(self.current.namespace_prefix, placeholder="project:abathur/agent:", id="sf-namespace")
        yield Label("Kinds (none = all; space toggles)")
        yield SelectionList[str](*[(k, k, k in self.current.kinds) for k in KINDS], id="sf-kinds")
        yield Label("Memory type")
        yield Select([(m.value, m.value) for m in MemoryType], prompt="any",
                     value=self.current.memory_type or Select.NULL, id="sf-type")
        yield Label("Agent")
        yield Input(self.current.agent, placeholder="any agent", id="sf-agent")
        yield Label("Written")
        yield Select([(name, name) for name in RANGES], value=self.current.range_name, allow_blank=False,
                     id="sf-range")

    def action_apply(self) -> None:
        memory_type = self.query_one("#sf-type", Select).value
        self.dismiss(replace(
            self.current,
            namespace_prefix=self.query_one("#sf-namespace", Input).value.strip(),
            kinds=tuple(k for k in KINDS if k in self.query_one("#sf-kinds", SelectionList).selected),
            memory_type=None if memory_type is Select.NULL else memory_type,
            agent=self.query_one("#sf-agent", Input).value.strip(),
            range_name=self.query_one("#sf-range", Select).value,
        ))

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted)
    def _apply(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#clear")
    def _clear(self) -> None:
        self.dismiss(SearchFilters())

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

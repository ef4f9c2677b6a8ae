"""Rules the three faces share: the CLI, the MCP server and the dashboard call these, never a copy.

UI-free and SQL-free: each rule works over the `Store` protocol or over models, and returns data
(a result with flags, a dict of store fields); each face words what it shows its own way.

- ``search``: the requested ranking, falling back to keyword results when the embedder cannot be used
  (none configured, nothing embedded with it yet, or it failed on the query), and saying so.
- ``current_decisions`` / ``latest_decision``: the verified decisions on a gate's current report.
- ``gate_waits_for``: what a gate still waits for (locked, no report, a decision), or None once decided.
- ``project_complete``: whether every milestone's gate has passed (the project is done).
- ``agent_fields``: a heartbeat's or status update's options as the store's fields.
- ``MAX_ID`` / ``check_id`` / ``driver_refusal``: the id bounds and the database's integer overflow.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import search as search_rules
from .errors import InvalidArgument, StoreError
from .models import GateDecision, GateStatus, MilestoneStatus, SearchHit, SearchMode

__all__ = [
    "MAX_ID", "Fallback", "GateWait", "SearchAnswer", "agent_fields", "check_id", "current_decisions",
    "driver_refusal", "gate_waits_for", "id_in_range", "latest_decision", "project_complete", "search",
]

# -- ids and numbers the database cannot hold ------------------------------------------------------------

#: The largest integer SQLite stores: a bigger id is refused as an argument, never an overflow.
MAX_ID = 2**63 - 1

#: What every face says of a number the database cannot hold.
TOO_LARGE = "a number given is too large for the database"


def id_in_range(number: int, *, low: int = 1) -> bool:
    return low <= number <= MAX_ID


def check_id(value: Any, what: str = "id", *, low: int = 1) -> int:
    """A row id (a whole number from ``low`` to MAX_ID), or InvalidArgument saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, int) or not id_in_range(value, low=low):
        raise InvalidArgument(f"{what} must be a whole number from {low} to {MAX_ID}, not {value!r}")
    return value


def driver_refusal(exc: BaseException) -> StoreError | None:
    """A driver's error that is the caller's bad argument, as the store error every face reports."""
    if isinstance(exc, OverflowError):  # e.g. a milestone id given as 30 digits
        return InvalidArgument(TOO_LARGE)
    return None


# -- search with a fallback ------------------------------------------------------------------------------


class Fallback(enum.StrEnum):
    """Why a search answered from keywords alone (the values are the CLI's warning codes)."""

    NO_EMBEDDER = "embedder_unavailable"
    INDEX_EMPTY = "index_empty"
    EMBEDDER_FAILED = "embedder_failed"


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    hits: list[SearchHit]
    #: The mode asked for, and the one that answered (keyword when it fell back).
    requested: SearchMode
    mode: SearchMode
    fallback: Fallback | None = None
    #: Why, in the embedder's or index's own words (an error text), if known.
    detail: str | None = None
    model: str | None = None
    #: Hits under the embedder's relevance cut-off, left out of ``hits`` (none when everything was asked
    #: for, or in keyword search, which has no cut-off).
    hidden: list[SearchHit] = field(default_factory=list)
    #: The relevance under which a hit counts as less relevant (None: nothing is cut off).
    cutoff: float | None = None

    @property
    def fell_back(self) -> bool:
        return self.fallback is not None

    def less_relevant(self, hit: SearchHit) -> bool:
        """Whether the hit is under the cut-off (shown only when everything was asked for)."""
        return self.cutoff is not None and hit.relevance is not None and hit.relevance < self.cutoff

    @property
    def hidden_note(self) -> str | None:
        """``12 less relevant entries hidden`` (the face adds how to show them); None when none are."""
        n = len(self.hidden)
        if not n:
            return None
        return f"{n} less relevant {'entry' if n == 1 else 'entries'} hidden"

    @property
    def reason(self) -> str | None:
        """Why semantic ranking took no part, in a phrase without advice (each face adds its own)."""
        if self.fallback is Fallback.NO_EMBEDDER:
            return f"semantic search is off ({self.detail or 'no embedder'})"
        if self.fallback is Fallback.INDEX_EMPTY:
            why = f"; its last error: {self.detail}" if self.detail else ""
            return f"nothing is embedded with {self.model} yet{why}"
        if self.fallback is Fallback.EMBEDDER_FAILED:
            return f"semantic search failed ({self.detail})"
        return None


class _EmbedFailed(Exception):
    """The query could not be embedded: the search falls back to keyword results."""


class _GuardedEmbedder:
    """The configured embedder, its failures (whatever they are) told apart from the store's."""

    def __init__(self, inner: Any, dim: int | None) -> None:
        self.inner = inner
        self.model = inner.model
        self.index_dim = dim

    async def embed_query(self, text: str) -> Any:
        try:
            vector = await self.inner.embed_query(text)
        except Exception as exc:  # a model that will not load, a server that is down, or nonsense back
            raise _EmbedFailed(str(exc) or type(exc).__name__) from exc
        shape = getattr(vector, "shape", None)
        if self.index_dim and shape != (self.index_dim,):
            raise _EmbedFailed(f"{self.model} returned a vector of shape {shape}, but its index holds "
                               f"{self.index_dim} dimensions")
        return vector


async def search(store: Any, query: str, *, mode: SearchMode | str = SearchMode.HYBRID, embedder: Any = None,
                 unavailable: str | None = None, everything: bool = False, **filters: Any) -> SearchAnswer:
    """Search in ``mode``; if the embedder cannot serve it, keyword results, flagged with why.

    ``embedder`` None means semantic search is off (``unavailable`` says why, e.g. a bad spec).
    ``filters`` are `Store.search`'s. Bad filters are refused (the store's errors) whatever the mode.
    Hybrid and semantic hits come by relevance, best first; those under the embedder's measured
    relevance cut-off (store/search.py ``CALIBRATIONS``) go to ``hidden`` unless ``everything`` is asked
    for.
    """
    try:
        requested = SearchMode(mode)
    except ValueError:
        raise InvalidArgument(f"mode must be hybrid, keyword or semantic, not {mode!r}") from None

    async def keyword(fallback: Fallback | None = None, detail: str | None = None,
                      model: str | None = None) -> SearchAnswer:
        hits = await store.search(query, mode=SearchMode.KEYWORD, **filters)
        return SearchAnswer(hits, requested, SearchMode.KEYWORD, fallback, detail, model)

    if requested is SearchMode.KEYWORD:
        return await keyword()
    if embedder is None:
        return await keyword(Fallback.NO_EMBEDDER, unavailable)
    model = embedder.model
    status = await store.index_status(model)
    if not status.embedded:
        # Nothing embedded: semantic ranking would add nothing. An empty index is no fallback.
        return await keyword(Fallback.INDEX_EMPTY if status.entries else None, status.last_error, model)
    try:
        hits = await store.search(query, mode=requested, embedder=_GuardedEmbedder(embedder, status.dim),
                                  **filters)
    except _EmbedFailed as exc:
        return await keyword(Fallback.EMBEDDER_FAILED, str(exc), model)
    cal = search_rules.calibration(model)
    cutoff = cal.cutoff if cal is not None else None
    # Shown by relevance (ties in the store's order): a person reads the list top down, and the relevance,
    # which fuses the calibrated similarity with the question's words, separates relevant from irrelevant
    # better than either ranking alone (BENCHMARKS.md). ``score`` keeps the store's fused number.
    hits = sorted(hits, key=lambda h: -(h.relevance or 0.0))
    hidden = [] if everything else [h for h in hits if not search_rules.is_relevant(h.relevance, cal)]
    if hidden:
        hits = [h for h in hits if search_rules.is_relevant(h.relevance, cal)]
    return SearchAnswer(hits, requested, requested, model=model, hidden=hidden, cutoff=cutoff)


# -- gates: the decisions that count ---------------------------------------------------------------------


def current_decisions(gate: GateStatus) -> list[GateDecision]:
    """The verified decisions on the gate's current report version, oldest first (a decision written
    around swarmdeck, or on an earlier version, decides nothing)."""
    if gate.report is None:
        return []
    return [d for d in gate.decisions if d.report_id == gate.report.id and d.verified]


def latest_decision(gate: GateStatus) -> GateDecision | None:
    current = current_decisions(gate)
    return current[-1] if current else None


class GateWait(enum.StrEnum):
    """What a gate waits for before a decision on it stands (the values are the faces' codes)."""

    #: An earlier gate has not passed yet.
    LOCKED = "locked"
    #: Open, and no report was submitted yet.
    NO_REPORT = "no_report"
    #: A report waits for a human's verified decision.
    DECISION = "decision"


def gate_waits_for(gate: GateStatus) -> GateWait | None:
    """What ``gate wait`` (and an agent polling the gate) still waits for; None once a verified
    decision on the current report stands (``latest_decision``)."""
    if gate.milestone.status is MilestoneStatus.LOCKED:
        return GateWait.LOCKED
    if gate.report is None:
        return GateWait.NO_REPORT
    # In review, an earlier decision is history; elsewhere only a verified one is a decision (a row
    # written around swarmdeck decides nothing).
    if gate.milestone.status is not MilestoneStatus.REVIEW and latest_decision(gate) is not None:
        return None
    return GateWait.DECISION


async def project_complete(store: Any) -> bool:
    """Whether the last gate has passed and so ended the project (``gates.project_complete``). Cheap
    while any milestone's status says it has not passed: its gates are read only once all say so."""
    from . import gates

    milestones = await store.list_milestones()
    if not milestones or not all(m.status.passed for m in milestones):
        return False
    return gates.project_complete([await store.gate_status(m.id) for m in milestones])


# -- agents: what a heartbeat or status update changes ----------------------------------------------------


def agent_fields(*, status: Any = None, current_task: int | None = None, clear_task: bool = False,
                 completion: float | None = None, blockers: Sequence[str] | None = None,
                 clear_blockers: bool = False, next_milestone: str | None = None) -> dict[str, Any]:
    """The store fields (`Store.heartbeat` / `update_agent`) for what an agent reports; what is not
    given stays as it is. ``clear_task`` / ``clear_blockers`` (or ``blockers=[]``) / ``next_milestone=""``
    clear a field. Giving a task and clearing it at once is refused."""
    if clear_task and current_task is not None:
        raise InvalidArgument("give a current task or clear it, not both")
    if clear_blockers and blockers:
        raise InvalidArgument("give blockers or clear them, not both")
    fields: dict[str, Any] = {}
    if status is not None:
        fields["status"] = status
    if clear_task:
        fields["current_task_id"] = None
    elif current_task is not None:
        fields["current_task_id"] = current_task
    if completion is not None:
        fields["completion"] = completion
    if clear_blockers:
        fields["blockers"] = []
    elif blockers is not None:
        fields["blockers"] = list(blockers)
    if next_milestone is not None:
        fields["next_milestone"] = next_milestone or None
    return fields

"""The embedded SQLite implementation of the Store protocol, put together from parts.

Writes are plain functions over ``base.Tx``, run whole on the writer connection the store owns: on
the event loop when the host's write lock is free and the write is quick, else on the writer's own
thread (connection.py). Reads go through aiosqlite's public API. See the package docstring of
``swarmdeck.store`` for why every backend shares this shape.

How the store is put together. ``base.Database`` is the database object: the connections, the write
path (``_write``), the reads (``_one``, ``_all``, ``_read``), the change feed and the lifecycle. Each
domain is a plain class that holds it, and is given whatever else it needs; no part inherits another
part or the database:

    tasks          tasks_part(db, signatures, housekeeping)  tasks.py  (shared: store/task_area.py)
    gates          gates_part(db, signatures)               gates.py  (shared: store/gate_area.py; releases tasks)
    agents         agents_part(db)                          agents.py  (shared: store/agent_area.py)
    reviewers      reviewers_part(db, gates.get_milestone)  reviewers.py  (shared: store/reviewer_area.py)
    search_index   SearchIndex(db, Rankings(db, vector index))  search_index.py (shared: store/search_index.py)
    memory         Memory(db, search_index)                 memory.py (shared: store/memory.py)
    chart_queries  ChartQueries(db, SqliteChartReads(db))   charts.py (the part: store/charts.py's)
    audit          Audit(db, SqliteAuditReads(db))          audit.py  (the part: store/audit.py's)

``signatures`` (signatures.py: cached signature verdicts and the gates' guard) and ``housekeeping``
(domain/liveness.py: when the store last reaped and refreshed urgency) are shared by the parts that
write tasks and gates. Every write of a part is a rule of store/domain/ run over a ``SqliteUnit``
(uow.py) of one transaction, except memory's and the search index's, which are SQL of their own.

``SQLiteStore`` holds the parts and exposes every method of the protocol by delegation: a ``Delegate``
class attribute names the part (``claim_task = Delegate("tasks")``, one for each method in
store/parts.py's ``PROTOCOL_PARTS``, shared with PostgreSQL's store). Read on the class it is the part's
function, so ``inspect`` sees the real signature; read on a store it is the part's bound method, which
it then keeps in the store's ``__dict__``, so every later call costs what a method call always did.
The parts a claim or a heartbeat does not need (gates, reviewers, the search index and its vector
index, memory, charts, audit) are built, and their modules imported, on first use: ``swarmdeck task
claim`` imports none of gates.py, reviewers.py, memory.py, search_index.py, vectors.py, matrix.py, vss.py
or charts.py (nor numpy). Closing the store
closes the vector index only if it was built, then the database. (The vector options are checked at
open all the same, and an index asked for by name as sqlite-vss is built at open, so that a library it
cannot load is an error there. ``isinstance(store, Store)`` reads every member of the protocol on
Python 3.11, and so builds every part: the faces never ask it.)
"""

from __future__ import annotations

import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain.liveness import Housekeeping
from ..models import UNSET
from ..parts import delegating
from . import vector_options
from .agents import agents_part
from .base import Clock, Database
from .signatures import new_signatures
from .tasks import tasks_part

if TYPE_CHECKING:
    from .audit import Audit
    from .charts import ChartQueries
    from .gates import Gates
    from .memory import Memory
    from .reviewers import Reviewers
    from .search_index import SearchIndex
    from .vectors import VectorIndex

#: Each part's class, as (module of this package, class name): what a ``Delegate`` shows on the class.
PART_CLASSES = {
    "db": ("base", "Database"),
    "tasks": ("tasks", "Tasks"),
    "gates": ("gates", "Gates"),
    "agents": ("agents", "Agents"),
    "reviewers": ("reviewers", "Reviewers"),
    "search_index": ("search_index", "SearchIndex"),
    "memory": ("memory", "Memory"),
    "chart_queries": ("charts", "ChartQueries"),
    "audit": ("audit", "Audit"),
}


class Forward:
    """An attribute of the database, read (and set) through the store: ``store._writer``,
    ``store.busy_timeout_ms = 0`` (what tests and benchmarks reach into)."""

    __slots__ = ("name",)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, store: Any, owner: type | None = None) -> Any:
        if store is None:
            return self
        return getattr(store.db, self.name)

    def __set__(self, store: Any, value: Any) -> None:
        setattr(store.db, self.name, value)


@delegating
class SQLiteStore:
    """One swarmdeck database file: WAL, BEGIN IMMEDIATE writes, a reader beside the writer."""

    def __init__(self, path: Path, *, clock: Clock = time.time, read_only: bool = False,
                 vector_backend: str | None = None, vector_cache_mb: int | None = None) -> None:
        # The vector options are checked now, though the index is built at its first use.
        self._vector_options = vector_options.choose(vector_backend, vector_cache_mb)
        self.db = Database(path, clock=clock, read_only=read_only)
        self._signatures = new_signatures()
        self._chores = Housekeeping()
        self.tasks = tasks_part(self.db, self._signatures, self._chores)
        self.agents = agents_part(self.db)
        if self._vector_options[0] == "sqlite-vss":
            self._vectors  # noqa: B018  (asked for by name: its library must load now, or the open fails)

    # -- the parts built on first use -------------------------------------------------------------

    @cached_property
    def gates(self) -> Gates:
        from .gates import gates_part

        return gates_part(self.db, self._signatures)

    @cached_property
    def reviewers(self) -> Reviewers:
        from .reviewers import reviewers_part

        return reviewers_part(self.db, self.gates.get_milestone)

    @cached_property
    def _vectors(self) -> VectorIndex:
        """The vector index (backend and in-memory fast path): store/sqlite/vectors.py."""
        from .vectors import open_index

        backend, cache_mb = self._vector_options
        return open_index(backend, self.db.path, read_only=self.db.read_only, cache_mb=cache_mb)

    @cached_property
    def search_index(self) -> SearchIndex:
        from .search_index import Rankings, SearchIndex

        return SearchIndex(self.db, Rankings(self.db, self._vectors))

    @cached_property
    def memory(self) -> Memory:
        from .memory import Memory

        return Memory(self.db, self.search_index)

    @cached_property
    def chart_queries(self) -> ChartQueries:
        from .charts import ChartQueries, SqliteChartReads

        return ChartQueries(self.db, SqliteChartReads(self.db))

    @cached_property
    def audit(self) -> Audit:
        from .audit import Audit, SqliteAuditReads

        return Audit(self.db, SqliteAuditReads(self.db))

    # -- lifecycle --------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls, path: str | Path, *, create: bool = False, clock: Clock = time.time, read_only: bool = False,
        vector_backend: str | None = None, vector_cache_mb: int | None = None,
    ) -> SQLiteStore:
        """``vector_backend``: "sqlite-vec" (default) or "sqlite-vss" (else $SWARMDECK_VECTOR_BACKEND);
        ``vector_cache_mb``: memory for the in-memory vector fast path per model, 0 for none (else
        $SWARMDECK_VECTOR_CACHE_MB, else 1024). See store/sqlite/vectors.py."""
        store = cls(Path(path), clock=clock, read_only=read_only, vector_backend=vector_backend,
                    vector_cache_mb=vector_cache_mb)
        await store.db._open(create=create)
        return store

    async def close(self) -> None:
        """Close the vector index if it was built, then the database."""
        try:
            vectors = self.__dict__.get("_vectors")
            if vectors is not None:
                await vectors.close()
        finally:
            await self.db.close()

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the database's own, and what tests and benchmarks reach into -----------------------------

    path = Forward()
    clock = Forward()
    read_only = Forward()
    busy_timeout_ms = Forward()
    _writer = Forward()
    _reader = Forward()
    _read_conn = Forward()
    _checkpointer = Forward()
    _checkpoint = Forward()
    _checkpoint_wal = Forward()
    _commits = Forward()
    _host_lock = Forward()
    _write = Forward()
    _write_now = Forward()
    _one = Forward()
    _all = Forward()
    _read = Forward()


async def open_url(
    url: str | Path, *, create: bool = False, read_only: bool = False, clock: Clock = time.time,
    vector_backend: str | None = None, vector_cache_mb: int | None = None,
) -> SQLiteStore:
    """The ``sqlite`` entry of the store's backend registry (``swarmdeck.store.BACKENDS``)."""
    from .. import path_from_url

    return await SQLiteStore.open(path_from_url(url), create=create, read_only=read_only, clock=clock,
                                  vector_backend=vector_backend, vector_cache_mb=vector_cache_mb)


__all__ = ["SQLiteStore", "UNSET", "open_url"]

"""The PostgreSQL implementation of the Store protocol, put together from parts as the
SQLite store is (store/sqlite/__init__.py).

``base.Database`` is the database object: the writer connection and its thread, migrations on open,
the write path (``_write``), the reads (``_one``, ``_all``), the change feed and the lifecycle (its
docstring says how each works on PostgreSQL). Each area is a plain class holding it; its writes are
the rules of store/domain/ run over a ``PgUnit`` (uow.py), its rows mapped by store/rows.py:

    agents         agents_part(db)                          agents.py  (shared: store/agent_area.py)
    audit          Audit(db, PgAuditReads(db))              audit.py  (store/audit.py's part; seals first)
    chart_queries  ChartQueries(db, PgChartReads(db))       charts.py (store/charts.py's part)
    gates          gates_part(db, signatures)               gates.py  (shared: store/gate_area.py; releases tasks)
    reviewers      reviewers_part(db, gates.get_milestone)  reviewers.py  (shared: store/reviewer_area.py)
    tasks          tasks_part(db, signatures, housekeeping)  tasks.py  (shared: store/task_area.py)
    search_index   SearchIndex(db, Rankings(db))            search_index.py (shared: store/search_index.py)
    memory         Memory(db, search_index)                 memory.py (shared: store/memory.py)

The search index and memory are written once for both backends (store/search_index.py, store/memory.py,
SQLite's SQL turned into PostgreSQL's by ``PgSql``); PostgreSQL's own part is the rankings (tsvector and
GIN, pgvector's HNSW or an exact scan: search_index.py's docstring). Both are built on first use, as on
SQLite, so a claim imports neither.

``signatures`` (signatures.py) holds the cached signature verdicts and the gates' guard, as SQLite's;
a write whose rule asks for the guard (a claim, as a decision) makes its unit ``PgUnit(tx, signatures)``
and reads the pause flag first (``swarm_pause``: the guard's mark comes with it). The gates' and
reviewers' writes make theirs with ``gate_unit`` (uow.py), which runs them one at a time. A rule whose
check reads rows another transaction may write at once, where SQLite's serialised writes made that
safe, runs ``db._write(..., serializable=True)`` (an agent's registration and a reviewer's: a name is
never both) or takes a lock as ``gate_unit`` does.

Every area of the protocol is here now. An area added later plugs in the same way, beside its SQLite
counterpart:

1. its ``Unit`` operations: once in store/unit_base.py where the statement is the same on both backends
   (SQLite's SQL through the dialect), else in uow.py (``PgUnit``) beside store/sqlite/uow.py's:
   ``%s`` placeholders, ``= ANY(%s)`` with a list where SQLite reads ``json_each(?)``, ``RETURNING id``
   where SQLite reads ``lastrowid``, ``%s::jsonb`` for JSON columns, table-qualified columns in
   ``ON CONFLICT DO UPDATE``; rows through store/rows.py (``Row`` reads by name and by position);
2. its class (or one both backends share, as store/task_area.py): the public methods, each write the
   domain rule over ``PgUnit(tx)`` inside ``db._write``, each read ``db._one``/``db._all`` (or a ``Reads``
   generator, shared with the writes, through ``db._read``/``tx.read``);
3. its entry in ``PART_CLASSES``, its methods in store/parts.py's ``PROTOCOL_PARTS`` (which gives
   both stores a ``Delegate`` for each), the part built in ``__init__`` (or lazily, as SQLite's are);
4. ``STORE_BACKENDS = ("sqlite", "postgres")`` in its test module (tests/conftest.py), and every test
   passing on both; a test looks at either database with the same SQL (``store_support.raw`` and the
   ``where`` fixture).

Until then its methods are missing on this store (AttributeError), and ``isinstance(store, Store)``
is False.

Also here: the schema and migrations (``schema``, ``migrate``), the sealing of the event log's hash
chain after commit (``sealing``), the change feed's wake-up (``listen``: LISTEN for the seals' NOTIFY), the database roles (``roles``) and the copy of a SQLite swarm into a
PostgreSQL database with its validation (``copy``).
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING

from ..domain.liveness import Housekeeping
from ..parts import Delegate, delegating
from .agents import agents_part
from .audit import Audit, PgAuditReads
from .base import Clock, Database
from .charts import ChartQueries, PgChartReads
from .gates import gates_part
from .reviewers import reviewers_part
from .signatures import new_signatures
from .tasks import tasks_part

if TYPE_CHECKING:
    from .memory import Memory
    from .search_index import SearchIndex

#: Each part's class, as (module of this package, class name): what a ``Delegate`` shows on the class.
PART_CLASSES = {
    "db": ("base", "Database"),
    "agents": ("agents", "Agents"),
    "audit": ("audit", "Audit"),
    "chart_queries": ("charts", "ChartQueries"),
    "gates": ("gates", "Gates"),
    "reviewers": ("reviewers", "Reviewers"),
    "tasks": ("tasks", "Tasks"),
    "search_index": ("search_index", "SearchIndex"),
    "memory": ("memory", "Memory"),
}


@delegating
class PostgresStore:
    """One swarmdeck database on a PostgreSQL server."""

    def __init__(self, url: str, *, clock: Clock = time.time, read_only: bool = False) -> None:
        self.db = Database(url, clock=clock, read_only=read_only)
        self.agents = agents_part(self.db)
        self._signatures = new_signatures()
        self.gates = gates_part(self.db, self._signatures)
        self.reviewers = reviewers_part(self.db, self.gates.get_milestone)
        self._chores = Housekeeping()  # when this store last reaped and refreshed urgency, as SQLite's
        self.tasks = tasks_part(self.db, self._signatures, self._chores)
        self.chart_queries = ChartQueries(self.db, PgChartReads(self.db))
        self.audit = Audit(self.db, PgAuditReads(self.db))

    @cached_property
    def search_index(self) -> SearchIndex:
        from .search_index import Rankings, SearchIndex

        return SearchIndex(self.db, Rankings(self.db))

    @cached_property
    def memory(self) -> Memory:
        from .memory import Memory

        return Memory(self.db, self.search_index)

    @classmethod
    async def open(cls, url: str, *, create: bool = False, clock: Clock = time.time,
                   read_only: bool = False) -> PostgresStore:
        store = cls(url, clock=clock, read_only=read_only)
        await store.db._open(create=create)
        return store

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The URL this store was opened with, credentials and all: for opening another store on the
        same database, never for showing (``path`` is that)."""
        return self.db.url

    @property
    def path(self) -> str:
        """The database's URL without its password (what the faces show where SQLite shows a path)."""
        return self.db.path

    @property
    def clock(self) -> Clock:
        return self.db.clock

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    @property
    def busy_timeout_ms(self) -> int:
        return self.db.busy_timeout_ms

    @busy_timeout_ms.setter
    def busy_timeout_ms(self, value: int) -> None:
        self.db.busy_timeout_ms = value

    # What tests and benchmarks reach into, as on the SQLite store.
    _write = Delegate("db")
    _one = Delegate("db")
    _all = Delegate("db")


async def open_url(
    url: str, *, create: bool = False, read_only: bool = False, clock: Clock = time.time,
    vector_backend: str | None = None, vector_cache_mb: int | None = None,
) -> PostgresStore:
    """The ``postgresql``/``postgres`` entry of the store's backend registry (``swarmdeck.store.BACKENDS``).
    The vector options are SQLite's (sqlite-vec or sqlite-vss) and mean nothing here: pgvector is used
    when the server has it."""
    return await PostgresStore.open(str(url), create=create, read_only=read_only, clock=clock)


__all__ = ["PostgresStore", "open_url"]

"""The PostgreSQL implementation of the Store protocol (in progress), put together from parts as the
SQLite store is (store/sqlite/__init__.py).

``base.Database`` is the database object: the writer connection and its thread, migrations on open,
the write path (``_write``), the reads (``_one``, ``_all``), the change feed and the lifecycle (its
docstring says how each works on PostgreSQL). Each area is a plain class holding it; its writes are
the rules of store/domain/ run over a ``PgUnit`` (uow.py), its rows mapped by store/rows.py:

    agents         Agents(db)                               agents.py
    tasks          Tasks(db)                                tasks.py  (the queue, claims, liveness)
    reads          Reads(db)                                reads.py  (list_milestones: for now)

The areas still to come (gates, reviewers, memory and search, charts, audit) plug in
the same way, each beside its SQLite counterpart:

1. its ``Unit`` operations in uow.py (``PgUnit``), statement for statement with store/sqlite/uow.py:
   ``%s`` placeholders, ``= ANY(%s)`` with a list where SQLite reads ``json_each(?)``, ``RETURNING id``
   where SQLite reads ``lastrowid``, ``%s::jsonb`` for JSON columns, table-qualified columns in
   ``ON CONFLICT DO UPDATE``; rows through store/rows.py (``Row`` reads by name and by position);
2. its class (tasks.py ...): the public methods, each write the domain rule over ``PgUnit(tx)`` inside
   ``db._write``, each read ``db._one``/``db._all``; its reads of reads.py move into it;
3. its entry in ``PART_CLASSES``, its ``Delegate`` lines below, the part built in ``__init__`` (or
   lazily, as SQLite's are);
4. ``STORE_BACKENDS = ("sqlite", "postgres")`` in its test module (tests/conftest.py), and every test
   passing on both.

Until then their methods are missing on this store (AttributeError), so ``isinstance(store, Store)``
is False, and the faces (``--db`` in app/cli/_options.py) still accept only SQLite.

Also here: the schema and migrations (``schema``, ``migrate``) and the sealing of the event log's hash
chain after commit (``sealing``).
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from .agents import Agents
from .base import Clock, Database
from .reads import Reads
from .tasks import Tasks

#: Each part's class, as (module of this package, class name): what ``Delegate`` shows on the class.
PART_CLASSES = {
    "db": ("base", "Database"),
    "agents": ("agents", "Agents"),
    "reads": ("reads", "Reads"),
    "tasks": ("tasks", "Tasks"),
}


class Delegate:
    """A store method that is a part's method of the same name (as store/sqlite/__init__.py's)."""

    __slots__ = ("part", "name")

    def __init__(self, part: str) -> None:
        self.part = part
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, store: Any, owner: type | None = None) -> Any:
        if store is None:
            module, name = PART_CLASSES[self.part]
            return getattr(getattr(importlib.import_module(f"{__name__}.{module}"), name), self.name)
        method = getattr(getattr(store, self.part), self.name)
        store.__dict__[self.name] = method
        return method


class PostgresStore:
    """One swarmdeck database on a PostgreSQL server."""

    def __init__(self, url: str, *, clock: Clock = time.time, read_only: bool = False) -> None:
        self.db = Database(url, clock=clock, read_only=read_only)
        self.agents = Agents(self.db)
        self.reads = Reads(self.db)  # list_milestones, until its area is built
        self.tasks = Tasks(self.db)

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

    schema_version = Delegate("db")
    latest_event_id = Delegate("db")
    changes_since = Delegate("db")
    events = Delegate("db")
    write_latencies = Delegate("db")

    # -- agents -----------------------------------------------------------------------------------

    register_agent = Delegate("agents")
    heartbeat = Delegate("agents")
    update_agent = Delegate("agents")
    get_agent = Delegate("agents")
    list_agents = Delegate("agents")
    agents_by_names = Delegate("agents")
    agent_task_counts = Delegate("agents")
    log_action = Delegate("agents")

    # -- reads of the areas to come ---------------------------------------------------------------

    list_milestones = Delegate("reads")

    # -- tasks ------------------------------------------------------------------------------------

    get_task = Delegate("tasks")
    list_tasks = Delegate("tasks")
    tasks_by_ids = Delegate("tasks")
    dependents = Delegate("tasks")
    priority_breakdown = Delegate("tasks")
    queue_status = Delegate("tasks")
    execution_plan = Delegate("tasks")
    enqueue_task = Delegate("tasks")
    add_dependency = Delegate("tasks")
    refresh_priorities = Delegate("tasks")
    set_base_priority = Delegate("tasks")
    claim_task = Delegate("tasks")
    complete_task = Delegate("tasks")
    fail_task = Delegate("tasks")
    retry_task = Delegate("tasks")
    cancel_task = Delegate("tasks")
    reap_timeouts = Delegate("tasks")


async def open_url(
    url: str, *, create: bool = False, read_only: bool = False, clock: Clock = time.time,
    vector_backend: str | None = None, vector_cache_mb: int | None = None,
) -> PostgresStore:
    """The ``postgresql``/``postgres`` entry of the store's backend registry (``swarmdeck.store.BACKENDS``).
    The vector options are SQLite's (sqlite-vec or sqlite-vss) and mean nothing here: pgvector is used
    when the server has it."""
    return await PostgresStore.open(str(url), create=create, read_only=read_only, clock=clock)


__all__ = ["PostgresStore", "open_url"]

"""The PostgreSQL implementation of the Store protocol (in progress), put together from parts as the
SQLite store is (store/sqlite/__init__.py).

``base.Database`` is the database object: the writer connection and its thread, migrations on open,
the write path (``_write``), the reads (``_one``, ``_all``), the change feed and the lifecycle (its
docstring says how each works on PostgreSQL). Each area is a plain class holding it; its writes are
the rules of store/domain/ run over a ``PgUnit`` (uow.py), its rows mapped by store/rows.py:

    agents         Agents(db)                               agents.py
    gates          Gates(db, signatures)                    gates.py  (releases tasks through the unit)
    reviewers      Reviewers(db, gates.get_milestone)       reviewers.py
    tasks          Tasks(db, signatures)                    tasks.py  (the queue, claims, liveness)

``signatures`` (signatures.py) holds the cached signature verdicts and the gates' guard, as SQLite's;
a write whose rule asks for the guard (a claim, as a decision) makes its unit ``PgUnit(tx, signatures)``
and reads the pause flag first (``swarm_pause``: the guard's mark comes with it). The gates' and
reviewers' writes make theirs with ``gate_unit`` (uow.py), which runs them one at a time. A rule whose
check reads rows another transaction may write at once, where SQLite's serialised writes made that
safe, runs ``db._write(..., serializable=True)`` (an agent's registration and a reviewer's: a name is
never both) or takes a lock as ``gate_unit`` does.

The areas still to come (memory and search, charts, audit) plug in
the same way, each beside its SQLite counterpart:

1. its ``Unit`` operations in uow.py (``PgUnit``), statement for statement with store/sqlite/uow.py:
   ``%s`` placeholders, ``= ANY(%s)`` with a list where SQLite reads ``json_each(?)``, ``RETURNING id``
   where SQLite reads ``lastrowid``, ``%s::jsonb`` for JSON columns, table-qualified columns in
   ``ON CONFLICT DO UPDATE``; rows through store/rows.py (``Row`` reads by name and by position);
2. its class (tasks.py ...): the public methods, each write the domain rule over ``PgUnit(tx)`` inside
   ``db._write``, each read ``db._one``/``db._all`` (or a ``Reads`` generator, shared with the writes,
   through ``db._read``/``tx.read``);
3. its entry in ``PART_CLASSES``, its ``Delegate`` lines below, the part built in ``__init__`` (or
   lazily, as SQLite's are);
4. ``STORE_BACKENDS = ("sqlite", "postgres")`` in its test module (tests/conftest.py), and every test
   passing on both. Tests of other areas that also use this one assert its part only where the
   backend has it (``store_support.has_tasks``), and look at either database with the same SQL
   (``store_support.raw`` and the ``where`` fixture).

Until then their methods are missing on this store (AttributeError), so ``isinstance(store, Store)``
is False, and the faces (``--db`` in app/cli/_options.py) still accept only SQLite.

Also here: the schema and migrations (``schema``, ``migrate``), the sealing of the event log's hash
chain after commit (``sealing``), the change feed's wake-up (``listen``: LISTEN for the seals' NOTIFY), the database roles (``roles``) and the copy of a SQLite swarm into a
PostgreSQL database with its validation (``copy``).
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from .agents import Agents
from .base import Clock, Database
from .gates import Gates
from .reviewers import Reviewers
from .signatures import Signatures
from .tasks import Tasks

#: Each part's class, as (module of this package, class name): what ``Delegate`` shows on the class.
PART_CLASSES = {
    "db": ("base", "Database"),
    "agents": ("agents", "Agents"),
    "gates": ("gates", "Gates"),
    "reviewers": ("reviewers", "Reviewers"),
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
        self._signatures = Signatures()
        self.gates = Gates(self.db, self._signatures)
        self.reviewers = Reviewers(self.db, self.gates.get_milestone)
        self.tasks = Tasks(self.db, self._signatures)

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
    wait_for_changes = Delegate("db")
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

    # -- milestones and gates ----------------------------------------------------------------------

    add_milestone = Delegate("gates")
    list_milestones = Delegate("gates")
    get_milestone = Delegate("gates")
    submit_report = Delegate("gates")
    get_report = Delegate("gates")
    decide_gate = Delegate("gates")
    close_condition = Delegate("gates")
    gate_status = Delegate("gates")
    gates_awaiting_review = Delegate("gates")
    milestone_progress = Delegate("gates")
    latest_decision = Delegate("gates")
    swarm_state = Delegate("gates")
    resume_swarm = Delegate("gates")

    # -- reviewers ----------------------------------------------------------------------------------

    add_reviewer = Delegate("reviewers")
    set_reviewer_key = Delegate("reviewers")
    remove_reviewer = Delegate("reviewers")
    list_reviewers = Delegate("reviewers")
    get_reviewer = Delegate("reviewers")
    check_reviewer = Delegate("reviewers")

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

"""Connection, migrations, transactions and the change feed of the SQLite store."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
import random
import sqlite3
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import sqlean

from .. import audit, identity
from . import schema
from .connection import OwnedConnection, made_on_a_daemon_thread
from .errors import cannot_open, storage_error, store_error
from .hostlock import HostWriteLock
from ..errors import (
    READ_ONLY_SEAT,
    Busy,
    DatabaseMissing,
    NotASwarmdeckDatabase,
    PermissionDenied,
    SchemaOutdated,
    SchemaTooNew,
    StoreError,
)
from ..event_listing import events_query
from ..events import EventKind
from ..models import QUEUE_SLOT, Event
from ..reads import All, One, Reads, run_reads
from ..rows import event_from_row
from ..sql_dialect import SQLITE
from ..write_path import (BUSY_TIMEOUT_MS, QUEUE_KINDS, QueueSampling, Ticket, event_json, hand_off,
                          refuse_awaitable, refuse_coroutine_function, sample_now, settle, write_log)

Clock = Callable[[], float]
T = TypeVar("T")

#: A store copies the WAL back into the database (a PASSIVE checkpoint, outside the write locks)
#: after this many of its own commits, on a connection of its own so that neither its writes nor its
#: reads wait for the fsync, and once more when it closes; SQLite's automatic checkpoint, which runs
#: inside COMMIT, is off on the writer so that no writer holds the host lock through its fsyncs.
CHECKPOINT_EVERY = 100


class Wakeups:
    """Who waits in ``wait_for_changes`` on one database file in this process: every store object on
    the file shares one (as the write log), and each commit wakes them. Writes by other processes
    wake nobody: their waits run out their timeout (SQLite has no notification across processes)."""

    __slots__ = ("waiting", "__weakref__")

    def __init__(self) -> None:
        self.waiting: list[asyncio.Future[None]] = []

    def wake(self) -> None:
        waiting, self.waiting = self.waiting, []
        for future in waiting:
            loop = future.get_loop()
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:
                pass  # its loop has closed: nobody waits there any more


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_WAKEUPS: weakref.WeakValueDictionary[str, Wakeups] = weakref.WeakValueDictionary()

_QUEUE_SAMPLE = """
INSERT INTO queue_samples (slot, ts, pending, blocked, ready, running)
SELECT ?, ?, sum(n) FILTER (WHERE status = 'pending'), sum(n) FILTER (WHERE status = 'blocked'),
       sum(n) FILTER (WHERE status = 'ready'), sum(n) FILTER (WHERE status = 'running')
FROM task_counts WHERE true
ON CONFLICT (slot) DO UPDATE SET ts = excluded.ts, pending = excluded.pending, blocked = excluded.blocked,
    ready = excluded.ready, running = excluded.running
"""


def _connector(path: Path) -> Callable[[], sqlean.Connection]:
    # sqlean ships a recent SQLite that can load extensions (sqlite-vec) on any Python build;
    # isolation_level=None leaves transaction control to us (BEGIN IMMEDIATE for writes).
    return lambda: sqlean.connect(str(path), isolation_level=None, check_same_thread=False)


@functools.cache
def _vec0_path() -> str:
    """sqlite-vec's loadable extension (what ``sqlite_vec.loadable_path()`` returns), found without
    importing the package, which imports numpy: a CLI call that uses no vectors does without it."""
    spec = importlib.util.find_spec("sqlite_vec")
    if spec is None or spec.origin is None:
        raise ImportError("the sqlite-vec package is not installed")
    return os.path.normpath(os.path.join(os.path.dirname(spec.origin), "vec0"))


def split_script(script: str) -> list[str]:
    """Split SQL into whole statements (triggers included) without executescript's COMMIT."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:60]}")
    return statements


#: What ``_write_now`` returns when somebody else is writing (nothing was done).
_NOT_NOW: Any = object()

_EVENT_SQL = ("INSERT INTO events (id, ts, actor, kind, entity, entity_id, payload, hash) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


async def _to_the_end(read: Awaitable[T]) -> T:
    """Await a read of the reader's connection; if the caller is cancelled (a screen's worker replaced by a
    newer one), the read still runs to its end on a task of its own, so its statement is closed. A
    statement left open holds the connection on its snapshot: the next reads would miss what other
    processes committed since (under coverage a cancelled read held it there for seconds, and
    tests/ui/test_memory_keys.py missed a new memory)."""
    task = asyncio.ensure_future(read)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(lambda done: done.cancelled() or done.exception())  # nobody waits for it now
        raise


class Tx:
    """One write transaction: its connection, its clock reading and its actor.

    Every method is synchronous and a write body is a plain function over this object, so the whole
    transaction runs as one call on one thread: nothing returns to the event loop between BEGIN and
    COMMIT, by construction rather than by a check at run time.
    """

    __slots__ = ("now", "actor", "raw", "queue_changed", "_chain")

    def __init__(self, raw: sqlean.Connection, now: float, actor: str) -> None:
        self.raw = raw
        self.now = now
        self.actor = actor
        self.queue_changed = False  # a task changed status: the queue's counts moved
        self._chain: tuple[int, str] | None = None  # the newest event's id and hash, read once

    def one(self, sql: str, params: Iterable[Any] = ()) -> sqlean.Row | None:
        cur = self.raw.execute(sql, tuple(params))
        try:
            return cur.fetchone()
        finally:
            cur.close()

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlean.Row]:
        cur = self.raw.execute(sql, tuple(params))
        try:
            return cur.fetchall()
        finally:
            cur.close()

    def run(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Execute a statement; return lastrowid for inserts, rowcount otherwise."""
        insert = sql.lstrip()[:6].upper() == "INSERT"
        cur = self.raw.execute(sql, tuple(params))
        try:
            return cur.lastrowid if insert else cur.rowcount
        finally:
            cur.close()

    def many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """Execute one statement for each row of parameters."""
        self.raw.executemany(sql, rows).close()

    def read(self, reads: Reads[T]) -> T:
        """Run a ``Reads`` generator inside this transaction; its result."""
        return run_reads(self.one, self.all, reads)

    def chain_to(self, last_id: int | None, last_hash: str | None) -> None:
        """The newest event, read by the caller along with something else: the first event of this
        transaction chains to it without reading it again. Only under the write lock."""
        if self._chain is None:
            self._chain = (last_id, last_hash or audit.GENESIS) if last_id is not None else (0, audit.GENESIS)

    def event(
        self, kind: EventKind, entity: str, entity_id: Any = None, payload: dict[str, Any] | None = None
    ) -> None:
        """Append to the change feed, inside this transaction, chained to the event before it.

        The id is given, not left to SQLite, because it is part of what the hash covers; under the
        write lock the newest event cannot change, so it is read once per transaction. Only the kinds
        the feed's contract names (store/events.py) are written: any other is a ValueError.
        """
        if type(kind) is not EventKind:
            kind = EventKind(kind)
        if kind in QUEUE_KINDS:
            self.queue_changed = True
        if self._chain is None:
            last = self.one("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1")
            # An event written around swarmdeck without a hash stays flagged where it is; chain on.
            self._chain = (last[0], last[1] or audit.GENESIS) if last is not None else (0, audit.GENESIS)
        content = (
            self._chain[0] + 1,
            float(self.now),
            self.actor,
            kind._value_,  # the kind's text: a plain str binds (and hashes) faster than the enum member
            entity,
            None if entity_id is None else str(entity_id),
            event_json(payload) if payload else "{}",
        )
        digest = audit.event_hash(self._chain[1], *content)
        self.run(_EVENT_SQL, (*content, digest))
        self._chain = (content[0], digest)


def raw_reads(raw: sqlean.Connection, reads: Reads[T]) -> T:
    """Drive a ``Reads`` generator on a bare connection (opening and migrating, outside a Tx)."""
    def one(sql: str, params: tuple[Any, ...]) -> Any:
        cur = raw.execute(sql, params)
        try:
            return cur.fetchone()
        finally:
            cur.close()

    return run_reads(one, lambda sql, params: raw.execute(sql, params).fetchall(), reads)


def _identity_or_same(name: Any) -> Any:
    """A name's canonical form; a value that is no valid name is left as it is."""
    return identity.key(name) or name


class Database:
    """The SQLite store's database: connections, clock, transactions, reads, the change feed and the
    lifecycle. Every part of the store (store/sqlite/__init__.py) holds this one object.

    The writer is a sqlean connection the store owns, with a thread of its own (``OwnedConnection``);
    reads go through aiosqlite's public API on a connection beside it; checkpoints run on a third
    connection of the store's own, opened at the first one."""

    def __init__(self, path: Path, *, clock: Clock = time.time, read_only: bool = False) -> None:
        self.path = path
        self.clock = clock
        self.read_only = read_only
        self._writer: OwnedConnection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: OwnedConnection | None = None  # opened at the first checkpoint
        self._write_lock = asyncio.Lock()
        self._write_log = write_log(os.path.abspath(path))
        self._wakeups = _WAKEUPS.get(os.path.abspath(path))
        if self._wakeups is None:
            self._wakeups = _WAKEUPS[os.path.abspath(path)] = Wakeups()
        self._opened_at = time.monotonic()
        self._may_initialise = False  # set by _open: only a caller that creates may make an empty file ours
        self._host_lock = HostWriteLock(None)
        #: How long a write waits for other writers (swarmdeck's and any other) before failing with Busy.
        self.busy_timeout_ms = BUSY_TIMEOUT_MS
        self._lock_wait: Ticket | None = None  # a write given up while its thread waits in flock(2)
        self._samples = QueueSampling()
        self._commits = 0  # since the last checkpoint
        # The first checkpoint comes after a random share of CHECKPOINT_EVERY commits, so that agents
        # started together do not all checkpoint together, then or ever after.
        self._next_checkpoint = random.randint(1, CHECKPOINT_EVERY)
        self._checkpoint: asyncio.Future[None] | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    async def _open(self, *, create: bool) -> None:
        create = create and not self.read_only  # a read-only seat never makes a database
        if not self.path.exists():
            if not create:
                raise DatabaseMissing(path=self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not create and self.path.is_file() and self.path.stat().st_size == 0:
            raise self._empty()  # before any connection: nothing may appear beside it either
        self._may_initialise = create
        try:
            # The store's own connection first: a file SQLite cannot open fails here, before any
            # aiosqlite connection (and its thread) exists.
            self._writer = OwnedConnection("writer", daemon=True)
            await self._writer.open(self._open_writer)
            if self.read_only:
                await self._writer.call(self._check_current_on, self._writer.raw)
            elif await self._writer.call(self._pragma_on, self._writer.raw, "user_version") < schema.SCHEMA_VERSION:
                # On a connection of its own (on the writer's thread): migrating runs a hundred one-shot
                # statements, and on the writer they would fill its statement cache (sqlean keeps 100;
                # once it is full of statements used once, it admits no new ones, and every write
                # prepares every statement again: a heartbeat took twice as long in the process that
                # migrated).
                await self._writer.call(self._migrate_apart)
            self._reader = await self._connect()
            if not self.read_only:
                self._host_lock = HostWriteLock(self.path)
                await self._writer.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException as exc:
            await self.close()
            mapped = store_error(exc, self.busy_timeout_ms, self.path)  # e.g. a migration the disk refused
            if mapped is not None:
                raise mapped from exc
            raise

    def _empty(self) -> DatabaseMissing:
        return DatabaseMissing(path=self.path, empty=True)

    def _open_writer(self) -> sqlean.Connection:
        """The writer's connection, opened and set up (on its thread)."""
        try:
            raw = _connector(self.path)()
        except sqlean.OperationalError as exc:
            raise cannot_open(self.path, exc) from exc
        try:
            self._set_up(raw)
            # Set once: the writer never sleeps in SQLite's busy handler. Swarmdeck's writers queue
            # for the host lock; a writer from outside swarmdeck is waited for by ``_begin``.
            raw.execute("PRAGMA busy_timeout = 0").close()
        except BaseException:
            raw.close()
            raise
        return raw

    def _set_up(self, raw: sqlean.Connection) -> None:
        """Pragmas, identity check and extensions of a store connection that is not aiosqlite's."""
        raw.row_factory = sqlean.Row
        try:
            for sql in self._SETUP:
                raw.execute(sql.format(busy=self.busy_timeout_ms)).close()
            # Refuse a file that is not ours before switching it to WAL, which would change it for good.
            raw_reads(raw, self._check_identity())
            # sqlite-vec: the vector index lives in the same database.
            raw.enable_load_extension(True)
            raw.load_extension(_vec0_path())
            raw.enable_load_extension(False)
            # A read-only seat changes nothing: the file stays in the journal mode it is in (switching
            # to WAL rewrites its header), and SQLite itself refuses any statement that would write.
            raw.execute("PRAGMA query_only = ON" if self.read_only else "PRAGMA journal_mode = WAL").fetchall()
        except sqlean.OperationalError as exc:
            raise (storage_error(exc, self.path) or cannot_open(self.path, exc)) from exc
        except sqlean.DatabaseError as exc:
            raise NotASwarmdeckDatabase(f"{self.path} is not a SQLite database ({exc})") from exc

    #: ``page_size`` takes effect only on a file not yet written (a new database), else it is a no-op.
    #: Every commit appends each page it changed to the WAL, checksummed: a claim or a completion
    #: changes a dozen pages (the row, its indexes, the event and its indexes, the counts), so 2 KiB
    #: pages made a claim + completion 19% cheaper at one agent and 25% more of them went through at
    #: 16 processes than with SQLite's default 4 KiB (BENCHMARKS.md: "The claim path"); 1 KiB pages gave
    #: a little more, but made an exact vector scan of sqlite-vec's blobs 40% slower.
    _SETUP = ("PRAGMA page_size = 2048", "PRAGMA busy_timeout = {busy}", "PRAGMA foreign_keys = ON",
              "PRAGMA synchronous = NORMAL")

    async def _connect(self) -> aiosqlite.Connection:
        """The reader: aiosqlite, through its public API only."""
        conn = made_on_a_daemon_thread(lambda: aiosqlite.Connection(_connector(self.path), iter_chunk_size=256))
        try:
            await conn
        except sqlean.OperationalError as exc:  # aiosqlite stops its thread itself
            raise cannot_open(self.path, exc) from exc
        conn.row_factory = sqlean.Row
        try:
            for sql in self._SETUP:
                await conn.execute(sql.format(busy=self.busy_timeout_ms))
            await self._read_with(conn, self._check_identity())
            await conn.enable_load_extension(True)
            await conn.load_extension(_vec0_path())
            await conn.enable_load_extension(False)
            async with conn.execute("PRAGMA query_only = ON" if self.read_only else "PRAGMA journal_mode = WAL") as cur:
                await cur.fetchall()
        except sqlean.OperationalError as exc:
            await conn.close()
            raise (storage_error(exc, self.path) or cannot_open(self.path, exc)) from exc
        except sqlean.DatabaseError as exc:
            await conn.close()
            raise NotASwarmdeckDatabase(f"{self.path} is not a SQLite database ({exc})") from exc
        except BaseException:
            await conn.close()
            raise
        return conn

    async def close(self) -> None:
        """Close every connection. Each runs on a thread of its own that keeps the process from exiting
        until it is stopped, so an error or a cancellation (even a second one) on the way still stops
        all of them."""
        self._closed = True  # no checkpoint opens a connection from now on
        try:
            if self._reader is not None:
                # A read still running belongs to a caller that went away (a cancelled worker):
                # closing would wait for it to end.
                await self._reader.interrupt()
            self._samples.cancel()
            if self._samples.due and self._lock_wait is None:
                await self._flush_queue_sample()
            if self._checkpoint is not None:
                await self._checkpoint
            stuck = self._lock_wait is not None  # its thread waits for a frozen holder of the host lock
            if self._writer is not None and self._writer.raw is not None and self._commits and not stuck:
                await self._checkpoint_wal(self._writer)  # it writes no more
        finally:
            conns = [c for c in (self._checkpointer, self._reader, self._writer) if c is not None]
            self._checkpointer = self._reader = self._writer = None
            if self._lock_wait is not None and conns and conns[-1].role == "writer":
                # Its thread ends (closing its connection) once flock(2) returns, whenever that is;
                # it is a daemon thread, so it never keeps the process alive meanwhile.
                conns.pop().stop()
            try:
                for i, conn in enumerate(conns):
                    try:
                        await conn.close()  # interrupted, it still stops its own thread
                    except BaseException:
                        for rest in conns[i + 1:]:
                            rest.stop()  # its thread closes the connection, then ends
                        raise
            finally:
                self._host_lock.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _migrate_apart(self) -> None:
        """Migrate on a connection opened for it and closed after (on the writer's thread)."""
        conn = _connector(self.path)()
        try:
            self._set_up(conn)  # as every store connection is: pragmas, identity, extensions, WAL
            self._migrate(conn)
        finally:
            conn.close()

    def _migrate(self, conn: sqlean.Connection) -> None:
        """Apply the migrations this database lacks; refuse files that are not ours."""
        raw_reads(conn, self._check_identity())
        # Migrations may make stored names canonical: they call the one definition of that form.
        conn.create_function("swarmdeck_identity", 1, _identity_or_same, deterministic=True)
        for version, (name, script) in enumerate(schema.MIGRATIONS, start=1):
            if self._pragma_on(conn, "user_version") >= version:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the lock.
                if self._pragma_on(conn, "user_version") < version:
                    for step in schema.steps(script):
                        if isinstance(step, str):
                            for statement in split_script(step):
                                conn.execute(statement).close()
                        else:
                            step(conn)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        (version, name, self.clock()),
                    ).close()
                    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}").close()
                    conn.execute(f"PRAGMA user_version = {version}").close()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _check_current_on(self, raw: sqlean.Connection) -> None:
        """A read-only seat changes nothing, not even the schema: it needs an up-to-date database."""
        version = self._pragma_on(raw, "user_version")
        if version < schema.SCHEMA_VERSION:
            raise SchemaOutdated(path=self.path, version=version, needed=schema.SCHEMA_VERSION)

    def _check_identity(self) -> Reads[None]:
        app_id = int((yield One("PRAGMA application_id"))[0])
        version = int((yield One("PRAGMA user_version"))[0])
        if app_id == schema.APPLICATION_ID:
            if version > schema.SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.path} was written by a newer swarmdeck (schema {version}; this version "
                    f"knows up to {schema.SCHEMA_VERSION}); upgrade swarmdeck to open it"
                )
            return
        tables = [r[0] for r in (yield All("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 5"))]
        if app_id != 0 or tables:
            listed = ", ".join(tables) or f"application_id {app_id:#x}"
            raise NotASwarmdeckDatabase(
                f"{self.path} is a SQLite database but not a swarmdeck one ({listed}); "
                "point --db at a swarmdeck database or a new path"
            )
        if not self._may_initialise:  # an empty SQLite file: only a caller that creates makes it ours
            raise self._empty()

    @staticmethod
    def _pragma_on(raw: sqlean.Connection, name: str) -> int:
        return int(raw.execute(f"PRAGMA {name}").fetchone()[0])

    @staticmethod
    async def _pragma(conn: aiosqlite.Connection, name: str) -> int:
        async with conn.execute(f"PRAGMA {name}") as cur:
            row = await cur.fetchone()
        return int(row[0])

    async def schema_version(self) -> int:
        return await self._pragma(self._read_conn, "user_version")

    # -- transactions and reads ------------------------------------------------------------

    @property
    def _read_conn(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StoreError("the store is closed")
        return self._reader

    def _writable(self) -> OwnedConnection:
        if self.read_only:
            raise PermissionDenied(READ_ONLY_SEAT)
        if self._writer is None or self._writer.raw is None:
            raise StoreError("the store is closed")
        return self._writer

    async def _write(self, actor: str, body: Callable[..., T], *args: Any, quick: bool = False,
                     serializable: bool = False) -> T:
        """Run ``body(tx, *args)`` as one write transaction (BEGIN IMMEDIATE): all of it, or none.
        ``serializable`` is PostgreSQL's: every write here is serialised already.

        ``body`` is a plain function over ``Tx`` (a coroutine function is refused), so the whole
        transaction runs as one call on one thread and nothing returns to the event loop while the
        SQLite write lock is held. Writers on this host first take its write lock (``HostWriteLock``),
        so they queue in the kernel instead of sleeping in SQLite's busy handler.

        ``quick`` writes (a few indexed statements: heartbeats, claims, completions) run right here on
        the event loop if the host lock is free, which saves two thread hand-offs; otherwise, and for
        every other write, the transaction queues for the lock on the writer's own thread, which runs
        it the moment the kernel hands it the lock.
        """
        refuse_coroutine_function(body)
        writer = self._writable()
        # Who acted, in the one form identities are compared in (left as given if it is no name).
        actor = identity.key(actor) or actor or "unknown"
        # One timeout bounds the wait for other writers, counted from here: swarmdeck's (the host
        # lock) and those from outside swarmdeck (SQLite's lock) together. This store's own earlier
        # writes are each bounded the same way, and one that waited past it tries once, then gives up.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        async with self._write_lock:
            started = time.perf_counter()
            try:
                result = self._write_now(writer.raw, actor, body, args) if quick else _NOT_NOW
                if result is _NOT_NOW:
                    result = await self._on_writer_thread(writer, actor, body, args, deadline)
            except BaseException as exc:
                mapped = store_error(exc, self.busy_timeout_ms, self.path)
                if mapped is not None:
                    raise mapped from exc
                raise
            # Appended here, not on the writer's thread: readers iterate the log on the loop.
            self._write_log.append((time.monotonic(), (time.perf_counter() - started) * 1000))
            if self._wakeups.waiting:
                self._wakeups.wake()
            self._commits += 1
            if self._commits >= self._next_checkpoint and (self._checkpoint is None or self._checkpoint.done()):
                self._checkpoint = asyncio.ensure_future(self._checkpoint_wal())
            self._samples.schedule(self._flush_queue_sample)
            return result

    async def _on_writer_thread(
        self, writer: OwnedConnection, actor: str, body: Callable[..., T], args: tuple[Any, ...], deadline: float,
    ) -> T:
        """The transaction, run whole on the writer's thread, which first waits for the host lock.

        The caller waits until ``deadline``: past it, a write that has not begun gives up (Busy) and
        never runs, and its thread lets the lock go as soon as it gets it. A caller cancelled before
        the write began runs nothing; one cancelled after keeps the write lock until it has ended
        (committed or rolled back), so the next write never finds the connection inside a transaction.
        So the caller gives up on it at its deadline only while the thread waits in flock(2) for it, or
        while it still waits in the thread's queue behind a write that does (then it never runs); the
        thread itself gives up if the deadline has passed before it queues for the lock (its ``Ticket``,
        store/write_path.py, says where it is).
        """
        return await hand_off(writer, self._write_locked, (writer.raw, actor, body, args, deadline), deadline,
                              self._past_deadline)

    def _past_deadline(self, ticket: Ticket, loop: asyncio.AbstractEventLoop) -> None:
        """The caller's deadline passed: Busy if the write never will run; else look again shortly
        (its thread is about to see the deadline itself, or the write has begun and ends soon)."""
        if ticket.done.done():
            return
        stuck = self._lock_wait is not None  # the thread waits in flock(2) for a write given up before
        if ticket.give_up(queued=stuck):
            if ticket.state == "abandoned" and not stuck and self._host_lock.waiting:
                self._lock_wait = ticket  # its thread waits in flock(2) for nobody now
            settle(ticket.done, None, self._busy("another swarmdeck writer"))
        elif ticket.state != "begun":
            loop.call_later(0.05, self._past_deadline, ticket, loop)

    def _busy(self, holder: str) -> Busy:
        return Busy(f"the database stayed locked by {holder} for {self.busy_timeout_ms} ms "
                    "(a stopped or frozen process?); nothing was written, try again")

    async def _checkpoint_wal(self, conn: OwnedConnection | None = None) -> None:
        """Copy what the WAL holds into the database, waiting for nobody (PASSIVE); on the store's
        checkpoint connection unless given another."""
        self._commits, self._next_checkpoint = 0, CHECKPOINT_EVERY
        try:
            if conn is None:
                if self._checkpointer is None:
                    if self._closed:
                        return
                    # A checkpoint needs no schema checks, pragmas or extensions. Its thread is a
                    # daemon: a process that ends with its store open (a script that raised) must not
                    # wait for it, and a checkpoint cut short loses nothing (the WAL still has it all).
                    opened = OwnedConnection("checkpoint", daemon=True)
                    try:
                        await opened.open(_connector(self.path))
                    except sqlean.OperationalError as exc:
                        raise cannot_open(self.path, exc) from exc
                    if self._closed:  # the store closed while this opened: nobody else would close it
                        await opened.close()
                        return
                    self._checkpointer = opened
                conn = self._checkpointer
            await conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # read to the end: no open statement
        except (sqlean.Error, RuntimeError, StoreError):
            # Another checkpoint is running, the disk said no, the store closed meanwhile (its
            # connection says RuntimeError) or the file could not be opened again: the WAL keeps
            # everything, and the next checkpoint copies it.
            pass

    def _write_now(self, raw: sqlean.Connection, actor: str, body: Callable[..., T], args: tuple[Any, ...]) -> T:
        """The transaction's result, run here and now if nobody is writing; ``_NOT_NOW`` (nothing
        done) if somebody is."""
        # Safe on this thread: under _write_lock nothing else is using the writer connection.
        if not self._host_lock.try_acquire():
            return _NOT_NOW
        try:
            try:
                raw.execute("BEGIN IMMEDIATE")  # busy_timeout is 0: a writer from outside swarmdeck fails it
            except sqlean.OperationalError:
                return _NOT_NOW
            return self._run_body(raw, actor, body, args)
        finally:
            self._host_lock.release()

    def _write_locked(
        self, ticket: Ticket, raw: sqlean.Connection, actor: str, body: Callable[..., T], args: tuple[Any, ...],
        deadline: float,
    ) -> T:
        """On the writer's thread: the write, once this thread holds the host lock. Nothing else uses
        this connection until it returns, and a cancelled caller cannot leave the transaction open (it
        commits or rolls back here)."""
        if ticket.state == "abandoned":
            raise self._busy("another swarmdeck writer")  # given up while queued: nobody sees this
        if not self._host_lock.try_acquire():
            if not ticket.in_time(deadline, then="waiting"):  # the lock is another's: wait in flock(2)?
                raise self._busy("another swarmdeck writer")
            if not self._host_lock.acquire():
                raise StoreError("the store is closed")
        try:
            if not ticket.begin():
                if self._lock_wait is ticket:
                    self._lock_wait = None
                raise self._busy("another swarmdeck writer")  # its caller gave up: nobody sees this
            self._begin(raw, deadline)
            return self._run_body(raw, actor, body, args)
        finally:
            self._host_lock.release()

    @staticmethod
    def _begin(raw: sqlean.Connection, deadline: float) -> None:
        """BEGIN IMMEDIATE, waiting until ``deadline`` for a writer from outside swarmdeck (the sqlite3
        shell, a script) that holds SQLite's own lock; swarmdeck's writers never do here, under the
        host lock. Rare, so a few looks a millisecond or more apart, then the Busy error."""
        pause = 0.001
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlean.OperationalError as exc:
                left = deadline - time.monotonic()
                if "locked" not in str(exc) and "busy" not in str(exc) or left <= 0:
                    raise
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.02)

    def _run_body(self, raw: sqlean.Connection, actor: str, body: Callable[..., T], args: tuple[Any, ...]) -> T:
        """The body and COMMIT of a transaction that has begun; ROLLBACK if any of it fails.

        The queue's counts are sampled (``queue_samples``, one row per 10 s slot: the counts after the
        slot's last change) by the first change of a second; a later change within that second is
        due, and is sampled into its own slot by the next write of another slot (before its own
        changes), by the timer, the close or the queue chart."""
        try:
            tx = Tx(raw, self.clock(), actor)
            due = self._samples.due_before(tx.now, body)
            if due:  # the counts as the due change left them, in its slot
                due_at = self._samples.due_at
                raw.execute(_QUEUE_SAMPLE, (int(due_at // QUEUE_SLOT), due_at)).close()
            result = body(tx, *args)
            refuse_awaitable(result)
            sampled = tx.queue_changed and self._samples.wanted(tx.now)
            if sampled:
                raw.execute(_QUEUE_SAMPLE, (int(tx.now // QUEUE_SLOT), tx.now)).close()
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        self._samples.committed(tx.now, due=due, sampled=sampled, changed=tx.queue_changed)
        return result

    async def _flush_queue_sample(self) -> None:
        """Sample the queue's counts now if a change since the last sample is in none: the timer's
        job, and the close's and the queue chart's."""
        self._samples.timer = None
        if not self._samples.due or self._closed and self._writer is None:
            return
        try:
            await self._write("swarmdeck", sample_now)
        except (StoreError, RuntimeError):
            pass  # closed, read-only or busy: the next change samples again

    async def write_latencies(self) -> tuple[float, ...]:
        """Milliseconds of the recent write transactions on this file in this process since this
        store opened (from the call to its COMMIT, waits for the lock included), oldest first."""
        return tuple(ms for at, ms in self._write_log if at >= self._opened_at)

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlean.Row | None:
        return await _to_the_end(self._fetch_one(self._read_conn, sql, tuple(params)))

    @staticmethod
    async def _fetch_one(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> sqlean.Row | None:
        async with conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlean.Row]:
        return list(await self._read_conn.execute_fetchall(sql, tuple(params)))

    async def _read(self, reads: Reads[T]) -> T:
        """Run a ``Reads`` generator on the reader; its result."""
        return await _to_the_end(self._read_with(self._read_conn, reads))

    @staticmethod
    async def _read_with(conn: aiosqlite.Connection, reads: Reads[T]) -> T:
        try:
            want = next(reads)
            while True:
                if isinstance(want, One):
                    async with conn.execute(want.sql, want.params) as cur:
                        got = await cur.fetchone()
                else:
                    got = list(await conn.execute_fetchall(want.sql, want.params))
                want = reads.send(got)
        except StopIteration as done:
            return done.value

    # -- the change feed -------------------------------------------------------------------

    async def latest_event_id(self) -> int:
        row = await self._one("SELECT max(id) FROM events")
        return int(row[0] or 0)

    async def wait_for_changes(self, after_id: int, timeout: float) -> None:
        """Return when events after ``after_id`` may be in the feed, or when ``timeout`` seconds have
        passed: at once after a commit by any store on this file in this process (``Wakeups``), else
        at the timeout (another process's commit wakes nobody here). Only a wake-up: read the feed
        with ``changes_since`` after it."""
        if self._reader is None:
            raise StoreError("the store is closed")
        future = asyncio.get_running_loop().create_future()
        self._wakeups.waiting.append(future)
        try:
            await asyncio.wait([future], timeout=max(0.0, timeout))
        finally:
            if not future.done():
                future.cancel()
                try:
                    self._wakeups.waiting.remove(future)
                except ValueError:
                    pass

    async def changes_since(self, event_id: int, *, limit: int = 1000) -> list[Event]:
        """Events after ``event_id``, oldest first. One index probe when nothing changed."""
        rows = await self._all(
            "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit)
        )
        return [event_from_row(r) for r in rows]

    async def events(
        self,
        *,
        entity: str | None = None,
        entity_id: Any = None,
        actor: str | None = None,
        kind: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Recent events, newest first, by entity, actor or kind (each served by an index)."""
        query, params = events_query(SQLITE, entity=entity, entity_id=entity_id, actor=actor, kind=kind,
                                     before_id=before_id, limit=limit)
        return [event_from_row(r) for r in await self._all(query, params)]

"""The PostgreSQL store's database: connections, migrations on open, write transactions, reads, the
change feed and the lifecycle. Every part of the store (store/postgres/__init__.py) holds this object.

Writes. One psycopg connection (autocommit; each write is a ``conn.transaction()`` block) on a thread
of the store's own (connection.py's ``OwnedThread``). A write is a plain synchronous function over
``Tx``, the same shape as SQLite's, running the same rules of store/domain/ through ``PgUnit``
(uow.py); it runs whole on that thread, so nothing returns to the event loop between BEGIN and COMMIT
and the loop never waits on the database. Writes of one store run one at a time in the order called
(a store is one agent, or one dashboard; concurrency is between processes, which PostgreSQL's row
locks serialise only where they touch the same rows). Deadline: a write that has not begun within
``busy_timeout_ms`` of its call gives up with ``Busy`` and never runs; once begun, every lock it waits
for is bounded by ``lock_timeout`` (the same milliseconds), and a lock timeout, a deadlock or a
serialisation failure rolls it back and is ``Busy`` too, worded as SQLite's.

Errors. PostgreSQL's refusals become the store's errors as SQLite's do (``store_error``): a constraint
(unique, check, foreign key, not null) and the append-only triggers (SQLSTATE 23000, their message
SQLite's RAISE text) are ``InvalidArgument("refused by the database: ...")``, and so is a value
PostgreSQL cannot hold where SQLite can (a NUL character in text or JSON: a data exception); a
read-only transaction or a missing privilege is ``PermissionDenied``; a full disk ``DiskFull``; a
connection lost during a write a ``StorageError`` saying the write may not have been made. Lost
connections (a server restart) are made again: the writer's when the next write finds it gone at BEGIN
(before it sent anything, so that write runs on the new one), the reader's by reading again once on a
new one.

Reads. A psycopg ``AsyncConnection`` in autocommit mode, made by the first read, on the event loop:
each read is one statement
(no transaction is held across an await), so the event loop's own socket I/O is all a read needs, with
no thread hand-off; psycopg serialises the statements of concurrent coroutines on it. (A pool of
synchronous connections on threads would cost two hand-offs a read and buy parallel reads a dashboard
does not need; a site that needs them can open more stores.)

The change feed. Event ids are given by an identity column at insert, so they are not committed in
order: a reader that followed ids would skip an event whose smaller id committed after a larger one
was read. The feed follows the sealing order instead: after commit, events are sealed (sealing.py) by
one sealer at a time, under an advisory lock held to the seal's commit, with dense ``seq`` numbers
1, 2, 3 ...; so a sealed ``seq`` is never followed by a smaller one committed later, and a cursor on
``seq`` skips nothing. An ``Event``'s ``id`` on this backend is its ``seq`` (its place in the hash
chain, what store/audit.py calls an event's id), in the feed, in ``events()`` and in
``latest_event_id``: every event the store shows is sealed.

Queue samples. As on SQLite: a write that moved a task between statuses samples the queue's counts
(``queue_samples``, one row per 10 s slot) in its own transaction if this store has not sampled in the
last second; a later change is left due, and sampled by the next write of another slot (before its own
changes), by a timer a second later, or by the close. Unlike SQLite, which keeps the counts in rows,
counting reads the tasks: so a store counts only if no store sampled the slot in the last second (a
due change: since it was made), and 100 agents count about once a second between them, not 100 times;
and only one transaction at a time samples (a lock taken without waiting: a store that finds another
sampling leaves its change due), so no write queues for the slot's row behind another's transaction.

Sealing. A write that appended events returns at its commit, and asks for a seal job on the writer's
thread (``_want_seal``); a job whose next attempt has not begun yet already covers it, so a burst of
writes is sealed once. An attempt waits ``SEAL_DELAY`` (20 ms; none when this store reads its feed or
closes), then looks whether this store's events (up to the last id it appended) are sealed already,
by any store (``sealed_up_to``: one query); if not, it takes the lock without waiting (``try_seal``)
and seals everything committed and unsealed; if another sealer holds the lock (which may have read
the unsealed events before this store's commit), the job tries again 10 ms later, then 20, 40 and
50 ms, with this store's writes running on the thread in between: writes never wait for a seal,
sealers never queue on the lock, and with many agents most of them find their events sealed by
another. (Waiting
for it made every writer wait for every other writer's seal: at 100 agents, most of a write's
latency.) The store's own feed reads wait for the job it asked for (read-your-writes); another
process sees an event when a seal commits, a few milliseconds after the write's commit. The seal
sends ``NOTIFY swarmdeck_events`` (payload: the newest ``seq``) inside its own transaction, so a
listener it wakes finds the events sealed: only a wake-up, and never inside a write transaction.
``wait_for_changes`` listens for it (listen.py), on a connection of its own made by the first wait.

Connections. Each store holds up to three, each made only when needed: the writer's (from the open:
it also checks or migrates the schema, so a read-only seat has one too), the reader's (from the first
read) and the listener's (from the first ``wait_for_changes``; closed after ``listen.IDLE_CLOSE_S``
without a wait). So an agent process that heartbeats, claims and completes (its writes return their
rows) holds 1, and 2 once it reads (``task list``, ``get_task``); a CLI command 1 or 2 for its moment;
a dashboard 3 (writer, reader, listener), as does an MCP server that follows the feed. 100 agents and
a few dashboards stay within 200 to 250 connections: PostgreSQL's default ``max_connections`` is
100, so a site with 100 agents raises it (each connection is a server process: 300 to 500 is usual on
a machine with the memory), and a larger one puts PgBouncer in front, in session mode for the
listeners (transaction pooling carries neither ``LISTEN`` nor the session's ``lock_timeout``)
(tests/store/test_live_wakeup.py counts them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from .. import describe, identity
from ..errors import (
    READ_ONLY_SEAT,
    Busy,
    DatabaseMissing,
    DiskFull,
    InvalidArgument,
    PermissionDenied,
    StorageError,
    StoreError,
)
from ..event_listing import events_query
from ..events import EventKind
from ..models import QUEUE_SLOT, Event
from ..reads import One, Reads, run_reads
from ..rows import event_from_row
from ..write_path import (BUSY_TIMEOUT_MS, QUEUE_KINDS, QUEUE_SAMPLE_EVERY, QueueSampling, Ticket, event_json,
                          hand_off, refuse_awaitable, refuse_coroutine_function, sample_now, settle, write_log)
from . import migrate, sealing
from .connection import OwnedThread, Row, connect, connect_async
from .listen import Listener
from .schema import QUEUE_SAMPLE_LOCK
from .sql import PG_SQL

Clock = Callable[[], float]
T = TypeVar("T")

#: Seconds before a seal attempt that found another sealer at work tries again, doubling up to the
#: most: the other sealer has likely sealed this store's events by then (an attempt checks).
SEAL_RETRY_FIRST = 0.01
SEAL_RETRY_MAX = 0.05
#: Seconds a seal waits after the write that asked for it, unless this store reads its feed first:
#: the writes of every store in that time are sealed by whichever store seals first, and the others
#: find their events sealed (one query) instead of sealing too.
SEAL_DELAY = 0.02

#: The channel a seal notifies (a wake-up for listeners; the feed itself is the events table).
NOTIFY_CHANNEL = "swarmdeck_events"

#: An event as the store shows it: its place in the sealed chain is its id.
EVENT_COLUMNS = "seq AS id, ts, actor, kind, entity, entity_id, payload"

_EVENT_SQL = ("INSERT INTO events (ts, actor, kind, entity, entity_id, payload) "
              "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id")

#: The queue's counts into the slot of the time given (%(slot)s, %(ts)s): the unfinished statuses,
#: each counted by its range of tasks_claim; unless any store sampled that slot after %(since)s.
#: Counting costs milliseconds at tens of thousands of tasks, and every agent process would count once
#: a second: so the first store to look after a second has passed counts, for all of them (the
#: uncorrelated NOT EXISTS is a one-time filter: when it fails, no task is read; HAVING then drops the
#: one row an aggregate always makes).
_QUEUE_SAMPLE = """
INSERT INTO queue_samples (slot, ts, pending, blocked, ready, running)
SELECT %(slot)s, %(ts)s, count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'blocked'),
       count(*) FILTER (WHERE status = 'ready'), count(*) FILTER (WHERE status = 'running')
FROM tasks WHERE status IN ('pending', 'blocked', 'ready', 'running') AND NOT EXISTS (
    SELECT 1 FROM queue_samples WHERE slot = %(slot)s AND ts > %(since)s)
HAVING NOT EXISTS (SELECT 1 FROM queue_samples WHERE slot = %(slot)s AND ts > %(since)s)
ON CONFLICT (slot) DO UPDATE SET ts = excluded.ts, pending = excluded.pending, blocked = excluded.blocked,
    ready = excluded.ready, running = excluded.running
"""


def _sample(raw: psycopg.Connection, at: float, since: float) -> bool:
    """The queue's counts as the sample of ``at``'s slot, unless a store sampled it after ``since`` or
    another store's transaction is sampling now; whether it was written.

    One sampler at a time, and nobody waits for it: the sample takes ``QUEUE_SAMPLE_LOCK`` without
    waiting, and a store that finds it held leaves its change due (the holder's count, made now, has
    every change committed before it). Without it, the stores that looked in the same moment all
    counted and then queued for the slot's row, each holding its own write's locks until the one
    before it committed: at 100 agents, once a second, writes stalled for up to 2 s
    (BENCHMARKS.md, "PostgreSQL: the store benchmark")."""
    if not raw.execute("SELECT pg_try_advisory_xact_lock(%s)", (QUEUE_SAMPLE_LOCK,)).fetchone()[0]:
        return False
    slot = int(at // QUEUE_SLOT)
    return raw.execute(_QUEUE_SAMPLE, {"slot": slot, "ts": at, "since": since}).rowcount > 0


def where(url: str) -> str:
    """The database a URL names, as a person reads it in a message: no password."""
    return describe(url).replace("postgres://", "postgresql://", 1)


class Tx:
    """One write transaction on PostgreSQL: its connection, its clock reading and its actor.
    The methods of SQLite's ``Tx`` with psycopg's ``%s`` placeholders; synchronous, like them."""

    __slots__ = ("now", "actor", "raw", "queue_changed", "wrote_events")

    def __init__(self, raw: psycopg.Connection, now: float, actor: str) -> None:
        self.raw = raw
        self.now = now
        self.actor = actor
        self.queue_changed = False
        self.wrote_events = 0  # the id of the last event this transaction appended (0: none)

    def one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        return self.raw.execute(sql, tuple(params)).fetchone()

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return self.raw.execute(sql, tuple(params)).fetchall()

    def run(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Execute a statement; its rowcount (an insert that wants its id says ``RETURNING id``)."""
        return self.raw.execute(sql, tuple(params)).rowcount

    def many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            with self.raw.cursor() as cur:
                cur.executemany(sql, rows)

    def read(self, reads: Reads[T]) -> T:
        """Run a ``Reads`` generator inside this transaction; its result."""
        return run_reads(self.one, self.all, reads)

    def event(self, kind: EventKind, entity: str, entity_id: Any = None,
              payload: dict[str, Any] | None = None) -> None:
        """Append to the change feed, inside this transaction, unsealed (sealed after commit). Only the
        kinds the feed's contract names (store/events.py) are written: any other is a ValueError."""
        if type(kind) is not EventKind:
            kind = EventKind(kind)
        if kind in QUEUE_KINDS:
            self.queue_changed = True
        self.wrote_events = self.raw.execute(_EVENT_SQL, (
            float(self.now), self.actor, kind._value_, entity, None if entity_id is None else str(entity_id),
            event_json(payload) if payload else "{}")).fetchone()[0]


class _SealJob:
    """A seal asked of the writer's thread, until this store's events up to ``upto`` are sealed:
    ``started`` while an attempt of it has begun on the thread and not failed."""

    __slots__ = ("started", "future", "upto", "hurry")

    def __init__(self, upto: int) -> None:
        self.started = False
        self.upto = upto
        self.hurry = asyncio.Event()  # set by a read of the feed: no more waiting between attempts
        self.future: asyncio.Future[None]


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # looked at: asyncio does not log it as never retrieved


def busy(busy_timeout_ms: int) -> Busy:
    return Busy(f"the database stayed locked by other writers for {busy_timeout_ms} ms; try again")


def store_error(exc: BaseException, busy_timeout_ms: int, url: str = "") -> StoreError | None:
    """The typed error a failed write raises instead of psycopg's, if any (the SQLite store's, for the
    same cause)."""
    if not isinstance(exc, psycopg.Error):
        return None
    message = exc.diag.message_primary or str(exc)
    if isinstance(exc, (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected,
                        pg_errors.SerializationFailure)):
        return busy(busy_timeout_ms)
    if isinstance(exc, psycopg.IntegrityError):
        # The checks in Python come first; this is the schema's last line of defence.
        return InvalidArgument(f"refused by the database: {message}")
    if isinstance(exc, psycopg.DataError):
        # A value PostgreSQL cannot hold, where SQLite can: a NUL character in text or JSON (refused
        # by psycopg before sending, or by the server's jsonb), a number out of a column's range.
        return InvalidArgument(f"refused by the database: {message}")
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return PermissionDenied(READ_ONLY_SEAT)
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return PermissionDenied(f"the database refused this role: {message}")
    if isinstance(exc, pg_errors.DiskFull):
        return DiskFull(f"the disk of {where(url)} is full ({message}); nothing was written: free some space "
                        "and try again")
    if isinstance(exc, psycopg.OperationalError):
        return StorageError(f"the connection to {where(url)} failed ({message}); the write may not have "
                            "been made: look, then try again")
    return None


class Database:
    """The PostgreSQL store's database (see the module docstring)."""

    def __init__(self, url: str, *, clock: Clock = time.time, read_only: bool = False) -> None:
        self.url = url
        self.path = where(url)  # what messages and the faces show: the URL without its password
        self.clock = clock
        self.read_only = read_only
        self.busy_timeout_ms = BUSY_TIMEOUT_MS
        self._writer: OwnedThread | None = None
        self._reader: psycopg.AsyncConnection | None = None  # made by the first read
        self._reader_turn: asyncio.Lock | None = None
        self._listener: Listener | None = None  # made by the first wait_for_changes
        self._unsealed_seen: int | None = None  # the newest unsealed event at the previous wait
        self._lock_timeout_ms: int | None = None  # as last set on the writer's connection
        # The recent writes to each database in this process, as SQLite's store keeps them per file: a
        # store opened later reads those made since it opened, by any store of the process.
        self._write_log = write_log(self.path)
        self._opened_at = time.monotonic()
        self._seal_job: _SealJob | None = None  # the newest seal asked of the writer's thread
        self._closed = False
        # The queue's samples (QUEUE_SAMPLE_EVERY); read and written on the writer's thread, but for
        # the timer, set on the loop.
        self._samples = QueueSampling()

    # -- lifecycle -------------------------------------------------------------------------

    async def _open(self, *, create: bool) -> None:
        create = create and not self.read_only  # a read-only seat never makes (or migrates) a database
        try:
            self._writer = OwnedThread("writer")
            await self._writer.open(self._connect_writer)
            await self._writer.call(self._check_or_migrate, create)
        except BaseException as exc:
            await self.close()
            mapped = store_error(exc, self.busy_timeout_ms, self.url)
            if mapped is not None:
                raise mapped from exc
            raise

    def _cannot_open(self, exc: BaseException) -> StoreError:
        """No connection: the server has no such database (DatabaseMissing: a database is made on the
        server, by its owner, before swarmdeck can use it), or it could not be reached or refused us."""
        message = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        message = " ".join(message.split())  # libpq's lines and tabs: one line
        missing = "does not exist" in message and "database" in message
        if isinstance(exc, pg_errors.InvalidCatalogName) or missing:
            return DatabaseMissing(f"no database {self.path} on that server ({message}): create it first "
                                   "(createdb, or CREATE DATABASE as its owner)")
        return StorageError(f"cannot connect to {self.path}: {message}")

    def _connect_writer(self) -> psycopg.Connection:
        try:
            return connect(self.url, read_only=self.read_only, application_name="swarmdeck-writer")
        except psycopg.OperationalError as exc:
            raise self._cannot_open(exc) from exc

    def _check_or_migrate(self, create: bool) -> None:
        """On the writer's thread: a read-only seat needs a current database; another migrates one that
        is behind, and makes an empty one swarmdeck's only when it creates (as SQLite's store does)."""
        raw = self._writer.raw
        with raw.transaction():
            version = migrate.recorded_version(raw)  # refuses a database that is not swarmdeck's
        if version == 0 and not create:
            raise DatabaseMissing(path=self.path, empty=True)
        if self.read_only:
            migrate.check_current(raw)  # refuses one that is behind, or newer than this code
        else:
            migrate.migrate(raw, self.clock)

    async def close(self) -> None:
        """Close every connection (the writer's, and the reader's and the listener's if they were
        made); the seal this store asked for is made first (it is quick)."""
        self._samples.cancel()
        if self._samples.due and not self._closed:
            await self._flush_queue_sample()
        self._closed = True
        try:
            job = self._seal_job
            if job is not None and not job.future.done():
                job.hurry.set()
                await asyncio.wait([job.future], timeout=self.busy_timeout_ms / 1000)
        finally:
            reader, writer, listener = self._reader, self._writer, self._listener
            self._reader = self._writer = self._listener = None
            try:
                if listener is not None:
                    await listener.close()
                if reader is not None:
                    await reader.close()
            finally:
                if writer is not None:
                    await writer.close()

    async def schema_version(self) -> int:
        row = await self._one("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(row[0])

    # -- writes ----------------------------------------------------------------------------

    def _writable(self) -> OwnedThread:
        if self.read_only:
            raise PermissionDenied(READ_ONLY_SEAT)
        if self._writer is None or self._writer.raw is None:
            raise StoreError("the store is closed")
        return self._writer

    async def _write(self, actor: str, body: Callable[..., T], *args: Any, quick: bool = False,
                     serializable: bool = False) -> T:
        """Run ``body(tx, *args)`` as one write transaction: all of it, or none (see the module
        docstring). ``quick`` is SQLite's hint for its event-loop fast path; every write here runs on
        the writer's thread. ``serializable``: the transaction runs at SERIALIZABLE, for a rule whose
        check reads rows another transaction may be writing at the same time (who holds a name: an
        agent's registration and a reviewer's); if PostgreSQL finds the two could not have run one
        after the other, the one it rolls back runs again, whole, and meets the rule's refusal (again
        while its deadline allows, then ``Busy``). On SQLite every write is serialised anyway."""
        refuse_coroutine_function(body)
        writer = self._writable()
        actor = identity.key(actor) or actor or "unknown"
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        started = time.perf_counter()
        try:
            result, wrote_events = await hand_off(
                writer, self._write_on_thread, (writer, actor, body, args, deadline, serializable), deadline,
                self._past_deadline)
        except BaseException as exc:
            mapped = store_error(exc, self.busy_timeout_ms, self.url)
            if mapped is not None:
                raise mapped from exc
            raise
        self._write_log.append((time.monotonic(), (time.perf_counter() - started) * 1000))
        if wrote_events:
            self._want_seal(writer, wrote_events)
        if not self._closed:
            self._samples.schedule(self._flush_queue_sample)
        return result

    async def _flush_queue_sample(self) -> None:
        """Sample the queue's counts now if a change since the last sample is in none: the timer's
        job, and the close's."""
        self._samples.timer = None
        if not self._samples.due or self._writer is None:
            return
        try:
            await self._write("swarmdeck", sample_now)
        except (StoreError, RuntimeError):
            pass  # closed, read-only or busy: the next change samples again

    def _past_deadline(self, ticket: Ticket, loop: asyncio.AbstractEventLoop) -> None:
        """The caller's deadline passed: Busy if the write still waits in the thread's queue (then it
        never runs); once begun it ends whole."""
        if not ticket.done.done() and ticket.give_up(queued=True):
            settle(ticket.done, None, busy(self.busy_timeout_ms))

    def _write_on_thread(self, ticket: Ticket, writer: OwnedThread, actor: str, body: Callable[..., T],
                         args: tuple[Any, ...], deadline: float, serializable: bool) -> tuple[T, int]:
        """On the writer's thread: the transaction; its outcome, handed to the loop, is (result, the id
        of the last event it appended, 0 if none)."""
        if not ticket.in_time(deadline):
            raise busy(self.busy_timeout_ms)  # given up, or past its deadline: it never ran
        while True:
            try:
                result, tx, due, sampled = self._transaction(writer, actor, body, args, serializable)
                break
            except pg_errors.SerializationFailure:
                # Rolled back whole: run it again on what the other transaction committed.
                if not serializable or time.monotonic() >= deadline:
                    raise
        self._samples.committed(tx.now, due=due, sampled=sampled, changed=tx.queue_changed)
        return result, tx.wrote_events

    def _transaction(self, writer: OwnedThread, actor: str, body: Callable[..., T], args: tuple[Any, ...],
                     serializable: bool) -> tuple[T, Tx, bool, bool]:
        """One run of the write's transaction: its result, its ``Tx``, whether it wrote the queue sample
        that was due and whether it sampled the queue it changed (the store's bookkeeping of the two is
        the caller's, once the commit held)."""
        raw, transaction = self._begin(writer)
        try:
            if serializable:
                raw.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            tx = Tx(raw, self.clock(), actor)
            due = self._samples.due_before(tx.now, body)
            if due:  # the counts as the due change left them, in its slot (unless sampled since)
                _sample(raw, self._samples.due_at, since=self._samples.due_at)
            result = body(tx, *args)
            refuse_awaitable(result)
            sampled = tx.queue_changed and self._samples.wanted(tx.now)
            if sampled and not _sample(raw, tx.now, since=tx.now - QUEUE_SAMPLE_EVERY):
                # Another store sampled the queue in the last second, before this change maybe:
                # this one is left due (sampled a second later unless a store samples after it).
                tx.queue_changed, sampled = True, False
                self._samples.sampled_at = tx.now
        except BaseException as exc:
            transaction.__exit__(type(exc), exc, exc.__traceback__)  # ROLLBACK
            raise
        transaction.__exit__(None, None, None)  # COMMIT (a serialisation failure can be raised here)
        return result, tx, due, sampled

    def _begin(self, writer: OwnedThread) -> tuple[psycopg.Connection, Any]:
        """BEGIN on the writer's connection: its connection and the open ``Transaction``. A connection
        lost since the last write (a server restart, an idle timeout) is found here, before anything
        of this write was sent, and made again once."""
        raw = writer.raw
        if raw is None:
            raise StoreError("the store is closed")
        for attempt in range(2):
            if raw.closed or raw.broken:
                raw = writer.raw = self._connect_writer()
                self._lock_timeout_ms = None
            try:
                if self._lock_timeout_ms != self.busy_timeout_ms:
                    raw.execute(f"SET lock_timeout = {int(self.busy_timeout_ms)}")
                    self._lock_timeout_ms = self.busy_timeout_ms
                transaction = raw.transaction()
                transaction.__enter__()
                return raw, transaction
            except psycopg.OperationalError:
                if attempt or not (raw.closed or raw.broken):
                    raise
        raise AssertionError("unreachable")

    def _want_seal(self, writer: OwnedThread, upto: int) -> None:
        """Events up to id ``upto`` were committed: make sure a seal attempt begins after that commit.
        One queued and not begun yet does (the thread runs its queue in order, and the commit is
        behind us), as does a job waiting to try again (its next attempt is queued after now)."""
        job = self._seal_job
        if job is not None and not job.started and not job.future.done():
            job.upto = max(job.upto, upto)
            return
        job = _SealJob(upto)
        job.future = asyncio.ensure_future(self._seal_until_done(writer, job))
        job.future.add_done_callback(_ignore_outcome)  # a failed seal is asked again by the next read
        self._seal_job = job

    async def _seal_until_done(self, writer: OwnedThread, job: _SealJob) -> None:
        """Attempts on the writer's thread, ``SEAL_DELAY`` after the write and then further apart, each
        without waiting for another sealer's lock: done when an attempt finds this store's events
        sealed (by any sealer) or had the lock (so it sealed everything committed before it began).
        Between attempts the thread runs this store's writes: a write never waits for a seal, and
        sealers never queue on the lock (at 100 agents that queue was most of a write's latency:
        BENCHMARKS.md, "PostgreSQL: the store benchmark")."""
        delay = SEAL_DELAY
        while True:
            if not job.hurry.is_set():
                try:
                    await asyncio.wait_for(job.hurry.wait(), timeout=delay)
                except TimeoutError:
                    pass
            if await writer.call(self._seal_attempt, writer, job):
                return
            job.started = False
            delay = min(max(delay * 2, SEAL_RETRY_FIRST), SEAL_RETRY_MAX)
            job.hurry.clear()

    @staticmethod
    def _seal_attempt(writer: OwnedThread, job: _SealJob) -> bool:
        job.started = True
        raw = writer.raw
        if raw is None:
            return True
        return sealing.sealed_up_to(raw, job.upto) or sealing.try_seal(raw, notify=NOTIFY_CHANNEL)

    async def _sealed(self) -> None:
        """Read-your-writes for the feed: wait for the seal this store asked for (once more if it
        failed: a lock wait past ``lock_timeout``, a lost connection)."""
        job = self._seal_job
        if job is None:
            return
        if not job.future.done():
            job.hurry.set()
            await asyncio.wait([job.future])
        if job.future.cancelled() or job.future.exception() is not None:
            if self._seal_job is job:
                self._seal_job = None
            if self._writer is not None and not self._closed:
                self._want_seal(self._writer, job.upto)
                await asyncio.wait([self._seal_job.future])

    async def write_latencies(self) -> tuple[float, ...]:
        """Milliseconds of the recent write transactions on this database in this process since this
        store opened (from the call to the commit, waits included), oldest first."""
        return tuple(ms for at, ms in self._write_log if at >= self._opened_at)

    # -- reads -----------------------------------------------------------------------------

    async def _read_conn(self) -> psycopg.AsyncConnection:
        """The reader's connection, made by the first read: a store that only writes (a CLI's
        ``task complete``) never opens it."""
        conn = self._reader
        if conn is not None:
            return conn
        if self._closed or self._writer is None:
            raise StoreError("the store is closed")
        if self._reader_turn is None:
            self._reader_turn = asyncio.Lock()
        async with self._reader_turn:  # concurrent first reads make one connection
            if self._reader is None:
                try:
                    conn = await connect_async(self.url, read_only=self.read_only)
                except psycopg.OperationalError as exc:
                    raise self._cannot_open(exc) from exc
                if self._closed:  # closed meanwhile
                    await conn.close()
                    raise StoreError("the store is closed")
                self._reader = conn
            return self._reader

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        cur = await self._read_once(sql, tuple(params))
        return await cur.fetchone()

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        cur = await self._read_once(sql, tuple(params))
        return await cur.fetchall()

    async def _read(self, reads: Reads[T]) -> T:
        """Run a ``Reads`` generator on the reader, one statement at a time; its result."""
        try:
            want = next(reads)
            while True:
                got = await (self._one if isinstance(want, One) else self._all)(want.sql, want.params)
                want = reads.send(got)
        except StopIteration as done:
            return done.value

    async def _read_once(self, sql: str, params: tuple[Any, ...]) -> psycopg.AsyncCursor[Any]:
        """One read; on a connection found lost (a server restart) it is read once more on a new one
        (a read changes nothing, so reading it again is safe)."""
        conn = await self._read_conn()
        try:
            return await conn.execute(sql, params)
        except psycopg.OperationalError as exc:
            if not (conn.broken or conn.closed) or self._closed:
                raise
            try:
                self._reader = await connect_async(self.url, read_only=self.read_only)
            except psycopg.OperationalError:
                raise StorageError(f"lost the connection to {self.path} and cannot connect again "
                                   f"({exc.diag.message_primary or exc})") from exc
            return await self._reader.execute(sql, params)

    # -- the change feed -------------------------------------------------------------------

    async def latest_event_id(self) -> int:
        await self._sealed()
        row = await self._one("SELECT coalesce(max(seq), 0) FROM events")
        return int(row[0])

    async def wait_for_changes(self, after_id: int, timeout: float) -> None:
        """Return as soon as events after ``after_id`` (a ``seq``) may be in the feed, or when
        ``timeout`` seconds have passed: a seal's NOTIFY heard on the listener's connection (listen.py),
        made by the first call. Only a wake-up: read the feed with ``changes_since`` after it."""
        if self._closed or self._writer is None:
            raise StoreError("the store is closed")
        if self._listener is None:
            self._listener = Listener(self.url, NOTIFY_CHANNEL)
        await self._listener.wait(after_id, timeout)
        if not self.read_only:
            await self._seal_orphans()

    async def _seal_orphans(self) -> None:
        """Seal events left unsealed since this store's previous wait. A writer whose process died
        between its commit and its seal leaves events no store owes a seal: they would stay out of the
        feed (and wake no dashboard) until the next write anywhere. Those seen unsealed at the previous
        wait (one probe of ``events_unsealed``) are sealed here, without waiting for another sealer; a
        live writer's seal comes within tens of milliseconds, so this rarely finds any."""
        low, high = await self._one("SELECT min(id), max(id) FROM events WHERE seq IS NULL")
        seen, self._unsealed_seen = self._unsealed_seen, high
        if low is None or seen is None or low > seen or self._writer is None:
            return
        writer = self._writer
        await writer.call(lambda: writer.raw is None or sealing.try_seal(writer.raw, notify=NOTIFY_CHANNEL))

    async def changes_since(self, event_id: int, *, limit: int = 1000) -> list[Event]:
        """Sealed events after ``event_id`` (a ``seq``), oldest first: never one that commits later
        with a smaller id (the module docstring)."""
        await self._sealed()
        rows = await self._all(f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > %s ORDER BY seq LIMIT %s",
                               (event_id, limit))
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
        """Recent sealed events, newest first, by entity, actor or kind."""
        await self._sealed()
        query, params = events_query(PG_SQL, columns=EVENT_COLUMNS, position="seq", listed="seq IS NOT NULL",
                                     entity=entity, entity_id=entity_id, actor=actor, kind=kind,
                                     before_id=before_id, limit=limit)
        return [event_from_row(r) for r in await self._all(query, params)]

"""The write path both backends share: a connection with a thread of its own, the hand-off of a write
between the event loop and that thread, the checks on a write's body, and what every store of the
process keeps alike (its deadline, its log of recent writes, the queue's sampling, an event's JSON).

``ConnectionThread`` is a connection plus one dedicated thread: calls run there one at a time, in the
order they were submitted, and the loop awaits them through ``asyncio.wrap_future`` (SQLite's
``OwnedConnection``, store/sqlite/connection.py, adds what its store asks of a sqlean connection;
PostgreSQL's ``OwnedThread``, store/postgres/connection.py, names its thread and makes it a daemon).
A write transaction runs whole on it, synchronously: nothing returns to the event loop between BEGIN
and COMMIT.

``hand_off`` posts a write to the thread with a ``Ticket``, its state between the caller (on the loop)
and the thread, and waits for it until its deadline. The caller gives up on a write only while it has
not begun (then it never runs: ``Busy``, said by the backend's ``past_deadline``); once begun it ends
whole, and a caller cancelled meanwhile waits for that end, so the next write never finds the
connection inside a transaction. The result reaches the loop by one ``call_soon_threadsafe``: no
future of ``concurrent.futures`` between them, two hand-offs in all (there and back).
"""

from __future__ import annotations

import asyncio
import collections.abc
import concurrent.futures
import functools
import inspect
import json
import math
import threading
import time
import types
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from queue import SimpleQueue
from typing import Any, TypeVar

from .events import EventKind
from .models import QUEUE_SLOT

T = TypeVar("T")

#: How long a write waits for other writers (in milliseconds) before failing with Busy, unless the
#: store's ``busy_timeout_ms`` is set otherwise.
BUSY_TIMEOUT_MS = 10_000

#: Event kinds that move a task between statuses: the queue's counts changed.
QUEUE_KINDS = frozenset({EventKind.TASK_ENQUEUED, EventKind.TASK_BLOCKED, EventKind.TASK_READY,
                         EventKind.TASK_CLAIMED, EventKind.TASK_COMPLETED, EventKind.TASK_FAILED,
                         EventKind.TASK_RETRIED, EventKind.TASK_CANCELLED})

#: JSON of an event's payload: one encoder made once (``json.dumps`` with options makes one per call).
event_json = json.JSONEncoder(separators=(",", ":"), default=str).encode

#: Recent write transactions per database in this process, as (monotonic time, ms). Every store
#: object on the database records into the same log, so a dashboard also sees the writes of agents
#: running beside it in the process (the demo swarm); one append per commit.
_WRITE_LOGS: weakref.WeakValueDictionary[str, deque[tuple[float, float]]] = weakref.WeakValueDictionary()
WRITE_LOG_SIZE = 500


def write_log(database: str) -> deque[tuple[float, float]]:
    """The log of recent writes to ``database`` (a file's absolute path, a URL without its password)
    in this process, shared by every store on it; kept while a store holds it."""
    log = _WRITE_LOGS.get(database)
    if log is None:
        log = _WRITE_LOGS[database] = deque(maxlen=WRITE_LOG_SIZE)
    return log


#: Seconds between a store's queue samples. A change within a second of the last sample is sampled
#: by a timer when that second is over (or when the store closes or draws the queue chart), not in
#: its own transaction: flat out, one sample a second per process instead of one per claim.
QUEUE_SAMPLE_EVERY = 1.0


def sample_now(tx: Any) -> None:
    """A transaction that writes the due queue sample and nothing else (no event: nothing happened):
    ``QueueSampling.due_before`` knows it by name."""


class QueueSampling:
    """When a store samples the queue's counts (``queue_samples``, one row per 10 s slot: the counts
    after the slot's last change). The first change of a second is sampled in its own transaction; a
    later change within that second is due, and is sampled into its own slot by the next write of
    another slot (before its own changes), by the timer, the close or the queue chart. Read and
    written by the store's transactions, the timer set on the loop."""

    __slots__ = ("sampled_at", "due", "due_at", "timer")

    def __init__(self) -> None:
        self.sampled_at = -math.inf  # clock time of this store's last queue sample
        self.due = False  # the queue changed since, and no sample has it yet
        self.due_at = 0.0  # when (clock time) it last changed, if due
        self.timer: asyncio.TimerHandle | None = None

    def due_before(self, now: float, body: Callable[..., Any]) -> bool:
        """Whether a transaction at ``now`` running ``body`` first samples the due change, into the
        slot of ``due_at``: one of another slot does, and ``sample_now``."""
        return self.due and (body is sample_now or int(now // QUEUE_SLOT) != int(self.due_at // QUEUE_SLOT))

    def wanted(self, now: float) -> bool:
        """Whether a transaction that changed the queue at ``now`` samples it: this store has not in
        the last ``QUEUE_SAMPLE_EVERY`` seconds."""
        return not 0 <= now - self.sampled_at < QUEUE_SAMPLE_EVERY

    def committed(self, now: float, *, due: bool, sampled: bool, changed: bool) -> None:
        """A transaction at ``now`` committed: it wrote the due sample, its own, or left its change due."""
        if due:
            self.due = False
        if sampled:
            self.sampled_at, self.due = now, False
        elif changed:
            self.due, self.due_at = True, now

    def schedule(self, flush: Callable[[], Awaitable[None]]) -> None:
        """On the loop, after a write: a change left due is sampled by ``flush`` a second from now."""
        if self.due and self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(
                QUEUE_SAMPLE_EVERY, lambda: asyncio.ensure_future(flush()))

    def cancel(self) -> None:
        """The timer, if set, will not fire."""
        if self.timer is not None:
            self.timer.cancel()


_STOP = object()


class ConnectionThread:
    """A connection plus one dedicated thread, named ``{prefix}-{role}``. ``open`` connects on that
    thread; ``call`` runs a function there and awaits it; ``post`` queues one that hands its outcome
    back itself; ``close`` closes the connection and ends the thread.

    ``daemon``: whether the thread keeps the process from exiting (see each backend for why)."""

    def __init__(self, role: str, *, prefix: str, daemon: bool) -> None:
        self.role = role
        self.raw: Any = None
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._ended: concurrent.futures.Future[None] = concurrent.futures.Future()  # its loop is left
        self._worker = threading.Thread(target=self._serve, name=f"{prefix}-{role}", daemon=daemon)
        self._worker.start()
        self._stopped = False

    @property
    def ident(self) -> int | None:
        """The thread's identifier: what ``threading.get_ident()`` returns on it."""
        return self._worker.ident

    def _serve(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                future, fn, args = item
                if future is None:  # posted: it hands its outcome back itself
                    fn(*args)
                    continue
                if not future.set_running_or_notify_cancel():
                    continue  # cancelled before it started: it never runs
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            self._ended.set_result(None)

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queue ``fn(*args)`` on the thread; a future of its result."""
        if self._stopped:
            raise RuntimeError(f"the {self.role} connection is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((future, fn, args))
        return future

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` on the thread, with no future: ``fn`` hands its outcome back itself and
        lets no exception escape (the store's writes: one ``call_soon_threadsafe`` back to the loop)."""
        if self._stopped:
            raise RuntimeError(f"the {self.role} connection is closed")
        self._queue.put((None, fn, args))

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the thread and await its result. Cancelled before it started, it
        never runs; once started it runs to its end there (the caller stops waiting)."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    async def open(self, connector: Callable[[], Any]) -> None:
        """Connect on the thread. On failure the thread has ended when this raises."""
        try:
            self.raw = await self.call(connector)
        except BaseException:
            await self.close()
            raise

    def _close_raw(self) -> None:
        raw, self.raw = self.raw, None
        if raw is not None:
            raw.close()

    def stop(self) -> None:
        """Close the connection and end the thread once what is queued has run; waits for nothing."""
        if not self._stopped:
            self._stopped = True
            self._queue.put((concurrent.futures.Future(), self._close_raw, ()))
            self._queue.put(_STOP)

    async def close(self) -> None:
        """Close the connection on its thread and wait for the thread to end: the loop awaits the thread
        leaving its loop, then joins it (at once), so no executor thread is started (nor joined by
        ``asyncio.run`` as it ends) to wait on it."""
        self.stop()
        if self._worker.is_alive() and threading.get_ident() != self._worker.ident:
            await asyncio.shield(asyncio.wrap_future(self._ended))  # a cancelled caller cancels not it
            self._worker.join()


class Ticket:
    """A write handed to the writer's thread, between its caller (on the loop) and that thread.

    Its state is "queued", then "begun" or "abandoned"; SQLite's writes pass through "waiting" (its
    thread waits in ``flock(2)`` for the host lock) on the way, and may be given up there too."""

    __slots__ = ("mutex", "state", "done", "ended", "_on_end")

    def __init__(self, done: asyncio.Future[Any]) -> None:
        self.mutex = threading.Lock()
        self.state = "queued"
        self.done = done  # the caller's: the write's result or error
        self.ended = False  # the thread is done with it
        self._on_end: asyncio.Future[None] | None = None

    def in_time(self, deadline: float, then: str = "begun") -> bool:
        """On the thread, as it takes the write from its queue: True (the state now ``then``) if the
        caller still wants it and the deadline has not passed; else it is abandoned."""
        with self.mutex:
            if self.state == "queued" and time.monotonic() < deadline:
                self.state = then
                return True
            self.state = "abandoned"
            return False

    def begin(self) -> bool:
        """On the thread, after waiting (SQLite: holding the host lock): True if the caller still
        wants the write."""
        with self.mutex:
            if self.state == "abandoned":
                return False
            self.state = "begun"
            return True

    def give_up(self, *, queued: bool = False) -> bool:
        """On the loop: True if the write will never run. It may be given up while its thread waits
        (the thread lets it go once it has what it waited for); ``queued``: also while it waits in the
        thread's queue."""
        with self.mutex:
            if self.state == "waiting" or queued and self.state == "queued":
                self.state = "abandoned"
            return self.state == "abandoned"

    def run(self, loop: asyncio.AbstractEventLoop, work: Callable[..., Any], *args: Any) -> None:
        """On the thread: ``work(self, *args)``, its outcome (result or error) handed to the loop."""
        try:
            result = work(self, *args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self.end(loop, None, exc)
        else:
            self.end(loop, result, None)

    def end(self, loop: asyncio.AbstractEventLoop, result: Any, error: BaseException | None) -> None:
        """On the thread, once it is done with the write: hand the outcome to the loop."""
        with self.mutex:
            self.ended = True
            on_end = self._on_end
        try:
            loop.call_soon_threadsafe(settle, self.done, result, error)
            if on_end is not None:
                loop.call_soon_threadsafe(settle, on_end, None, None)
        except RuntimeError:
            pass  # the loop has closed: nobody waits for it

    def ending(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """On the loop: a future set when the thread is done with the write; None if it is already."""
        with self.mutex:
            if self.ended:
                return None
            self._on_end = loop.create_future()
            return self._on_end


def settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Set ``future``'s result (or ``error``) unless it is done already (given up, or cancelled)."""
    if not future.done():
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


async def hand_off(
    thread: ConnectionThread, work: Callable[..., Any], args: tuple[Any, ...], deadline: float,
    past_deadline: Callable[[Ticket, asyncio.AbstractEventLoop], None],
) -> Any:
    """Run ``work(ticket, *args)`` on ``thread`` and await its outcome. At ``deadline`` (monotonic
    time) ``past_deadline(ticket, loop)`` is called, which gives the write up (``Busy``) if it has not
    begun. A caller cancelled before the write began runs nothing; one cancelled after waits until it
    has ended (committed or rolled back) on the thread, then is cancelled."""
    loop = asyncio.get_running_loop()
    ticket = Ticket(loop.create_future())
    thread.post(ticket.run, loop, work, *args)
    timer = loop.call_later(max(0.0, deadline - time.monotonic()), past_deadline, ticket, loop)
    try:
        return await ticket.done
    except asyncio.CancelledError:
        if not ticket.done.cancelled():
            raise  # the write's own error
        if not ticket.give_up(queued=True):
            ending = ticket.ending(loop)
            if ending is not None:
                await asyncio.wait([ending])  # it is running: it ends whole on the thread
        raise
    finally:
        timer.cancel()


def refuse_coroutine_function(body: Callable[..., Any]) -> None:
    """A write body is a plain function over ``Tx``: a coroutine function is refused (TypeError)."""
    if coroutine_function(body):
        raise TypeError(f"a write body is a plain function over Tx, not a coroutine function: {body!r}")


def coroutine_function(body: Callable[..., Any]) -> bool:
    """``inspect.iscoroutinefunction``, answered from the code object's flags for a plain function (a
    lambda, as every write gives): what every write asks, without inspect's unwrapping."""
    if type(body) is types.FunctionType:
        return bool(body.__code__.co_flags & inspect.CO_COROUTINE)
    return inspect.iscoroutinefunction(body)


@functools.cache
def _awaitable_type(cls: type) -> bool:
    return issubclass(cls, collections.abc.Awaitable)


def awaitable(result: Any) -> bool:
    """``inspect.isawaitable``, with the answer for a class remembered (a write's result is a model):
    a coroutine, an old-style generator coroutine, or an instance of a class with ``__await__``."""
    cls = type(result)
    if cls is types.CoroutineType or cls is types.GeneratorType:
        return inspect.isawaitable(result)
    return _awaitable_type(cls)


def refuse_awaitable(result: Any) -> None:
    """A write body's result, checked: an awaitable (a body that is a coroutine in disguise) is closed
    and refused with a TypeError, inside the transaction, so it rolls back."""
    if result is not None and awaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        raise TypeError("a write body returned an awaitable: write bodies are plain functions over Tx "
                        "and run to their end without awaiting")

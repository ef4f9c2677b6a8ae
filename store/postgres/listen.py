"""The change feed's wake-up on PostgreSQL: ``LISTEN swarmdeck_events`` on a connection of its own.

A seal sends ``NOTIFY swarmdeck_events`` (payload: the newest ``seq``) with its commit (base.py), so a
listener woken by it finds the events sealed and ``changes_since`` returns them. The notification is
only a wake-up: the events table stays the source of truth, and a notification lost (the connection
dropped, the server restarted, a payload not ours) costs at most one wait's timeout, never an event.

``Listener.wait(after, timeout)`` returns as soon as a ``seq`` after ``after`` has been sealed, or at
the timeout. The connection (psycopg ``AsyncConnection``, autocommit, on the event loop) is opened on
the first wait, so only a store that waits (a dashboard's poller, ``events tail --follow``) holds one;
right after ``LISTEN`` it reads ``max(seq)`` once, so a seal committed before the listening began is
not waited for. A connection found lost is closed and made again by the next wait (the same read of
``max(seq)`` covers what was sealed meanwhile); if it cannot be made, the wait sleeps out its timeout,
so a caller that loops (the poller) polls at its interval, as without a listener. Waits of one store
take turns on the connection; each still returns by its own deadline.

The connection needs a session of its own on the server: through PgBouncer it must be a
session-pooled one (transaction pooling does not carry ``LISTEN``).
"""

from __future__ import annotations

import asyncio
import time

import psycopg

from .connection import configure

#: The listener's ``application_name`` (what ``pg_stat_activity`` shows).
APPLICATION_NAME = "swarmdeck-listener"
#: Seconds without a wait after which the connection is closed (the next wait makes it again): a
#: paused dashboard reads no notifications, and a listener that reads none holds back the server's
#: notification queue. Above the poller's longest interval (10 s), so a live poller keeps it.
IDLE_CLOSE_S = 15.0


class Listener:
    """One store's wake-up connection (see the module docstring)."""

    def __init__(self, url: str, channel: str) -> None:
        self.url = url
        self.channel = channel
        self.latest = 0  # the newest seq heard of: read at LISTEN, then from the notifications
        self._live: psycopg.AsyncConnection | None = None
        self._turn: asyncio.Lock | None = None
        self._closed = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_wait = 0.0  # monotonic time the last wait ended
        self._foreign = 0  # notifications on the channel whose payload is not a seq (not ours)
        #: Connections made, for tests and the figures (a reconnection counts again).
        self.connections_made = 0

    def _heard(self, notify: psycopg.Notify) -> None:
        try:
            seq = int(notify.payload)
        except ValueError:
            self._foreign += 1  # not ours to read: taken as "something may have changed"
            return
        if seq > self.latest:
            self.latest = seq

    async def _connection(self) -> psycopg.AsyncConnection:
        conn = self._live
        if conn is not None and not (conn.closed or conn.broken):
            return conn
        self._live = None
        if conn is not None:
            await conn.close()
        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                     application_name=APPLICATION_NAME)
        try:
            configure(conn)
            await conn.execute(f"LISTEN {self.channel}")
            row = await (await conn.execute("SELECT coalesce(max(seq), 0) FROM events")).fetchone()
        except BaseException:
            await conn.close()
            raise
        self.connections_made += 1
        self.latest = max(self.latest, int(row[0]))
        if self._closed:  # the store closed while this connected
            await conn.close()
            raise psycopg.InterfaceError("the store is closed")
        self._live = conn
        return conn

    async def wait(self, after: int, timeout: float) -> None:
        """Return once a ``seq`` after ``after`` is sealed, or when ``timeout`` seconds have passed."""
        deadline = time.monotonic() + max(0.0, timeout)
        if self.latest > after or self._closed:
            return
        if self._turn is None:
            self._turn = asyncio.Lock()
        try:
            await asyncio.wait_for(self._turn.acquire(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            return
        try:
            await self._wait(after, deadline)
        finally:
            self._turn.release()
            self._last_wait = time.monotonic()
            if self._idle_timer is None and self._live is not None:
                self._idle_timer = asyncio.get_running_loop().call_later(IDLE_CLOSE_S, self._close_if_idle)

    def _close_if_idle(self) -> None:
        self._idle_timer = None
        if self._live is None or self._closed:
            return
        idle = time.monotonic() - self._last_wait
        if (self._turn is not None and self._turn.locked()) or idle < IDLE_CLOSE_S:
            self._idle_timer = asyncio.get_running_loop().call_later(
                max(0.1, IDLE_CLOSE_S - idle), self._close_if_idle)
            return
        conn, self._live = self._live, None
        asyncio.ensure_future(conn.close())

    async def _wait(self, after: int, deadline: float) -> None:
        foreign = self._foreign
        try:
            conn = await self._connection()
            while self.latest <= after and self._foreign == foreign and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                async for notify in conn.notifies(timeout=left, stop_after=1):
                    self._heard(notify)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            # Lost, or not to be had now: the next wait connects again. Meanwhile the caller's own
            # timeout stands in for the notification.
            if not self._closed:
                await asyncio.sleep(max(0.0, deadline - time.monotonic()))

    @property
    def connected(self) -> bool:
        return self._live is not None and not self._live.closed

    async def close(self) -> None:
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        conn, self._live = self._live, None
        if conn is not None:
            await conn.close()

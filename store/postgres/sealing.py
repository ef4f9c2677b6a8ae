"""Sealing the event log's hash chain after commit, and verifying it (store/postgres/schema.py says why).

A write inserts its events with no hash and never reads the chain's head, so writers never wait for
each other on it. ``seal_events`` is called after commits (by the writer that committed, a dashboard,
or ``swarmdeck audit``): in a transaction of its own it takes the advisory lock ``SEAL_LOCK`` (others
skip, or wait when asked to), reads the head, and gives the unsealed events, in id order, the next
chain positions and their hashes (``audit.event_hash``, the function SQLite's store uses). Read
Committed, so that what it reads after the lock includes the previous sealer's commit; the unique
index on ``seq`` refuses a double seal even from a sealer that skipped the lock.
"""

from __future__ import annotations

from typing import Any

from .. import audit
from .schema import SEAL_LOCK

#: Events sealed per transaction: a large backlog (a copy from SQLite) is sealed in several.
SEAL_BATCH = 10_000

#: The rows ``audit.ChainCheck`` reads, in chain order: an event's place in the chain is its id there.
CHAIN_ROWS = ("SELECT seq, ts, actor, kind, entity, entity_id, payload, hash FROM events "
              "WHERE seq > %s ORDER BY seq LIMIT %s")

_HEAD = "SELECT seq, hash FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
_SEAL = ("UPDATE events AS e SET seq = s.seq, hash = s.hash "
         "FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS s (id, seq, hash) WHERE e.id = s.id")
_SEAL_NOTIFY = f"WITH sealed AS ({_SEAL}) SELECT pg_notify(%s, %s)"


def seal_events(conn: Any, *, wait: bool = False, batch: int = SEAL_BATCH, notify: str | None = None) -> int:
    """Seal every event committed and not sealed yet; how many this call sealed. Another sealer at
    work means this one returns at once (0, or what it sealed before), unless ``wait``: then it waits
    for the lock. ``conn``: a psycopg connection outside any transaction. ``notify``: a channel told
    (NOTIFY, payload the newest ``seq``) when events were sealed: sent with the seal's commit, so a
    listener woken by it finds them in the feed."""
    return _seal(conn, wait, batch, notify)[0]


def try_seal(conn: Any, *, batch: int = SEAL_BATCH, notify: str | None = None) -> bool:
    """Seal what is committed and unsealed unless another sealer holds the lock: True if this call
    had the lock (everything committed before it is sealed now), False if it found it held. A sealer
    that takes the lock after a False began after this call, so it seals what this caller committed:
    one ``seal_events(wait=True)`` after a False is all that guarantees it."""
    return _seal(conn, False, batch, notify)[1]


def sealed_up_to(conn: Any, event_id: int) -> bool:
    """Whether every event up to id ``event_id`` is sealed (by whichever sealer): one index probe of
    the unsealed events."""
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM events WHERE seq IS NULL AND id <= %s)",
                        (event_id,)).fetchone()[0]


def _seal(conn: Any, wait: bool, batch: int, notify: str | None) -> tuple[int, bool]:
    """(events sealed, whether the lock was had)."""
    sealed = 0
    while True:
        with conn.transaction():
            if getattr(conn.isolation_level, "name", None) != "READ_COMMITTED":  # else BEGIN said so
                conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            if wait:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SEAL_LOCK,))
            elif not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (SEAL_LOCK,)).fetchone()[0]:
                return sealed, False
            rows = conn.execute(
                "SELECT id, ts, actor, kind, entity, entity_id, payload FROM events "
                "WHERE seq IS NULL ORDER BY id LIMIT %s", (batch,)).fetchall()
            if not rows:
                return sealed, True
            head = conn.execute(_HEAD).fetchone()
            last_seq, last_hash = head if head is not None else (0, audit.GENESIS)
            ids, seqs, hashes = [], [], []
            for ident, *content in rows:
                last_seq += 1
                last_hash = audit.event_hash(last_hash, last_seq, *content)
                ids.append(ident)
                seqs.append(last_seq)
                hashes.append(last_hash)
            if notify is None:
                conn.execute(_SEAL, (ids, seqs, hashes))
            else:  # one statement, one round trip
                conn.execute(_SEAL_NOTIFY, (ids, seqs, hashes, notify, str(last_seq)))
            sealed += len(rows)
        if len(rows) < batch:
            return sealed, True


def audit_head(conn: Any) -> audit.AuditHead:
    """The newest sealed event's place in the chain and its hash (0 and the genesis hash for none)."""
    row = conn.execute(_HEAD).fetchone()
    return audit.AuditHead(0, audit.GENESIS) if row is None else audit.AuditHead(row[0], row[1])


def verify_events(conn: Any, *, after_seq: int = 0, after_hash: str = audit.GENESIS,
                  head: tuple[int, str] | None = None, chunk: int = 10_000) -> audit.AuditResult:
    """Walk the sealed chain after ``after_seq`` with ``audit.ChainCheck`` (seal first to include the
    latest events). ``head``: a ``seq:hash`` recorded outside the database, as for SQLite."""
    check = audit.ChainCheck(after_seq, after_hash, head)
    last = after_seq
    while True:
        rows = conn.execute(CHAIN_ROWS, (last, chunk)).fetchall()
        if not rows or not check.feed(rows) or len(rows) < chunk:
            return check.result()
        last = rows[-1][0]

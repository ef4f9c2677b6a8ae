"""The replay engine: ``open_replay`` opens a swarm's history at one event, and moves through it.

Design (measured: BENCHMARKS.md, "Replay"). The history is kept as temporal tables in a cache SQLite
file beside the database (``<db>.replay-cache``, or for a read-only seat in the user's cache folder:
``cache_path``; store/replay/layout.py, build.py): every version of every row a
replay shows, each with the event ids between which it held, built by one pass of a reducer over the
event log the first time a replay opens and extended by the events after it each later time (never on
the live write path: a live write pays nothing). Each table's own name in that file is a view of the
versions holding at the point: the SQL function ``rp_point()``, which each replay defines on its own
store's connection (two replays of one database never share a point, a seek writes nothing, and a
replay file opens read-only). So the normal ``SQLiteStore``, opened read-only on the cache with its clock
at the point's time, answers every read of the ``Store``
protocol as the swarm stood then: its queue, agents (heartbeat ages and staleness as then), gates,
memory, charts and event lists up to the point.

Why temporal tables rather than periodic snapshots plus the events after them: a seek then changes one
number (the point), whatever the distance moved, and a step the same; a snapshot design pays for
re-applying events and for rewriting the tables a store reads at each seek (a random seek over a
fortnight's 100k tasks rewrites most of them). The price is paid by the reads, which filter versions
(indexed by key and by event id), and by the cache's size (every version of every row).

A PostgreSQL source is read the same way, into a cache in the user's cache folder (``server_cache_path``),
extended by each later replay from this machine. Before a cache is extended, the source must still hold
the last event the cache read, the same (``_same_history``): a database made anew at the same path or
URL gets a cache built anew, not another history's.
A replay file written by ``swarmdeck export replay`` is such a cache, clipped to its range
(``export_replay``): it opens anywhere, with no access to the database it came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument, NotFound
from . import ReplayPoint, Step
from .build import Builder
from .layout import OPEN, REPLAYED, block, convert
from .source import Source

#: Marks a file as a replay cache or a replay file (``rp_meta``).
FORMAT = "swarmdeck-replay-2"
#: Earlier formats a replay file may still be in: opened as they are (version 1 did not replay the
#: search index: its memory screen is empty); a cache in one is built again.
OLDER = ("swarmdeck-replay-1",)

_KIND_OF_STEP = {Step.DECISION: "gate.decided", Step.FAILURE: "task.failed", Step.REPORT: "gate.report_submitted"}

_INDEXED_BY = re.compile(r"\s+INDEXED\s+BY\s+\w+", re.IGNORECASE)


def cache_path(db: Path, *, read_only: bool = False) -> Path:
    """Where the replay cache of the SQLite database ``db`` lives: beside it (``<db>.replay-cache``) for a
    seat that may write there. A read-only seat (or one that cannot write in the database's folder)
    leaves nothing beside the database: its cache is in the user's cache folder (platformdirs:
    $XDG_CACHE_HOME/swarmdeck/replay, else ~/.cache/swarmdeck/replay on Linux), named by a hash of the
    database's absolute path, so two databases never share one and the next replay of it finds it."""
    if not read_only and os.access(db.resolve().parent, os.W_OK | os.X_OK):
        return db.with_name(db.name + ".replay-cache")
    return _user_cache(str(db.resolve()))


def server_cache_path(url: str) -> Path:
    """Where the replay cache of the PostgreSQL database ``url`` names lives: in the user's cache folder,
    named by a hash of the URL without its password (the server, port, database and user), so the next
    replay of it, from this machine, extends it rather than reading the whole event log again."""
    from ..postgres.base import where

    return _user_cache(where(url))


def _user_cache(key: str) -> Path:
    import hashlib

    import platformdirs

    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return platformdirs.user_cache_path("swarmdeck") / "replay" / f"{digest}.replay-cache"


def _connect(path: Path, *, read_only: bool = False) -> Any:
    """A connection to ``path``; ``read_only``: one that refuses every write. Not SQLite's read-only
    mode: a read-only connection to a database in WAL mode leaves its ``-wal`` and ``-shm`` files behind,
    where the last ordinary connection to close removes them (a read-only seat leaves nothing beside a
    database); SQLite opens a file this user cannot write read-only by itself."""
    import sqlean

    where = f"file:{path.resolve()}?mode=rw" if read_only else str(path)  # (mode=rw: never made anew)
    conn = sqlean.connect(where, uri=read_only, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    return conn


def _format(path: Path) -> str | None:
    """The replay format ``path`` is in (None: not a replay file or cache)."""
    if not path.is_file():
        return None
    conn = _connect(path, read_only=True)
    try:
        row = conn.execute("SELECT value FROM rp_meta WHERE key = 'format'").fetchone()
        return row[0] if row is not None and row[0] in (FORMAT, *OLDER) else None
    except Exception:  # noqa: BLE001 - any other file: not one of ours
        return None
    finally:
        conn.close()


def is_replay_file(path: Path) -> bool:
    """Whether ``path`` is a replay file or cache (not a swarm database)."""
    return _format(path) is not None


async def _new_cache(path: Path) -> None:
    """An empty database with the store's schema, turned into a replay cache."""
    from ..sqlite import SQLiteStore

    store = await SQLiteStore.open(path, create=True)
    await store.close()
    conn = _connect(path)
    try:
        convert(conn)
        conn.execute("INSERT INTO rp_meta VALUES ('format', ?)", (FORMAT,))
    finally:
        conn.close()


def _extend(path: Path, src: Source) -> None:
    """Bring the cache up to the source's newest event, in one transaction."""
    conn = _connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            builder = Builder(conn, src)
            before = int(builder.meta("last_id", 0))
            if builder.run() != before:
                # The planner's statistics of the versions (1.3 s at 1M events; sampled ones misled it):
                # without them it reads an agent's every version in name order rather than the few
                # that hold at the point.
                for table in REPLAYED:
                    conn.execute(f"ANALYZE rp_{table}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def _same_history(path: Path, src: Source) -> bool:
    """Whether the cache at ``path`` holds the beginning of ``src``'s history: the source still has the
    last event the cache read, the same (its time, to the clock's precision, tells two histories apart).
    A database made anew at the same path or URL (deleted and created again, another backup restored)
    does not, and its cache is not to be extended but built again."""
    conn = _connect(path, read_only=True)
    try:
        row = conn.execute("SELECT value FROM rp_meta WHERE key = 'last_id'").fetchone()
        last = int(row[0]) if row is not None and row[0] is not None else 0
        if not last:
            return True  # nothing read yet
        cached = conn.execute("SELECT ts, kind, entity_id, payload FROM rp_events WHERE id = ?", (last,)).fetchone()
    finally:
        conn.close()
    now = src.one("SELECT ts, kind, entity_id, payload FROM events WHERE id = ?", (last,))
    if cached is None or now is None:
        return False
    payload = now["payload"] if isinstance(now["payload"], str) else json.dumps(now["payload"])
    return (float(cached[0]), cached[1], cached[2]) == (float(now["ts"]), now["kind"], now["entity_id"]) and (
        json.loads(cached[3] or "{}") == json.loads(payload or "{}"))


async def build_cache(source: str | Path, path: Path) -> Path:
    """Make (or extend) the replay cache of ``source`` at ``path``. Builds of one cache take turns (an
    advisory ``flock``: on a SQLite database's file, which SQLite's own locks never see; on a lock file
    beside a server's cache). The source is read over one connection, for the history check and the
    build alike (a server's costs a login)."""
    path.parent.mkdir(parents=True, exist_ok=True)  # the user's cache folder, the first time
    turn = source if isinstance(source, Path) else path.with_name(path.name + ".lock")
    lock = await asyncio.to_thread(_take_turn, turn)
    src: Source | None = None
    try:
        src = await asyncio.to_thread(Source, source)
        if path.exists() and (_format(path) != FORMAT or not await asyncio.to_thread(_same_history, path, src)):
            # A cache of an earlier format, or of another history at the same place: built again.
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        if not path.exists():
            tmp = path.with_name(path.name + ".building")
            try:
                tmp.unlink(missing_ok=True)
                await _new_cache(tmp)
                await asyncio.to_thread(_extend, tmp, src)
                tmp.replace(path)
            finally:
                for suffix in ("", "-wal", "-shm", "-writers"):
                    Path(str(tmp) + suffix).unlink(missing_ok=True)
        else:
            await asyncio.to_thread(_extend, path, src)
    finally:
        if src is not None:
            src.close()
        if lock is not None:
            lock.close()  # (closing the file lifts its lock)
    return path


def _take_turn(file: Path) -> Any:
    import fcntl

    handle = open(file, "rb" if file.exists() else "ab")  # noqa: SIM115 - held until the build ends
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    return handle


class SqliteReplay:
    """``Replay`` over a replay cache or file: the point in Python (``rp_point()`` reads it), the store
    read-only on the file."""

    def __init__(self, path: Path, conn: Any, store: Any, first: int, last: int,
                 cleanup: Callable[[], None] | None) -> None:
        self._path = path
        self._files = conn
        self._store = store
        self._first, self._last = first, last
        self._cleanup = cleanup
        self._point = ReplayPoint(0, datetime.fromtimestamp(0, UTC), "", first, last)
        self._lock = asyncio.Lock()

    @property
    def point(self) -> ReplayPoint:
        return self._point

    @property
    def store(self) -> Any:
        return self._store

    def _clock(self) -> float:
        return self._point.ts.timestamp()

    def _event(self, sql: str, params: tuple[Any, ...]) -> tuple[int, float, str] | None:
        row = self._files.execute(sql, params).fetchone()
        return None if row is None or row[0] is None else (row[0], row[1], row[2])

    def _move(self, event_id: int) -> ReplayPoint:
        event_id = max(self._first, min(self._last, event_id))
        found = self._event("SELECT id, ts, kind FROM rp_events WHERE id <= ? ORDER BY id DESC LIMIT 1",
                            (event_id,)) or self._event("SELECT id, ts, kind FROM rp_events WHERE id >= ? "
                                                        "ORDER BY id LIMIT 1", (event_id,))
        if found is None:
            return self._point
        self._point = ReplayPoint(found[0], datetime.fromtimestamp(found[1], UTC), found[2], self._first, self._last)
        return self._point

    async def seek(self, to: int | datetime) -> ReplayPoint:
        async with self._lock:
            if isinstance(to, datetime):
                when = to.timestamp() if to.tzinfo else to.replace(tzinfo=UTC).timestamp()
                found = self._event("SELECT id, ts, kind FROM rp_events WHERE ts <= ? ORDER BY ts DESC, id DESC "
                                    "LIMIT 1", (when,))
                return self._move(self._first if found is None else found[0])
            if isinstance(to, bool) or not isinstance(to, int):
                raise InvalidArgument(f"seek to an event id or a time, not {to!r}")
            return self._move(to)

    async def step(self, by: Step = Step.EVENT, *, forward: bool = True) -> ReplayPoint:
        async with self._lock:
            here = self._point.event_id
            by = Step(by)
            table, column = ("rp_stale", "event_id") if by is Step.STALE else ("rp_events", "id")
            kind, params = ("", ()) if by in (Step.EVENT, Step.STALE) else ("kind = ? AND ", (_KIND_OF_STEP[by],))
            # One bound each way, folded here: given both of two lower bounds, SQLite ranges over one and
            # filters by the other (a step from the middle read half the log).
            if forward:
                where, bounds, order = f"{column} > ? AND {column} <= ?", (here, self._last), "ASC"
            else:
                where, bounds, order = f"{column} < ? AND {column} >= ?", (here, self._first), "DESC"
            row = self._files.execute(f"SELECT {column} FROM {table} WHERE {kind}{where} ORDER BY {column} {order} "
                                      "LIMIT 1", (*params, *bounds)).fetchone()
            return self._point if row is None else self._move(row[0])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._store.close()
        self._files.close()
        if self._cleanup is not None:
            self._cleanup()


def _replay_rankings(store: Any) -> Any:
    """The store's search rankings with a keyword ranking that reads the search items as they were.

    FTS5 and the vector indexes are virtual tables, which cannot be views of the point: in a cache they
    are empty. A keyword search here looks for each word of the query (the same words as live:
    ``query_words``) in the items that held at the point, case-insensitively as text (no stemming), and
    ranks them by how many of the words each holds, a word in the title counting three (the live
    ranking's weight). Semantic ranking finds nothing (no vectors are replayed)."""
    from .. import search as rules
    from ..sqlite.search_index import Rankings

    class ReplayRankings(Rankings):
        async def keyword(self, query: str, filters: Any, depth: int) -> list[tuple[int, float]]:
            words = [w for w, _ in rules.query_words(query)]
            if not words:
                return []
            scores, params = [], []
            for word in words:
                like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                scores.append("3 * (si.title LIKE ? ESCAPE '\\') + (si.body LIKE ? ESCAPE '\\')")
                params += [like, like]
            where, more = filters.item_sql()
            rows = await self.db._all(
                f"SELECT id, score FROM (SELECT si.id, {' + '.join(scores)} AS score FROM search_items si "
                f"WHERE 1{where}) WHERE score > 0 ORDER BY score DESC, id DESC LIMIT ?", (*params, *more, depth))
            return [(r[0], -float(r[1])) for r in rows]  # lower is better, as bm25

    ranking = store.search_index.ranking
    return ReplayRankings(ranking.db, ranking._vectors)


async def _attach(store: Any, replay: SqliteReplay) -> None:
    """The store's reader reads the replay's point (``rp_point()``, constant within a statement); and the
    reads that name an index of a table (``INDEXED BY``), which the views here do not have, run without
    the hint (the versions have indexes of their own)."""
    conn = store.db._read_conn
    await conn.create_function("rp_point", 0, lambda: replay._point.event_id, deterministic=True)
    execute, fetchall = conn.execute, conn.execute_fetchall

    def plain(sql: str) -> str:
        return _INDEXED_BY.sub("", sql) if "INDEXED" in sql else sql

    conn.execute = lambda sql, parameters=None: execute(plain(sql), parameters)
    conn.execute_fetchall = lambda sql, parameters=None: fetchall(plain(sql), parameters)
    store.search_index.ranking = _replay_rankings(store)


async def _open_file(path: Path, at: int | datetime | None, cleanup: Callable[[], None] | None) -> SqliteReplay:
    from ..sqlite import SQLiteStore

    conn = _connect(path, read_only=True)
    try:
        first = conn.execute("SELECT coalesce((SELECT CAST(value AS INTEGER) FROM rp_meta WHERE key = 'first_id'), "
                             "(SELECT min(id) FROM rp_events), 0)").fetchone()[0]
        last = conn.execute("SELECT coalesce(max(id), 0) FROM rp_events").fetchone()[0]
        replay = SqliteReplay(path, conn, None, first, last, cleanup)
        await replay.seek(last if at is None else at)
        replay._store = await SQLiteStore.open(path, read_only=True, clock=replay._clock)
        await _attach(replay._store, replay)
    except BaseException:
        conn.close()
        if cleanup is not None:
            cleanup()
        raise
    return replay


async def open_replay(source: str | Path, *, at: int | datetime | None = None,
                      clock: Callable[[], float] = time.time, read_only: bool = False) -> SqliteReplay:
    """Open ``source`` (a swarm database: a SQLite path or a postgresql:// URL; or a replay file) at
    ``at`` (an event id, or the last event at or before a time; None: the newest event). ``clock`` is
    not read: the replay's store reads the point's time; it is accepted for the faces' symmetry.
    ``read_only``: a read-only seat's, whose cache is kept away from the database (``cache_path``)."""
    from .. import path_from_url, scheme_of

    del clock
    if scheme_of(source) == "sqlite":
        path = Path(path_from_url(source))
        if not path.exists():
            raise NotFound(f"{path} does not exist", entity="database", key=str(path))
        if is_replay_file(path):
            return await _open_file(path, at, None)
        cache = await build_cache(path, cache_path(path, read_only=read_only))
        return await _open_file(cache, at, None)
    cache = await build_cache(source, server_cache_path(str(source)))
    return await _open_file(cache, at, None)


# -- replay files ---------------------------------------------------------------------------------


def _clip(path: Path, first: int, last: int) -> None:
    """Keep what a replay between events ``first`` and ``last`` shows, and nothing after ``last``."""
    conn = _connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM rp_events WHERE id > ? OR id < ?", (last, first))
        for table in REPLAYED:
            conn.execute(f"DELETE FROM rp_{table} WHERE _from > ? OR _to <= ?", (last, first))
            conn.execute(f"UPDATE rp_{table} SET _to = ?, _lvl = ?, _blk = ? WHERE _to > ? AND _to <> ?",
                         (OPEN, *block(0, OPEN), last, OPEN))
        conn.execute("DELETE FROM rp_stale WHERE event_id > ? OR event_id < ?", (last, first))
        conn.execute("INSERT OR REPLACE INTO rp_meta VALUES ('first_id', ?)", (first,))
        conn.execute("INSERT OR REPLACE INTO rp_meta VALUES ('last_id', ?)", (last,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("VACUUM")
    finally:
        conn.close()


def _resolve(conn: Any, ref: int | datetime | None, default: int, *, upper: bool) -> int:
    if ref is None:
        return default
    if isinstance(ref, datetime):
        when = ref.timestamp() if ref.tzinfo else ref.replace(tzinfo=UTC).timestamp()
        if upper:
            row = conn.execute("SELECT id FROM rp_events WHERE ts <= ? ORDER BY ts DESC, id DESC LIMIT 1",
                               (when,)).fetchone()
            return row[0] if row else default
        row = conn.execute("SELECT id FROM rp_events WHERE ts >= ? ORDER BY ts, id LIMIT 1", (when,)).fetchone()
        return row[0] if row else default
    return int(ref)


async def export_replay(source: str | Path, target: Path, *, start: int | datetime | None = None,
                        end: int | datetime | None = None, force: bool = False,
                        read_only: bool = False) -> tuple[int, int]:
    """Write a self-contained replay file of ``source`` from ``start`` to ``end`` (event ids or times;
    None: the first, the newest): the state at ``start``, the content as of ``end``, the events between.
    Written under a temporary name and renamed; an existing ``target`` is refused unless ``force``.
    ``read_only``: a read-only seat's, whose cache is kept away from the database (``cache_path``).
    Returns the first and last event ids it holds."""
    from .. import path_from_url, scheme_of

    target = Path(target)
    if target.exists() and not force:
        raise InvalidArgument(f"{target} exists: give --force to replace it")
    tmp = target.with_name(f".{target.name}.{time.time_ns()}.part")
    folder: Path | None = None
    try:
        if scheme_of(source) == "sqlite" and is_replay_file(Path(path_from_url(source))):
            cache = Path(path_from_url(source))
        elif scheme_of(source) == "sqlite":
            path = Path(path_from_url(source))
            if not path.exists():
                raise NotFound(f"{path} does not exist", entity="database", key=str(path))
            cache = await build_cache(path, cache_path(path, read_only=read_only))
        else:
            folder = Path(tempfile.mkdtemp(prefix="swarmdeck-export-"))
            cache = await build_cache(source, folder / "replay.db")
        conn = _connect(cache)
        try:
            lo, hi = conn.execute("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM rp_events").fetchone()
            first = max(lo, _resolve(conn, start, lo, upper=False))
            last = min(hi, _resolve(conn, end, hi, upper=True))
            if first > last:
                raise InvalidArgument(f"--from ({first}) is after --to ({last}): nothing to export")
            out = _connect(tmp)
            try:
                conn.backup(out)
            finally:
                out.close()
        finally:
            conn.close()
        await asyncio.to_thread(_clip, tmp, first, last)
        tmp.replace(target)
        return first, last
    finally:
        tmp.unlink(missing_ok=True)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

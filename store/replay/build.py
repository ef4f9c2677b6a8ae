"""The replay cache: the swarm's history as temporal tables, built by one pass over the event log.

The cache's tables and views: store/replay/layout.py. The pass (``Builder``) reads the source's events
after the last one the cache holds (store/replay/source.py), hands each to what its kind does
(store/replay/events.py, which also says where each table's history comes from), and writes the
versions of rows it closed, batch by batch, and at the end those that still hold.

Stale points (an agent's heartbeat aging past its limit) are found while building, from the agents'
versions, into ``rp_stale``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .events import HANDLERS
from .layout import KEYS, MUTABLE, OPEN, POINT, REPLAYED, block, columns, convert
from .source import Source, plain

_STATUSES = ("pending", "blocked", "ready", "running", "completed", "failed", "cancelled")

#: How many events one pass reads and reduces before writing what it closed.
BATCH = 20_000


# -- the reducer ----------------------------------------------------------------------------------


class Builder:
    """Extend a cache with the source's events after the last one it holds. Each event goes to its
    kind's handler (store/replay/events.py), which works on the rows that hold through ``get``, ``put``,
    ``change``, ``remove`` and ``append``, and reads the source through ``source_row(s)``."""

    def __init__(self, conn: Any, source: Source) -> None:
        self.conn = conn
        self.src = source
        self.cols = {t: columns(conn, f"rp_{t}")[4:] for t in REPLAYED}
        self.open: dict[str, dict[Any, tuple[int, dict[str, Any]]]] = {t: {} for t in MUTABLE}
        self.closed: dict[str, list[tuple[int, int, dict[str, Any]]]] = {t: [] for t in REPLAYED}
        self.memory_current: dict[tuple[str, str], int] = {}
        #: The search item that stands for each (kind, ref_id) now, and the id the next one takes.
        self.search_refs: dict[tuple[str, int], int] = {}
        self.search_next = 1
        self.counts: dict[str, int] = {}
        self.ts = 0.0
        self.event_id = 0
        self.last_reviewer: str | None = None
        self.base_set = False

    # state

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM rp_meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO rp_meta VALUES (?, ?)", (key, value))

    def _load(self) -> None:
        for table, rows in self.open.items():
            cols = self.cols[table]
            key = KEYS[table]
            for r in self.conn.execute(f"SELECT * FROM rp_{table} WHERE _to = ?", (OPEN,)).fetchall():
                row = dict(zip(cols, r[4:]))
                rows[tuple(row[k] for k in key) if len(key) > 1 else row[key[0]]] = (r[0], row)
            self.conn.execute(f"DELETE FROM rp_{table} WHERE _to = ?", (OPEN,))
        for _from, row in self.open["memory_entries"].values():
            if row["is_current"]:
                self.memory_current[(row["namespace"], row["key"])] = row["id"]
        for _from, row in self.open["search_items"].values():
            self.search_refs[(row["kind"], row["ref_id"])] = row["id"]
        self.search_next = int(self.meta("search_next", 1))
        counts = self.meta("counts")
        self.counts = json.loads(counts) if counts else {}
        self.last_reviewer = self.meta("last_reviewer")

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        found = self.open[table].get(key)
        return None if found is None else found[1]

    def put(self, table: str, key: Any, row: dict[str, Any]) -> None:
        """``row`` holds from this event on (what held before is closed here)."""
        held = self.open[table].get(key)
        if held is not None and held[0] < self.event_id:
            self.closed[table].append((held[0], self.event_id, held[1]))
            if table == "agents":
                self._stale_check(held[0], held[1], self.event_id, self.ts)
        self.open[table][key] = (self.event_id, row)
        if table == "tasks":  # the counts per status, as the live store's triggers keep them
            before = None if held is None else held[1]
            if before is None or (before["status"], before["priority"]) != (row["status"], row["priority"]):
                if before is not None:
                    self._count(before["status"], -1, -before["priority"])
                self._count(row["status"], 1, row["priority"])

    def _count(self, status: str, n: int, priority: float) -> None:
        held = self.get("task_counts", status)
        if held is not None:
            self.put("task_counts", status, {**held, "n": held["n"] + n,
                                             "priority_sum": held["priority_sum"] + priority})

    def remove(self, table: str, key: Any) -> None:
        """The row stops holding at this event."""
        held = self.open[table].pop(key, None)
        if held is not None and held[0] < self.event_id:
            self.closed[table].append((held[0], self.event_id, held[1]))

    def change(self, table: str, key: Any, **fields: Any) -> dict[str, Any] | None:
        row = self.get(table, key)
        if row is None:
            return None
        row = {**row, **fields}
        self.put(table, key, row)
        return row

    def append(self, table: str, row: dict[str, Any]) -> None:
        self.closed[table].append((self.event_id, OPEN, row))

    def nth(self, kind: str) -> int:
        n = self.counts.get(kind, 0)
        self.counts[kind] = n + 1
        return n

    def source_row(self, table: str, where: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        cols = self.cols[table]
        row = self.src.one(f"SELECT {', '.join(cols)} FROM {table} WHERE {where}", params)
        return None if row is None else {c: plain(row[c]) for c in cols}

    def source_rows(self, table: str, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        cols = self.cols[table]
        rows = self.src.all(f"SELECT {', '.join(cols)} FROM {table} WHERE {where}", params)
        return [{c: plain(row[c]) for c in cols} for row in rows]

    # the pass

    def run(self, *, upto: int | None = None, progress: Callable[[int], None] | None = None) -> int:
        """Read and reduce every source event after the last one held (up to ``upto``); the newest id."""
        last = int(self.meta("last_id", 0))
        newest = self.src.one("SELECT max(id) AS id FROM events")
        if last and (newest is None or newest["id"] is None or newest["id"] <= last):
            return last  # nothing new
        self._load()
        if last == 0 and self.get("swarm_state", 1) is None:
            self.event_id = 0
            self.put("swarm_state", 1, {"id": 1, "paused": 0, "reason": None, "paused_by": None, "paused_at": None})
            for status in _STATUSES:
                self.put("task_counts", status, {"status": status, "n": 0, "priority_sum": 0.0})
        self.base_set = self.src.one(
            "SELECT 1 AS one FROM events WHERE kind = 'task.base_priority_set' LIMIT 1") is not None
        ev_cols = columns(self.conn, "rp_events")
        listed = ", ".join(ev_cols)
        marks = ", ".join("?" * len(ev_cols))
        while True:
            rows = self.src.all(f"SELECT {listed} FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT {BATCH}",
                                (last, upto if upto is not None else OPEN))
            if not rows:
                break
            self.conn.executemany(f"INSERT INTO rp_events ({listed}) VALUES ({marks})",
                                  [tuple(plain(r[c]) for c in ev_cols) for r in rows])
            for r in rows:
                self.event_id, self.ts = int(r["id"]), float(r["ts"])
                payload = r["payload"]
                payload = json.loads(payload) if isinstance(payload, str) else (payload or {})
                self.apply(r["kind"], r["entity_id"], r["actor"], payload)
            last = self.event_id
            self._flush()
            if progress is not None:
                progress(last)
        self._samples()
        self._flush(final=True)
        self.set_meta("last_id", last)
        self.set_meta("counts", json.dumps(self.counts))
        self.set_meta("last_reviewer", self.last_reviewer)
        self.set_meta("search_next", self.search_next)
        return last

    def _flush(self, *, final: bool = False) -> None:
        for table, rows in self.closed.items():
            if rows:
                cols = self.cols[table]
                marks = ", ".join("?" * (len(cols) + 4))
                self.conn.executemany(f"INSERT INTO rp_{table} VALUES ({marks})",
                                      [(f, t, *block(f, t), *(row[c] for c in cols)) for f, t, row in rows])
                rows.clear()
        if final:
            last_ts = self.conn.execute("SELECT max(ts) FROM rp_events").fetchone()[0] or 0.0
            for table, held in self.open.items():
                cols = self.cols[table]
                marks = ", ".join("?" * (len(cols) + 4))
                self.conn.executemany(f"INSERT INTO rp_{table} VALUES ({marks})",
                                      [(f, OPEN, *block(f, OPEN), *(row[c] for c in cols))
                                       for f, row in held.values()])
                if table == "agents":
                    for f, row in held.values():
                        self._stale_check(f, row, OPEN, last_ts + 1e9)

    def _stale_check(self, start: int, agent: dict[str, Any], end: int, end_ts: float) -> None:
        """If the agent's heartbeat, as this version of it holds, aged past its limit before the version
        ended, the first event after that moment is a stale point."""
        if agent["status"] == "offline":
            return
        beat = agent["last_heartbeat"]
        limit = (beat if beat is not None else agent["registered_at"]) + agent["stale_after_seconds"]
        if end_ts <= limit:
            return
        found = self.conn.execute("SELECT id FROM rp_events WHERE id >= ? AND id < ? AND ts > ? ORDER BY id "
                                  "LIMIT 1", (start, end, limit)).fetchone()
        if found is not None:
            self.conn.execute("INSERT OR IGNORE INTO rp_stale VALUES (?, ?, ?)", (found[0], agent["name"], beat))

    def _samples(self) -> None:
        """Queue samples by time: each slot's row from the source, from the first event at or after it
        (a slot's last value stands for it: the store rewrites a slot's row as its queue changes)."""
        last_ts = self.conn.execute("SELECT max(ts) FROM rp_events").fetchone()[0]
        if last_ts is None:
            return
        since = int(self.meta("sample_slot", -1))
        cols = self.cols["queue_samples"]
        rows = self.source_rows("queue_samples", "slot >= ? AND ts <= ? ORDER BY slot", (since, last_ts))
        if not rows:
            return
        self.conn.execute("DELETE FROM rp_queue_samples WHERE slot >= ?", (since,))
        self.conn.execute(f"CREATE TEMP TABLE rp_new_samples ({', '.join(cols)})")
        self.conn.executemany(f"INSERT INTO rp_new_samples VALUES ({', '.join('?' * len(cols))})",
                              [tuple(row[c] for c in cols) for row in rows])
        self.conn.execute(f"""INSERT INTO rp_queue_samples
            SELECT (SELECT id FROM rp_events e WHERE e.ts >= s.ts ORDER BY e.ts, e.id LIMIT 1), {OPEN}, 62, 0, s.*
            FROM rp_new_samples s""")
        self.conn.execute("DROP TABLE temp.rp_new_samples")
        self.set_meta("sample_slot", rows[-1]["slot"])

    def apply(self, kind: str, entity_id: Any, actor: str, p: dict[str, Any]) -> None:
        handler = HANDLERS.get(kind)
        if handler is not None:
            handler(self, entity_id, actor, p)


#: Also what the rest of the package reads from here (the cache's layout and the source, re-exported).
__all__ = ["BATCH", "Builder", "OPEN", "POINT", "REPLAYED", "Source", "convert"]

"""The replay cache: the swarm's history as temporal tables, built by one pass over the event log.

Every table a replay shows is kept here as ``rp_<table>``: the table's own columns plus ``_from`` and
``_to``, the event ids between which that version of the row held (``_from <= point < _to``; ``_to`` is
``OPEN`` while it still holds). The table's own name is a view that picks the versions holding at the
point, which it reads from the SQL function ``rp_point()`` that each replay gives its own connection
(so that replays of one database never share a point, and a seek writes nothing), so the store's own reads (store/sqlite/) run unchanged on this file; the events are
``rp_events``, a copy of the log, seen through the view ``events`` up to the point.

Where each table's history comes from (classified against store/sqlite/schema.py):

- Mutable tables, rebuilt by a reducer over the events (store/payloads.py says what each one carries):
  ``tasks`` (status, agent, priority, base priority, attempts, error, lease, start and finish times, the
  failure that holds it; description and the other columns fixed at enqueue are read from the source
  row; ``result_data`` is the source's once the task completed, which it then stays; ``dependency_depth``
  is the source's current value), ``agents`` (status, current task, completion, blockers, heartbeat),
  ``milestones`` (status, plan state, hours spent), ``swarm_state``, ``gate_conditions`` (closure),
  ``reviewers`` (added, removed), ``sessions`` (status; their free-form state is the source's current
  one: the events say which keys were set, not to what), ``memory_entries`` (current version, deletion)
  and ``learning_records`` (archival).
- Append-only tables, each row placed at the event that wrote it: ``task_dependencies``, reports and
  their criteria, metrics, issues and recommendations (by the report's version in its event),
  ``gate_decisions``, ``gate_resumptions``, ``criterion_evidence``, ``session_events`` (the n-th row with
  the n-th event of its kind), ``queue_samples`` (by time: a sample slot's last value stands for the
  whole slot).
- ``search_items``, the search index's items (what store/memory.py writes with each memory and
  learning record), rebuilt by the reducer likewise: a memory's item from its first version, moved to
  each new version (keeping its id), dropped at its deletion, written anew at its restoration; a
  record's from its logging to its archival. Their ids are the cache's own, given in the order the
  items were written (the order ``recent`` lists them in); their vectors are not replayed.
- Not replayed (empty here): documents and their chunks' search items, the FTS index and the vectors
  (virtual tables, which cannot be views of the point: a replay's keyword search looks for the words
  in the items that held, store/replay/engine.py), ``schema_migrations`` aside.
- ``task_counts`` (kept by triggers in a live store) is kept by the reducer likewise, a version per
  change, so that the queue's counts never count the tasks.

Finding the versions that hold at a point is an interval stabbing query, which an index on ``_from``
(or ``_to``) answers only by scanning every version that began before (or ended after) the point. So
each version also carries its dyadic block: ``_lvl``, the number of low bits in which ``_from`` and
``_to - 1`` differ, and ``_blk = _from >> _lvl``; a version holds at P only if ``_blk = P >> _lvl``, so
the views look in one block per level (63 index probes) and read little more than the versions that
hold. The indexes lead with the columns the store filters on (a task's status, its agent...).

Stale points (an agent's heartbeat aging past its limit) are found while building, from the agents'
versions, into ``rp_stale``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..rows import dumps

#: ``_to`` of a version that still holds.
OPEN = 1 << 62

#: Tables rebuilt or placed by event: their versions are rp_<table>; the table's name is a view.
REPLAYED = (
    "tasks", "task_dependencies", "agents", "milestones", "swarm_state", "validation_reports",
    "report_criteria", "report_metrics", "report_issues", "report_recommendations", "gate_decisions",
    "gate_conditions", "gate_resumptions", "criterion_evidence", "reviewers", "sessions", "session_events",
    "memory_entries", "learning_records", "queue_samples", "task_counts", "search_items",
)

#: Each replayed table's key (what identifies one row through its versions) and extra index columns.
_KEYS = {
    "tasks": ("id",), "agents": ("name",), "milestones": ("id",), "swarm_state": ("id",),
    "gate_conditions": ("id",), "reviewers": ("name",), "sessions": ("id",), "memory_entries": ("id",),
    "learning_records": ("id",), "validation_reports": ("id",), "gate_decisions": ("id",),
    "task_dependencies": ("task_id",), "report_criteria": ("report_id",), "report_metrics": ("report_id",),
    "report_issues": ("report_id",), "report_recommendations": ("report_id",), "gate_resumptions": ("id",),
    "criterion_evidence": ("id",), "session_events": ("session_id",), "queue_samples": ("slot",),
    "task_counts": ("status",), "search_items": ("id",),
}
_INDEXES = {"tasks": (("status",), ("assigned_agent",), ("milestone_id",)),
            "memory_entries": (("is_current",),), "learning_records": (("kind",),)}

#: The tables whose rows change after they are written: rebuilt by the reducer (the others are appended).
MUTABLE = ("tasks", "agents", "milestones", "swarm_state", "gate_conditions", "reviewers", "sessions",
           "memory_entries", "learning_records", "task_counts", "search_items")

#: The point every view reads: a function each replay defines on its own connection.
POINT = "rp_point()"
#: A version holds at the point: looked for in the one block of each level that can hold it.
HOLDS = (f"(_lvl, _blk) IN (SELECT lvl, {POINT} >> lvl FROM rp_levels) "
         f"AND _from <= {POINT} AND _to > {POINT}")


def block(start: int, end: int) -> tuple[int, int]:
    """A version's dyadic block: its level and its block number at that level."""
    level = (start ^ (end - 1)).bit_length()
    return level, start >> level

_STATUSES = ("pending", "blocked", "ready", "running", "completed", "failed", "cancelled")

#: How many events one pass reads and reduces before writing what it closed.
BATCH = 20_000


# -- the cache's layout ---------------------------------------------------------------------------


def columns(conn: Any, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]


def convert(conn: Any) -> None:
    """Turn a database with the store's schema (empty) into a replay cache: versions and views."""
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE rp_meta (key TEXT PRIMARY KEY, value)")
    conn.execute("CREATE TABLE rp_stale (event_id INTEGER NOT NULL, agent TEXT NOT NULL, heartbeat REAL, "
                 "PRIMARY KEY (agent, heartbeat))")
    conn.execute("CREATE INDEX rp_stale_event ON rp_stale (event_id)")
    conn.execute("CREATE TABLE rp_levels (lvl INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO rp_levels VALUES (?)", [(n,) for n in range(63)])
    cols: dict[str, list[str]] = {}
    for table in REPLAYED:
        cols[table] = columns(conn, table)
        listed = ", ".join(cols[table])
        conn.execute(f"CREATE TABLE rp_{table} AS SELECT 0 AS _from, 0 AS _to, 0 AS _lvl, 0 AS _blk, {listed} "
                     f"FROM {table} WHERE 0")
        conn.execute(f"DROP TABLE {table}")
        key = ", ".join(_KEYS[table])
        conn.execute(f"CREATE INDEX rp_{table}_key ON rp_{table} ({key}, _from)")
        conn.execute(f"CREATE INDEX rp_{table}_at ON rp_{table} (_lvl, _blk, _from)")
        conn.execute(f"CREATE INDEX rp_{table}_open ON rp_{table} (_to) WHERE _to = {OPEN}")
        for n, indexed in enumerate(_INDEXES.get(table, ())):
            conn.execute(f"CREATE INDEX rp_{table}_{n} ON rp_{table} ({', '.join(indexed)}, _lvl, _blk, _from)")
        conn.execute(f"CREATE VIEW {table} AS SELECT {listed} FROM rp_{table} WHERE {HOLDS}")
    # The log: the table itself, renamed (its indexes go with it), seen up to the point.
    for trigger in ("no_update", "no_delete", "no_replace"):
        conn.execute(f"DROP TRIGGER IF EXISTS events_{trigger}")
    conn.execute("ALTER TABLE events RENAME TO rp_events")
    conn.execute("CREATE INDEX rp_events_ts ON rp_events (ts, id)")
    conn.execute(f"CREATE VIEW events AS SELECT * FROM rp_events WHERE id <= {POINT}")
    conn.execute("COMMIT")


# -- the source -----------------------------------------------------------------------------------


class Source:
    """The swarm database read from: SQLite (a read-only connection) or PostgreSQL (psycopg)."""

    def __init__(self, url: str | Path) -> None:
        from .. import path_from_url, scheme_of

        self.pg = scheme_of(url) != "sqlite"
        if self.pg:
            import psycopg

            self.conn = psycopg.connect(str(url), autocommit=True)
        else:
            import sqlean

            # Writes refused, but not SQLite's read-only mode, which leaves a WAL database's -wal and -shm
            # files behind (engine.py ``_connect``).
            path = Path(path_from_url(url)).resolve()
            self.conn = sqlean.connect(f"file:{path}?mode=rw", uri=True, check_same_thread=False)
            self.conn.execute("PRAGMA query_only = ON")
            self.conn.row_factory = sqlean.Row

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if self.pg:
            cur = self.conn.execute(sql.replace("?", "%s"), params)
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        return [dict(row) for row in self.conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        self.conn.close()


def _plain(value: Any) -> Any:
    """A value from either backend as SQLite stores it."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, (dict, list)):
        return dumps(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


# -- the reducer ----------------------------------------------------------------------------------


class Builder:
    """Extend a cache with the source's events after the last one it holds."""

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
            key = _KEYS[table]
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
        return None if row is None else {c: _plain(row[c]) for c in cols}

    def source_rows(self, table: str, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        cols = self.cols[table]
        rows = self.src.all(f"SELECT {', '.join(cols)} FROM {table} WHERE {where}", params)
        return [{c: _plain(row[c]) for c in cols} for row in rows]

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
                                  [tuple(_plain(r[c]) for c in ev_cols) for r in rows])
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

    # -- what each event does -------------------------------------------------------------------

    def apply(self, kind: str, entity_id: Any, actor: str, p: dict[str, Any]) -> None:
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, entity_id, actor, p)

    # tasks

    def task_enqueued(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        tid = int(tid)
        row = self.source_row("tasks", "id = ?", (tid,))
        if row is None:
            return
        base = row["base_priority"]
        if self.base_set:
            first = self.src.one("SELECT payload FROM events WHERE kind = 'task.base_priority_set' "
                                 "AND entity_id = ? AND id > ? ORDER BY id LIMIT 1", (str(tid), self.event_id))
            if first is not None:
                base = json.loads(first["payload"]).get("was", base)
        row.update(status=p.get("status", row["status"]), priority=p.get("priority", row["priority"]),
                   base_priority=base, result_data=None, error_message=None, assigned_agent=None, retry_count=0,
                   lease_expires_at=None, updated_at=self.ts, started_at=None, finished_at=None, held_by=None)
        self.put("tasks", tid, row)
        for prerequisite in p.get("prerequisites") or ():
            self.append("task_dependencies", {"task_id": tid, "prerequisite_id": prerequisite})

    def task_dependency(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        self.append("task_dependencies", {"task_id": int(tid), "prerequisite_id": p.get("prerequisite_id")})

    def task_reprioritised(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("tasks", int(tid), priority=p.get("priority"))

    def task_base_priority(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("tasks", int(tid), base_priority=p.get("base_priority"), updated_at=self.ts)

    def task_claimed(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        tid = int(tid)
        task = self.get("tasks", tid)
        agent = p.get("agent")
        if task is None:
            return
        self.change("tasks", tid, status="running", assigned_agent=agent, started_at=self.ts,
                    lease_expires_at=self.ts + task["timeout_seconds"], updated_at=self.ts)
        self.change("agents", agent, status="working", current_task_id=tid, completion=0.0, last_heartbeat=self.ts)

    def _release(self, task: dict[str, Any], heard: bool) -> None:
        """The task's agent is done with it (idle if it was on it); ``heard``: it said so, a heartbeat."""
        held = self.get("agents", task["assigned_agent"]) if task["assigned_agent"] else None
        if held is None:
            return
        fields: dict[str, Any] = {"last_heartbeat": self.ts} if heard else {}
        if held["current_task_id"] == task["id"]:
            fields.update(status="idle", current_task_id=None)
        if fields:
            self.change("agents", held["name"], **fields)

    def _end_run(self, tid: Any, p: dict[str, Any], *, book: bool = True, release: bool = True,
                 **fields: Any) -> dict[str, Any] | None:
        """A run ended (completed, failed, retried, escalated, cancelled): its agent released, its time
        booked to its milestone (``book``: the hours the agent gave, else the time it ran), the task
        changed by ``fields``. The task as it was before, or None if there is none."""
        task = self.get("tasks", int(tid))
        if task is None:
            return None
        if release:
            self._release(task, bool(p.get("heard")))
        started, hours = task["started_at"], p.get("hours")
        seconds = (None if started is None else round(self.ts - started, 3)) if hours is None else hours * 3600.0
        if book and task["milestone_id"] is not None and seconds:
            ms = self.get("milestones", task["milestone_id"])
            if ms is not None:
                self.change("milestones", ms["id"], hours_spent=ms["hours_spent"] + seconds / 3600.0)
        self.change("tasks", task["id"], updated_at=self.ts, **fields)
        return task

    def task_completed(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        result = self.src.one("SELECT result_data FROM tasks WHERE id = ?", (int(tid),))
        self._end_run(tid, p, status="completed", finished_at=self.ts, lease_expires_at=None,
                      result_data=None if result is None else _plain(result["result_data"]))

    def task_failed(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        self._end_run(tid, p, status="failed", error_message=p.get("error"), finished_at=self.ts,
                      lease_expires_at=None)

    def task_retried(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        task = self.get("tasks", int(tid))
        if task is None:
            return
        if p.get("manual"):  # a person put a failed task back: blocked until released
            self.change("tasks", task["id"], status="blocked", retry_count=task["retry_count"] + 1,
                        finished_at=None, assigned_agent=None, started_at=None, updated_at=self.ts)
            return
        self._end_run(tid, p, status="ready", retry_count=task["retry_count"] + 1, error_message=p.get("error"),
                      assigned_agent=None, started_at=None, lease_expires_at=None)

    def task_cancelled(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        task = self.get("tasks", int(tid))
        if task is None:
            return
        reason = p.get("reason")
        # A person's act: no heartbeat, no hours booked; only a running task's agent is released.
        self._end_run(tid, {}, book=False, release=task["status"] == "running", status="cancelled",
                      finished_at=self.ts, lease_expires_at=None, held_by=None,
                      error_message=reason if reason is not None else task["error_message"])

    def task_escalated(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        if self._end_run(tid, p, status="blocked", assigned_agent=None, started_at=None,
                         lease_expires_at=None) is not None and p.get("debug_task") is not None:
            self.append("task_dependencies", {"task_id": int(tid), "prerequisite_id": p["debug_task"]})

    def task_held(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("tasks", int(tid), held_by=p.get("failed_task"))

    def task_unheld(self, tid: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("tasks", int(tid), held_by=None)

    # agents

    def agent_registered(self, name: Any, actor: str, p: dict[str, Any]) -> None:
        held = self.get("agents", name)
        fixed = self.source_row("agents", "name = ?", (name,))
        stale = fixed["stale_after_seconds"] if fixed else 60.0
        grace = fixed["requeue_after_seconds"] if fixed else 300.0
        if held is None:
            self.put("agents", name, {
                **(fixed or {}), "name": name, "agent_type": p.get("agent_type"), "colour": p.get("colour"),
                "model": p.get("model"), "status": "idle", "current_task_id": None, "completion": 0.0,
                "blockers": "[]", "next_milestone": None, "last_heartbeat": self.ts, "stale_after_seconds": stale,
                "registered_at": self.ts, "requeue_after_seconds": grace, "blockers_since": None,
                "id": fixed["id"] if fixed else None,
            })
            return
        self.change("agents", name, agent_type=p.get("agent_type"),
                    colour=p.get("colour") if p.get("colour") is not None else held["colour"],
                    model=p.get("model") if p.get("model") is not None else held["model"],
                    stale_after_seconds=stale, requeue_after_seconds=grace, last_heartbeat=self.ts,
                    status="idle" if held["status"] == "offline" else held["status"])

    def agent_action(self, name: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("agents", name, last_heartbeat=self.ts)

    # reviewers

    def reviewer_added(self, name: Any, actor: str, p: dict[str, Any]) -> None:
        fixed = self.source_row("reviewers", "name = ?", (name,)) or {"id": None, "public_key": None}
        held = self.get("reviewers", name)
        key = (held or {}).get("public_key") or (fixed["public_key"] if p.get("key") else None)
        self.put("reviewers", name, {**fixed, "name": name, "public_key": key, "added_at": self.ts,
                                     "added_by": p.get("by"), "removed_at": None, "removed_by": None})

    def reviewer_key(self, name: Any, actor: str, p: dict[str, Any]) -> None:
        fixed = self.source_row("reviewers", "name = ?", (name,))
        self.change("reviewers", name, public_key=fixed["public_key"] if fixed else None)

    def reviewer_removed(self, name: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("reviewers", name, removed_at=self.ts, removed_by=p.get("by"))

    # milestones and gates

    def milestone_added(self, mid: Any, actor: str, p: dict[str, Any]) -> None:
        row = self.source_row("milestones", "id = ?", (int(mid),))
        if row is not None:
            row.update(status=p.get("status", row["status"]), hours_spent=0.0, plan_state="active", plan_version=0)
            self.put("milestones", int(mid), row)


    def report_submitted(self, mid: Any, actor: str, p: dict[str, Any]) -> None:
        mid = int(mid)
        report = self.source_row("validation_reports", "milestone_id = ? AND version = ?", (mid, p.get("version")))
        if report is None:
            return
        self.append("validation_reports", report)
        for table in ("report_criteria", "report_metrics", "report_issues", "report_recommendations"):
            for row in self.source_rows(table, "report_id = ? ORDER BY position", (report["id"],)):
                self.append(table, row)
        held = self.get("milestones", mid)
        if held is not None and held["status"] == "open":
            self.change("milestones", mid, status="review")

    def gate_decided(self, mid: Any, actor: str, p: dict[str, Any]) -> None:
        n = self.nth("gate.decided")
        decision = self.source_row("gate_decisions", f"1 = 1 ORDER BY id LIMIT 1 OFFSET {n}", ())
        if decision is not None:
            self.append("gate_decisions", decision)
            for row in self.source_rows("gate_conditions", "decision_id = ? ORDER BY id", (decision["id"],)):
                row.update(status="open", closed_by=None, closed_at=None, note=None, close_signature=None)
                self.put("gate_conditions", row["id"], row)
        self.last_reviewer = p.get("reviewer")
        if p.get("status") is not None:
            self.change("milestones", int(mid), status=p["status"])

    def condition_closed(self, mid: Any, actor: str, p: dict[str, Any]) -> None:
        cid = p.get("condition_id")
        fixed = self.source_row("gate_conditions", "id = ?", (cid,))
        self.change("gate_conditions", cid, status="closed", closed_by=p.get("closed_by"), closed_at=self.ts,
                    note=p.get("note"), close_signature=fixed["close_signature"] if fixed else None)

    def append_nth(self, kind: str, table: str) -> None:
        """The row of ``table`` that the n-th event of ``kind`` wrote (each such event writes one)."""
        row = self.source_row(table, f"1 = 1 ORDER BY id LIMIT 1 OFFSET {self.nth(kind)}", ())
        if row is not None:
            self.append(table, row)

    def evidence_added(self, mid: Any, actor: str, p: dict[str, Any]) -> None:
        self.append_nth("gate.evidence_added", "criterion_evidence")

    def milestone_review(self, mid: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("milestones", int(mid), status="review")
        self.append_nth("milestone.review", "gate_resumptions")

    def swarm_paused(self, _id: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("swarm_state", 1, paused=1, reason=p.get("reason"), paused_by=self.last_reviewer,
                    paused_at=self.ts)

    def swarm_resumed(self, _id: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("swarm_state", 1, paused=0, reason=None, paused_by=None, paused_at=None)

    # sessions, memory, records

    def session_created(self, sid: Any, actor: str, p: dict[str, Any]) -> None:
        row = self.source_row("sessions", "id = ?", (sid,))
        if row is not None:
            row.update(status="created", updated_at=self.ts)
            self.put("sessions", sid, row)

    def session_touched(self, sid: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("sessions", sid, updated_at=self.ts)

    def session_event(self, sid: Any, actor: str, p: dict[str, Any]) -> None:
        self.append_nth("session.event", "session_events")

    def memory_version(self, eid: Any, actor: str, p: dict[str, Any]) -> None:
        row = self.source_row("memory_entries", "id = ?", (int(eid),))
        if row is None:
            return
        key = (row["namespace"], row["key"])
        before = self.memory_current.get(key)
        if before is not None and before != row["id"]:
            self.change("memory_entries", before, is_current=0)
        row.update(is_current=1, deleted_at=None, deleted_by=None)
        self.put("memory_entries", row["id"], row)
        self.memory_current[key] = row["id"]
        item = self.search_refs.pop(("memory", before), None) if before is not None else None
        self._search_item("memory", row, item=item)

    def memory_deleted(self, eid: Any, actor: str, p: dict[str, Any]) -> None:
        self.change("memory_entries", int(eid), deleted_at=self.ts, deleted_by=actor)
        self._drop_item("memory", int(eid))

    def memory_restored(self, eid: Any, actor: str, p: dict[str, Any]) -> None:
        row = self.change("memory_entries", int(eid), deleted_at=None, deleted_by=None)
        if row is not None:  # a new item, written when the entry was (store/memory.py restore_memory)
            self._search_item("memory", row, created_at=row["created_at"])

    def record_logged(self, rid: Any, actor: str, p: dict[str, Any]) -> None:
        row = self.source_row("learning_records", "id = ?", (int(rid),))
        if row is not None:
            row["archived_at"] = None
            self.put("learning_records", row["id"], row)
            self._search_item(row["kind"], row)

    def records_archived(self, _id: Any, actor: str, p: dict[str, Any]) -> None:
        for r in self.src.all("SELECT id, kind FROM learning_records WHERE archived_at = ?", (self.ts,)):
            self.change("learning_records", r["id"], archived_at=self.ts)
            self._drop_item(r["kind"], r["id"])

    # the search index: what store/memory.py writes into search_items with each memory and record

    def _search_item(self, kind: str, row: dict[str, Any], *, item: int | None = None,
                     created_at: float | None = None) -> None:
        """The searchable item of a memory version or a learning record, as the live store writes it
        (``put_item``; ``item``: the item a new version of a memory moves, keeping its id). The ids are
        the cache's own, given in the order the items were written (the live store's order: ``recent``)."""
        from .. import learning
        from ..memory import _searchable

        if kind == "memory":
            value = json.loads(row["value"]) if row["is_json"] else row["value"]
            fields = {"namespace": row["namespace"], "title": row["key"], "body": _searchable(value, row["is_json"]),
                      "memory_type": row["memory_type"], "agent": row["created_by"]}
        else:
            fields = {"namespace": row["namespace"], "title": row["title"],
                      "body": learning.body(kind, json.loads(row["fields"])), "memory_type": None,
                      "agent": row["agent"], "milestone_id": row["milestone_id"]}
        held = self.get("search_items", item) if item is not None else None
        if held is None:
            item, self.search_next = self.search_next, self.search_next + 1
            held = {"id": item, "kind": kind, "task_id": row["task_id"], "milestone_id": None,
                    "embedded_model": None}
        self.put("search_items", item, {**held, **fields, "ref_id": row["id"],
                                        "created_at": self.ts if created_at is None else created_at})
        self.search_refs[(kind, row["id"])] = item

    def _drop_item(self, kind: str, ref_id: int) -> None:
        item = self.search_refs.pop((kind, ref_id), None)
        if item is not None:
            self.remove("search_items", item)


Handler = Callable[[Builder, Any, str, dict[str, Any]], None]


def _task_status(status: str) -> Handler:
    def handler(b: Builder, tid: Any, actor: str, p: dict[str, Any]) -> None:
        b.change("tasks", int(tid), status=status, updated_at=b.ts)
    return handler


def _milestone_status(status: str) -> Handler:
    def handler(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
        b.change("milestones", int(mid), status=status)
    return handler


def _milestone_plan(state: str) -> Handler:
    def handler(b: Builder, mid: Any, actor: str, p: dict[str, Any]) -> None:
        held = b.get("milestones", int(mid))
        if held is not None:
            b.change("milestones", int(mid), plan_state=state, plan_version=held["plan_version"] + 1)
    return handler


def _session_status(status: str) -> Handler:
    def handler(b: Builder, sid: Any, actor: str, p: dict[str, Any]) -> None:
        b.change("sessions", sid, status=status, updated_at=b.ts)
    return handler


def _agent_changed(heartbeat: bool) -> Handler:
    """``agent.heartbeat`` / ``agent.updated``: the fields given (blockers keep when each was first
    reported); a heartbeat stamps the time too."""
    def handler(b: Builder, name: Any, actor: str, p: dict[str, Any]) -> None:
        held = b.get("agents", name)
        if held is None:
            return
        fields = {k: p[k] for k in ("status", "current_task_id", "completion", "next_milestone") if k in p}
        if "blockers" in p:
            before = json.loads(held["blockers"] or "[]")
            since = json.loads(held["blockers_since"] or "{}")
            seen = {blocker: since.get(blocker) for blocker in before if since.get(blocker) is not None}
            fields["blockers"] = dumps(p["blockers"])
            fields["blockers_since"] = dumps({x: seen.get(x, b.ts) for x in p["blockers"] or ()})
        if heartbeat:
            fields["last_heartbeat"] = b.ts
        if fields:
            b.change("agents", name, **fields)
    return handler


#: What each kind of event does to the state (a kind not here changes nothing a replay shows).
_HANDLERS: dict[str, Handler] = {
    "task.enqueued": Builder.task_enqueued,
    "task.dependency_added": Builder.task_dependency,
    "task.reprioritised": Builder.task_reprioritised,
    "task.base_priority_set": Builder.task_base_priority,
    "task.claimed": Builder.task_claimed,
    "task.completed": Builder.task_completed,
    "task.failed": Builder.task_failed,
    "task.retried": Builder.task_retried,
    "task.cancelled": Builder.task_cancelled,
    "task.held": Builder.task_held,
    "task.unheld": Builder.task_unheld,
    "task.escalated": Builder.task_escalated,
    "agent.registered": Builder.agent_registered,
    "agent.heartbeat": _agent_changed(True),
    "agent.updated": _agent_changed(False),
    "agent.action": Builder.agent_action,
    "reviewer.added": Builder.reviewer_added,
    "reviewer.key": Builder.reviewer_key,
    "reviewer.removed": Builder.reviewer_removed,
    "milestone.added": Builder.milestone_added,
    "milestone.review": Builder.milestone_review,
    "gate.report_submitted": Builder.report_submitted,
    "gate.decided": Builder.gate_decided,
    "gate.condition_closed": Builder.condition_closed,
    "gate.evidence_added": Builder.evidence_added,
    "swarm.paused": Builder.swarm_paused,
    "swarm.resumed": Builder.swarm_resumed,
    "session.created": Builder.session_created,
    "session.event": Builder.session_event,
    "session.state_set": Builder.session_touched,
    "memory.added": Builder.memory_version,
    "memory.updated": Builder.memory_version,
    "memory.deleted": Builder.memory_deleted,
    "memory.restored": Builder.memory_restored,
    "record.logged": Builder.record_logged,
    "record.archived": Builder.records_archived,
    **{f"task.{status}": _task_status(status) for status in ("blocked", "ready")},
    **{f"milestone.{kind}": _milestone_status(status) for kind, status in (("opened", "open"),
                                                                           ("approved", "approved"))},
    **{f"milestone.{kind}": _milestone_plan(state) for kind, state in (("cut", "cut"), ("deferred", "deferred"),
                                                                       ("reinstated", "active"))},
    **{f"session.{status}": _session_status(status) for status in ("active", "paused", "terminated", "archived")},
}


__all__ = ["BATCH", "Builder", "OPEN", "POINT", "REPLAYED", "Source", "convert"]

"""The replay cache's layout: each table a replay shows, kept as the versions of its rows, and seen
through a view of the point.

Every table a replay shows is kept as ``rp_<table>``: the table's own columns plus ``_from`` and
``_to``, the event ids between which that version of the row held (``_from <= point < _to``; ``_to`` is
``OPEN`` while it still holds). The table's own name is a view that picks the versions holding at the
point, which it reads from the SQL function ``rp_point()`` that each replay gives its own connection
(so that replays of one database never share a point, and a seek writes nothing), so the store's own
reads (store/sqlite/) run unchanged on this file; the events are ``rp_events``, a copy of the log, seen
through the view ``events`` up to the point. What fills the versions: store/replay/build.py.

Finding the versions that hold at a point is an interval stabbing query, which an index on ``_from``
(or ``_to``) answers only by scanning every version that began before (or ended after) the point. So
each version also carries its dyadic block: ``_lvl``, the number of low bits in which ``_from`` and
``_to - 1`` differ, and ``_blk = _from >> _lvl``; a version holds at P only if ``_blk = P >> _lvl``, so
the views look in one block per level (63 index probes) and read little more than the versions that
hold. The indexes lead with the columns the store filters on (a task's status, its agent...).
"""

from __future__ import annotations

from typing import Any

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
KEYS = {
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
        key = ", ".join(KEYS[table])
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


__all__ = ["HOLDS", "KEYS", "MUTABLE", "OPEN", "POINT", "REPLAYED", "block", "columns", "convert"]

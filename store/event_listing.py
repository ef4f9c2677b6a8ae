"""The listing of the change feed (``Store.events``), written once for both backends: recent events,
newest first, by entity (and its id), else by actor, else by kind, each served by an index.

What differs between the backends is passed in: their SQL (store/sql_dialect.py), the columns they read
as an ``Event`` row, and the column that orders their feed (SQLite's ``id``; PostgreSQL's ``seq``, which
lists sealed events only: store/postgres/base.py).
"""

from __future__ import annotations

from typing import Any

from . import identity
from .sql_dialect import Sql


def events_query(
    sql: Sql,
    *,
    columns: str = "*",
    position: str = "id",
    listed: str | None = None,
    entity: str | None = None,
    entity_id: Any = None,
    actor: str | None = None,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> tuple[str, tuple[Any, ...]]:
    """The statement of ``Store.events`` in ``sql``'s SQL, and its parameters. ``position`` orders the
    feed (``before_id`` is a position); ``listed``, if given, is what every listed event meets."""
    clauses, params = ([listed] if listed else []), []
    if entity is not None:
        clauses.append("entity = ?")
        params.append(entity)
        if entity_id is not None:
            if entity in ("agent", "reviewer"):  # named by identity: its canonical form
                entity_id = identity.key(entity_id) or entity_id
            clauses.append("entity_id = ?")
            params.append(str(entity_id))
    elif actor is not None:
        clauses.append("actor = ?")
        params.append(identity.key(actor) or actor)
    elif kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if before_id is not None:
        clauses.append(f"{position} < ?")
        params.append(before_id)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return sql.q(f"SELECT {columns} FROM events{where} ORDER BY {position} DESC LIMIT ?"), (*params, limit)

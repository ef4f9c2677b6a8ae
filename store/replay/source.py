"""The swarm database a replay cache is built from, read through one connection: SQLite or PostgreSQL,
its values as SQLite stores them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from ..rows import dumps


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


def plain(value: Any) -> Any:
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


__all__ = ["Source", "plain"]

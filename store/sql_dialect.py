"""How the SQL that memory and search share (store/memory.py, store/search_index.py) differs between the
backends: the little that is not the same statement on both.

The shared code writes SQLite's SQL: ``?`` placeholders, and statements both databases take as they are
(``INSERT ... ON CONFLICT ... DO UPDATE`` with table-qualified columns, ``DELETE ... RETURNING``,
``WHERE TRUE AND ...``). A backend's ``Sql`` turns that into its own: ``q`` the statement (PostgreSQL's
``%s``), ``tx`` a write transaction that does the same to what it runs, ``insert`` an insert's new id
(SQLite's ``lastrowid``, PostgreSQL's ``RETURNING id``) and ``ids`` a column among a list of ids
(SQLite's ``json_each``, PostgreSQL's ``= ANY``). ``Sql`` itself is SQLite's: everything as written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any


class Sql:
    """SQLite's SQL, as the shared code writes it."""

    @staticmethod
    def q(sql: str) -> str:
        return sql

    @staticmethod
    def tx(tx: Any) -> Any:
        return tx

    @staticmethod
    def insert(tx: Any, sql: str, params: Iterable[Any]) -> int:
        """Run an INSERT of one row (a table with an ``id``); the new row's id."""
        return tx.run(sql, params)

    @staticmethod
    def ids(column: str, ids: Sequence[int]) -> tuple[str, Any]:
        """``column`` is one of ``ids``: the condition and its one parameter."""
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(ids))


SQLITE = Sql()

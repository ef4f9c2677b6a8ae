"""How the SQL that the backends share (store/memory.py, store/search_index.py, store/gate_area.py,
store/agent_area.py, store/task_area.py, store/unit_base.py) differs between them: the little that is not
the same statement on both.

The shared code writes SQLite's SQL: ``?`` placeholders, and statements both databases take as they are
(``INSERT ... ON CONFLICT ... DO UPDATE`` with table-qualified columns, ``DELETE ... RETURNING``,
``WHERE TRUE AND ...``). A backend's ``Sql`` turns that into its own: ``q`` the statement (PostgreSQL's
``%s``), ``tx`` a write transaction that does the same to what it runs, ``insert`` an insert's new id
(SQLite's ``lastrowid``, PostgreSQL's ``RETURNING id``) and ``ids`` a column among a list of ids
(SQLite's ``json_each``, PostgreSQL's ``= ANY``); ``unindexed`` and ``indexed_by`` are SQLite's planner hints,
which PostgreSQL goes without; ``greatest`` is SQLite's many-argument ``max``. ``Sql`` itself is SQLite's:
everything as written.
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
    def ids(column: str, ids: Sequence[int | str]) -> tuple[str, Any]:
        """``column`` is one of ``ids`` (ids or names): the condition and its one parameter."""
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(ids))

    @staticmethod
    def binary(column: str) -> str:
        """``column`` ordered by code point (SQLite's BINARY collation, its default for text)."""
        return column

    @staticmethod
    def unindexed(column: str) -> str:
        """``column`` in a condition the planner must not use an index for (SQLite's unary ``+``)."""
        return f"+{column}"

    @staticmethod
    def indexed_by(table: str, index: str) -> str:
        """``table`` read through ``index`` (SQLite's ``INDEXED BY``; PostgreSQL's planner takes no hint)."""
        return f"{table} INDEXED BY {index}"

    @staticmethod
    def greatest(*terms: str) -> str:
        """The largest of ``terms`` (SQLite's many-argument ``max``)."""
        return f"max({', '.join(terms)})"


SQLITE = Sql()

#: Decisions with what verifying them needs: the report they name (a row written around swarmdeck may
#: name none, and is still shown). The same statement on both backends.
DECISION_SELECT = (
    "SELECT g.*, r.version AS report_version, r.content_hash AS report_content_hash, "
    "r.milestone_id AS report_milestone FROM gate_decisions g LEFT JOIN validation_reports r ON r.id = g.report_id"
)

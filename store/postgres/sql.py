"""PostgreSQL's SQL for the code both backends share (store/sql_dialect.py): SQLite's statements with
``%s`` for ``?``, a write transaction that takes them, and the few phrases that differ."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..sql_dialect import Sql

if TYPE_CHECKING:
    from .base import Tx


@functools.lru_cache(maxsize=1024)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class PgTx:
    """A write transaction (base.py's ``Tx``) that takes the shared code's ``?`` placeholders."""

    __slots__ = ("tx",)

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    @property
    def now(self) -> float:
        return self.tx.now

    @property
    def raw(self) -> Any:
        return self.tx.raw

    def one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self.tx.one(_pg(sql), params)

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        return self.tx.all(_pg(sql), params)

    def run(self, sql: str, params: Iterable[Any] = ()) -> int:
        return self.tx.run(_pg(sql), params)

    def many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        self.tx.many(_pg(sql), rows)

    def event(self, *args: Any, **kwargs: Any) -> None:
        self.tx.event(*args, **kwargs)


class PgSql(Sql):
    """PostgreSQL's SQL for the shared code (store/sql_dialect.py)."""

    @staticmethod
    def q(sql: str) -> str:
        return _pg(sql)

    @staticmethod
    def tx(tx: Any) -> PgTx:
        return tx if isinstance(tx, PgTx) else PgTx(tx)

    @staticmethod
    def insert(tx: Any, sql: str, params: Iterable[Any]) -> int:
        return tx.one(f"{sql} RETURNING id", params)[0]

    @staticmethod
    def ids(column: str, ids: Sequence[int | str]) -> tuple[str, Any]:
        return f"{column} = ANY(?)", list(ids)

    @staticmethod
    def binary(column: str) -> str:
        return f'{column} COLLATE "C"'

    @staticmethod
    def unindexed(column: str) -> str:
        return column

    @staticmethod
    def indexed_by(table: str, index: str) -> str:
        return table

    @staticmethod
    def greatest(*terms: str) -> str:
        return f"greatest({', '.join(terms)})"


PG_SQL = PgSql()

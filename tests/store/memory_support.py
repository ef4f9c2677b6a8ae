"""What the memory, search, indexer and memory query-plan tests share: reading the store's own
tables (SQLite's placeholders on either backend), titles of a search, the search modes, filler words and the seed's failure record."""

from __future__ import annotations

from collections.abc import Sequence

MODES = ("keyword", "semantic", "hybrid")

_WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
          "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()

SEED_FAILURE = {"feature": "realtime chat", "approach": "Bidirectional WebSocket streaming",
                "why_failed": "connections dropped under load", "lesson": "use Redis pub/sub for fan-out"}


def on_postgres(store) -> bool:
    return type(store).__module__.startswith("swarmdeck.store.postgres")


async def read(store, sql: str, params: Sequence = ()) -> list:
    """Rows of one read through the store, in SQLite's ``?`` placeholders on either backend."""
    if on_postgres(store):
        sql = sql.replace("?", "%s")
    return await store._all(sql, params)


async def scalar(store, sql: str, params: Sequence = ()):
    return (await read(store, sql, params))[0][0]


async def item_id(store, kind: str, ref_id: int) -> int | None:
    rows = await read(store, "SELECT id FROM search_items WHERE kind = ? AND ref_id = ?", (kind, ref_id))
    return rows[0][0] if rows else None


async def titles(store, query: str, **kw) -> list[str]:
    return [h.title for h in await store.search(query, **kw)]

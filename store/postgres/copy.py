"""Copying a whole SQLite swarm database into a PostgreSQL one, table by table, and checking the copy.

``copy_database(source, target)`` works at the level of tables (no store objects): it opens the SQLite
file read-only in one read transaction (a snapshot, even of a live swarm), refuses a source that is not
a swarmdeck database at this code's schema version, verifies its event chain (a broken one is refused
unless ``force``, naming the event, before the target is touched), migrates the target (migrate.py),
refuses a target that already holds swarmdeck data unless ``force``, then copies every table the two
schemas share in foreign-key order, in batches of ``batch`` rows, keeping ids, and finally resets the
identity sequences, seals the event log on PostgreSQL (sealing.py) and validates. One copy at a time
per target (the advisory lock ``COPY_LOCK``).

What is copied. A table's columns are those both schemas have (``schema.DIFFERENCES``): the full-text
table and the sqlite-vec tables are SQLite's own (PostgreSQL's tsvector is a generated column, and a
model's pgvector table is filled from ``embeddings`` when the server has pgvector), ``task_counts`` is
a view there, ``schema_migrations`` is the target's own record. Events are inserted without ``hash``
(PostgreSQL refuses an event inserted sealed) in id order, then sealed: the chain is re-made with
positions 1, 2, 3 ... in id order, so when SQLite's ids are dense from 1 (they are unless events were
removed) the PostgreSQL hashes are SQLite's, and the report says whether the two heads agree.

Resuming. Each batch is one transaction on the target that also records, in the table ``PROGRESS``,
how many rows of that table are copied and the primary key of the last one. A copy interrupted at any
point continues from there when run again (the rows after that key, so nothing is copied twice); the
table is dropped when the copy has finished. Rows changed in the source after they were copied are not
copied again: the validation names them.

Validation (``validate``): for each table, the rows on both sides in primary-key order (byte order for
text, on both sides), each row in a canonical form (JSON re-encoded with sorted keys, integral numbers
inside JSON as integers, floats by their shortest repr, blobs in hex), counted and hashed (SHA-256);
the first key where the two sides differ is named.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import audit
from . import schema
from .migrate import migrate
from .sealing import audit_head as pg_audit_head
from .sealing import seal_events

#: The table on the target that records a copy in progress (dropped at the end).
PROGRESS = "swarmdeck_copy_progress"
#: Rows per batch (one transaction on the target each).
BATCH = 1_000
#: The advisory lock a copy holds on the target for as long as it runs (schema.py's key scheme: "SWKD"
#: then a purpose), so that two copies into one database do not interleave.
COPY_LOCK = 0x53574B44_00000004
#: The row of ``PROGRESS`` that names the source (its first event's hash): a copy in progress is only
#: continued from the swarm it began with. Not a table name (table names have no spaces).
SOURCE_ROW = " source"

#: Relations never copied: the target's own migration record, and SQLite's derived tables.
_SKIP = {"schema_migrations", "task_counts", "search_fts", PROGRESS}
#: Columns of SQLite's that PostgreSQL gives itself (the seal sets an event's hash).
_SKIP_COLUMNS = {"events": {"hash"}}
#: Tables the target's migrations already hold a row of: that row is replaced by the source's.
_UPSERT = {"swarm_state"}

Progress = Callable[[str, int, int], None]


class CopyRefused(Exception):
    """The copy was refused before any row was copied (a target with data, a broken chain)."""


class CopyFailed(Exception):
    """A batch could not be written (a value PostgreSQL refuses): the batches before it are kept, and
    the copy continues from there once the source is fixed."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]  # copied and compared, in this order
    types: tuple[str, ...]  # PostgreSQL data types of ``columns``
    key: tuple[str, ...]  # primary key columns (a prefix of nothing: any of ``columns``)
    identity: str | None  # PostgreSQL identity column, whose sequence is reset after the copy

    @property
    def key_index(self) -> tuple[int, ...]:
        return tuple(self.columns.index(k) for k in self.key)


@dataclass
class TableCheck:
    """One table's validation: counts and checksums on both sides, and the first difference."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    first_difference: Any = None  # the primary key (a value, or a list for a composite key)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return (self.source_rows == self.target_rows and self.source_checksum == self.target_checksum
                and not self.detail)

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "ok": self.ok, "source_rows": self.source_rows,
                "target_rows": self.target_rows, "source_checksum": self.source_checksum,
                "target_checksum": self.target_checksum, "first_difference": self.first_difference,
                "detail": self.detail}


@dataclass
class CopyReport:
    """What a copy did and what its validation found."""

    tables: list[TableCheck] = field(default_factory=list)
    copied: dict[str, int] = field(default_factory=dict)  # rows this run inserted (or replaced), per table
    resumed: bool = False
    chain: audit.AuditResult | None = None  # the SQLite chain's verification
    sealed: int = 0
    source_head: str = ""
    target_head: str = ""

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def differences(self) -> list[TableCheck]:
        return [t for t in self.tables if not t.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "resumed": self.resumed, "copied": self.copied, "sealed": self.sealed,
                "source_chain": None if self.chain is None else self.chain.message,
                "source_head": self.source_head, "target_head": self.target_head,
                "heads_match": self.source_head == self.target_head,
                "tables": [t.to_dict() for t in self.tables]}

    def lines(self) -> list[str]:
        """The report for a person: one line per table, then the chain, then the verdict."""
        width = max((len(t.table) for t in self.tables), default=5)
        out = [f"{'table':<{width}}  {'sqlite':>9}  {'postgres':>9}  checksum"]
        for t in self.tables:
            mark = (t.source_checksum[:12] if t.ok
                    else f"DIFFERS at {t.first_difference!r} {t.detail}".rstrip())
            out.append(f"{t.table:<{width}}  {t.source_rows:>9}  {t.target_rows:>9}  {mark}")
        if self.chain is not None:
            out.append(f"sqlite event log intact: {self.chain.checked} events verified" if self.chain.ok
                       else f"sqlite event log: {self.chain.message}")
        same = "the same chain as sqlite's" if self.source_head == self.target_head else "a new chain"
        out.append(f"postgresql event log sealed ({same}), head:")
        out.append(f"  {self.target_head}")
        bad = self.differences
        out.append("every table matches" if not bad else
                   f"{len(bad)} table(s) differ: {', '.join(t.table for t in bad)}")
        return out


# -- reading the two schemas ------------------------------------------------------------------------

def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def open_source(source: str | Path) -> Any:
    """The SQLite file, read-only, inside a read transaction (a snapshot for the whole copy)."""
    import sqlean

    from .. import path_from_url

    path = Path(path_from_url(source)).resolve()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    conn = sqlean.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
    return conn


def _vector_tables(src: Any) -> set[str]:
    try:
        return {r[0] for r in src.execute("SELECT table_name FROM vector_indexes")}
    except Exception:  # noqa: BLE001 - an older schema without vector_indexes
        return set()


def plan(src: Any, dst: Any) -> list[Table]:
    """The tables to copy, parents before children, with the columns both sides have."""
    derived = _vector_tables(src) | {r[0] for r in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")}
    names = [r[0] for r in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    names = [n for n in names if n not in _SKIP and not any(n == v or n.startswith(v + "_") for v in derived)]
    pg_tables = {r[0] for r in dst.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    unplaced = [n for n in names if n not in pg_tables]
    if unplaced:  # the schemas mirror each other: a table with no place is a schema this code lacks
        raise CopyRefused("the source has tables the PostgreSQL schema has no place for: "
                          + ", ".join(unplaced))
    parents: dict[str, set[str]] = {}
    for name in names:
        parents[name] = {r[2] for r in src.execute(f"PRAGMA foreign_key_list({_quote(name)})")} - {name}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] & set(names) <= set(ordered)]
        if not ready:  # a cycle between tables: keep the rest in name order (not in this schema)
            ready = [n for n in names if n not in ordered]
        ordered.extend(ready)
    tables = []
    for name in ordered:
        info = src.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
        pg_cols = {r[0]: (r[1], r[2]) for r in dst.execute(
            "SELECT column_name, data_type, is_identity FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s AND is_generated = 'NEVER'", (name,))}
        skip = _SKIP_COLUMNS.get(name, set())
        columns = tuple(r[1] for r in info if r[1] in pg_cols and r[1] not in skip)
        lost = [r[1] for r in info if r[1] not in pg_cols and r[1] not in skip]
        if lost:
            raise CopyRefused(f"the PostgreSQL schema has no place for these columns of {name}: "
                              + ", ".join(lost))
        key = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        if not key or not set(key) <= set(columns):
            raise RuntimeError(f"table {name} has no primary key both schemas share: cannot copy it in order")
        identity = next((c for c in columns if pg_cols[c][1] == "YES"), None)
        tables.append(Table(name, columns, tuple(pg_cols[c][0] for c in columns), key, identity))
    return tables


# -- canonical rows (the same on both sides) --------------------------------------------------------

def _json_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: _json_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    return value


def _canonical(value: Any, pg_type: str) -> Any:
    if value is None:
        return None
    if pg_type == "jsonb":
        try:
            parsed = json.loads(value) if isinstance(value, (str, bytes)) else value
        except ValueError:
            return ["not json", str(value)]
        return json.dumps(_json_number(parsed), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if pg_type == "bytea":
        data = value.encode() if isinstance(value, str) else bytes(value)
        return "x" + data.hex()
    if pg_type in ("double precision", "real", "numeric"):
        try:
            return repr(float(value))
        except (TypeError, ValueError):
            return ["not a number", str(value)]
    if pg_type in ("bigint", "integer", "smallint"):
        if isinstance(value, int):
            return value
        return ["not an integer", repr(value)]
    if pg_type == "boolean":
        return bool(value)
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    return str(value)


def _row_text(row: Sequence[Any], types: Sequence[str]) -> str:
    return json.dumps([_canonical(v, t) for v, t in zip(row, types)], ensure_ascii=True,
                      separators=(",", ":"))


def _key_of(row: Sequence[Any], table: Table) -> Any:
    key = [row[i] for i in table.key_index]
    return key[0] if len(key) == 1 else key


def _sort_key(key: Any) -> tuple:
    items = key if isinstance(key, list) else [key]
    return tuple((0, k) if isinstance(k, (int, float)) else (1, str(k)) for k in items)


def _source_rows(src: Any, table: Table, chunk: int) -> Iterator[tuple]:
    cols = ", ".join(_quote(c) for c in table.columns)
    order = ", ".join(f"{_quote(k)} COLLATE BINARY" for k in table.key)
    keys = ", ".join(_quote(k) for k in table.key)
    last: tuple | None = None
    while True:
        if last is None:
            rows = src.execute(f"SELECT {cols} FROM {_quote(table.name)} ORDER BY {order} LIMIT ?",
                               (chunk,)).fetchall()
        else:
            marks = ", ".join("?" for _ in last)
            rows = src.execute(f"SELECT {cols} FROM {_quote(table.name)} WHERE ({keys}) > ({marks}) "
                               f"ORDER BY {order} LIMIT ?", (*last, chunk)).fetchall()
        yield from rows
        if len(rows) < chunk:
            return
        last = tuple(rows[-1][i] for i in table.key_index)


def _target_rows(dst: Any, table: Table, chunk: int) -> Iterator[tuple]:
    cols = ", ".join(f"{_quote(c)}::text" if t == "jsonb" else _quote(c)
                     for c, t in zip(table.columns, table.types))
    order = ", ".join(f'{_quote(k)} COLLATE "C"' if t in ("text", "character varying") else _quote(k)
                      for k, t in zip(table.key, (table.types[i] for i in table.key_index)))
    with dst.cursor(name=f"swarmdeck_check_{table.name}") as cur:
        cur.itersize = chunk
        cur.execute(f"SELECT {cols} FROM {_quote(table.name)} ORDER BY {order}")
        yield from cur


def _compare(name: str, left: Iterator[tuple[Any, str, Any]], right: Iterator[tuple[Any, str, Any]],
             explain: Callable[[Any, Any], str]) -> TableCheck:
    """Two streams of ``(key, canonical text, row)`` in key order, counted, hashed and merged: the
    first key where they differ, and ``explain(row, row)`` for a key both have with other content."""
    hashes = (hashlib.sha256(), hashlib.sha256())
    counts = [0, 0]
    first: Any = None
    detail = ""
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if a is not None and b is not None and a[0] == b[0]:
            if a[1] != b[1] and first is None:
                first, detail = a[0], explain(a[2], b[2])
            step = (True, True)
        elif b is None or (a is not None and _sort_key(a[0]) < _sort_key(b[0])):
            if first is None:
                first, detail = a[0], "missing on postgresql"
            step = (True, False)
        else:
            if first is None:
                first, detail = b[0], "only on postgresql"
            step = (False, True)
        if step[0]:
            hashes[0].update(a[1].encode() + b"\n")
            counts[0] += 1
            a = next(left, None)
        if step[1]:
            hashes[1].update(b[1].encode() + b"\n")
            counts[1] += 1
            b = next(right, None)
    return TableCheck(name, counts[0], counts[1], hashes[0].hexdigest(), hashes[1].hexdigest(), first, detail)


def check_table(src: Any, dst: Any, table: Table, *, chunk: int = 5_000) -> TableCheck:
    """Count, hash and compare one table's rows on both sides, in primary-key order."""
    def canonical(rows: Iterator[tuple]) -> Iterator[tuple[Any, str, Any]]:
        return ((_key_of(r, table), _row_text(r, table.types), r) for r in rows)

    return _compare(table.name, canonical(_source_rows(src, table, chunk)),
                    canonical(_target_rows(dst, table, chunk)), lambda a, b: _which_columns(a, b, table))


def _which_columns(a: Sequence[Any], b: Sequence[Any], table: Table) -> str:
    cols = [c for c, x, y, t in zip(table.columns, a, b, table.types) if _canonical(x, t) != _canonical(y, t)]
    return "differs in " + ", ".join(cols)


def validate(src: Any, dst: Any, tables: Sequence[Table] | None = None) -> list[TableCheck]:
    """Every copied table compared (``dst`` in a transaction: the named cursors need one)."""
    tables = plan(src, dst) if tables is None else tables
    with dst.transaction():
        return [check_table(src, dst, t) for t in tables]


# -- copying --------------------------------------------------------------------------------------

def _has_progress(dst: Any) -> bool:
    return dst.execute("SELECT to_regclass(%s)", (PROGRESS,)).fetchone()[0] is not None


def _holding_data(dst: Any, tables: Sequence[Table]) -> list[str]:
    return [t.name for t in tables if t.name not in _UPSERT
            and dst.execute(f"SELECT EXISTS (SELECT 1 FROM {_quote(t.name)})").fetchone()[0]]


def check_source(src: Any) -> None:
    """The source must be a swarmdeck database at this code's schema version: the two schemas mirror
    each other version for version, and only then does every SQLite column have its place."""
    from ..sqlite import schema as sqlite_schema

    if src.execute("PRAGMA application_id").fetchone()[0] != sqlite_schema.APPLICATION_ID:
        raise CopyRefused("the source is not a swarmdeck database (its application_id is not swarmdeck's)")
    version = src.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    if version != sqlite_schema.SCHEMA_VERSION:
        newer = version > sqlite_schema.SCHEMA_VERSION
        raise CopyRefused(
            f"the source is at schema {version}, this swarmdeck copies schema "
            f"{sqlite_schema.SCHEMA_VERSION}: "
            + ("upgrade swarmdeck first" if newer else
               "open it once with this swarmdeck (swarmdeck --db PATH init) to migrate it, then copy"))


def _source_identity(src: Any) -> str:
    """What tells one swarm from another: the first event's hash (every swarm's log starts differently)."""
    row = src.execute("SELECT hash FROM events ORDER BY id LIMIT 1").fetchone()
    return "" if row is None else str(row[0])


def verify_source_chain(src: Any, chunk: int = 10_000) -> audit.AuditResult:
    """The SQLite event log's hash chain walked from the first event (store/audit.py)."""
    check = audit.ChainCheck()
    last = 0
    while True:
        rows = src.execute(f"SELECT {audit.COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
                           (last, chunk)).fetchall()
        if not rows or not check.feed(rows) or len(rows) < chunk:
            return check.result()
        last = rows[-1][0]


def _insert_sql(table: Table) -> str:
    cols = ", ".join(_quote(c) for c in table.columns)
    values = ", ".join(f"%s::{t}" for t in table.types)
    sql = f"INSERT INTO {_quote(table.name)} ({cols}) VALUES ({values}) ON CONFLICT "
    if table.name in _UPSERT:
        rest = [c for c in table.columns if c not in table.key]
        keys = ", ".join(_quote(k) for k in table.key)
        sets = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in rest)
        return sql + f"({keys}) DO UPDATE SET {sets}"
    return sql + "DO NOTHING"


def _convert(row: Sequence[Any], types: Sequence[str]) -> list[Any]:
    out = []
    for value, pg_type in zip(row, types):
        if pg_type == "bytea" and isinstance(value, str):
            value = value.encode()
        elif pg_type != "bytea" and isinstance(value, (bytes, memoryview)):
            value = bytes(value).decode("utf-8", "replace")  # the validation names the row
        out.append(value)
    return out


def _copy_table(src: Any, dst: Any, table: Table, *, batch: int, progress: Progress | None) -> int:
    import psycopg

    done_row = dst.execute(f"SELECT rows_done, last_key, done FROM {PROGRESS} WHERE table_name = %s",
                           (table.name,)).fetchone()
    total = src.execute(f"SELECT count(*) FROM {_quote(table.name)}").fetchone()[0]
    done, last, finished = (0, None, False) if done_row is None else (done_row[0], done_row[1], done_row[2])
    if progress is not None:
        progress(table.name, min(done, total), total)
    if finished:
        return 0
    cols = ", ".join(_quote(c) for c in table.columns)
    order = ", ".join(_quote(k) for k in table.key)
    keys = ", ".join(_quote(k) for k in table.key)
    insert = _insert_sql(table)
    written = 0
    while True:
        if last is None:
            rows = src.execute(f"SELECT {cols} FROM {_quote(table.name)} ORDER BY {order} LIMIT ?",
                               (batch,)).fetchall()
        else:
            marks = ", ".join("?" for _ in last)
            rows = src.execute(f"SELECT {cols} FROM {_quote(table.name)} WHERE ({keys}) > ({marks}) "
                               f"ORDER BY {order} LIMIT ?", (*last, batch)).fetchall()
        if rows:
            last = [rows[-1][i] for i in table.key_index]
            try:
                with dst.transaction():
                    with dst.cursor() as cur:
                        cur.executemany(insert, [_convert(r, table.types) for r in rows])
                        inserted = max(cur.rowcount, 0)
                    dst.execute(
                        f"INSERT INTO {PROGRESS} (table_name, rows_done, last_key, done) "
                        "VALUES (%s, %s, %s::jsonb, false) ON CONFLICT (table_name) DO UPDATE "
                        "SET rows_done = excluded.rows_done, last_key = excluded.last_key",
                        (table.name, done + len(rows), json.dumps(last)))
            except psycopg.Error as exc:
                raise CopyFailed(f"copying {table.name} failed at {_culprit(rows, table)}: {exc}") from exc
            done += len(rows)
            written += inserted
            if progress is not None:
                progress(table.name, min(done, max(total, done)), max(total, done))
        if len(rows) < batch:
            break
    with dst.transaction():
        dst.execute(f"UPDATE {PROGRESS} SET done = true WHERE table_name = %s", (table.name,))
        dst.execute(f"INSERT INTO {PROGRESS} (table_name, rows_done, last_key, done) "
                    "VALUES (%s, %s, NULL, true) "
                    "ON CONFLICT (table_name) DO NOTHING", (table.name, done))
    return written


def _sqlite_sequences(src: Any) -> dict[str, int]:
    """AUTOINCREMENT's high-water marks: an id once given (then deleted) is not given again."""
    if src.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone() is None:
        return {}
    return {name: int(seq) for name, seq in src.execute("SELECT name, seq FROM sqlite_sequence")}


def _culprit(rows: Sequence[Sequence[Any]], table: Table) -> str:
    """The row of a refused batch to name: the first with a NUL character in its text (PostgreSQL's
    text cannot hold one) or JSON that jsonb refuses, else the batch's key range."""
    for row in rows:
        for column, value, pg_type in zip(table.columns, row, table.types):
            if pg_type != "bytea" and isinstance(value, str) and "\x00" in value:
                return f"key {_key_of(row, table)!r} (its {column} holds a NUL character)"
            if pg_type == "jsonb" and isinstance(value, str):
                try:
                    json.loads(value)
                except ValueError:
                    return f"key {_key_of(row, table)!r} (its {column} is not JSON)"
                if "\\u0000" in value:
                    return f"key {_key_of(row, table)!r} (its {column} holds a \\u0000, which jsonb refuses)"
    return f"the batch of keys {_key_of(rows[0], table)!r} to {_key_of(rows[-1], table)!r}"


def _reset_identity(dst: Any, table: Table, floor: int | None) -> None:
    if table.identity is None:
        return
    top = dst.execute(f"SELECT max({_quote(table.identity)}) FROM {_quote(table.name)}").fetchone()[0]
    if floor is not None and (top is None or floor > top):
        top = floor
    dst.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)",
                (table.name, table.identity, 1 if top is None else top, top is not None))


def _vector_text(blob: bytes, dim: int) -> str | None:
    if len(blob) != 4 * dim:
        return None
    return "[" + ",".join(repr(f) for f in struct.unpack(f"<{dim}f", blob)) + "]"


def _models(dst: Any) -> list[tuple[str, int, str]]:
    return dst.execute("SELECT model, dim, table_name FROM vector_indexes ORDER BY model").fetchall()


def _fill_vectors(dst: Any, *, batch: int) -> None:
    """Each model's pgvector table, made and filled from ``embeddings`` (float32 vectors, as SQLite
    keeps them), when the server has pgvector. Rows already there are kept (a resumed copy)."""
    if not schema.has_pgvector(dst):
        return
    for model, dim, table in _models(dst):
        with dst.transaction():
            if dst.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                dst.execute(schema.vector_table_sql(table, dim).encode())
        last = -1
        while True:
            rows = dst.execute("SELECT item_id, vector FROM embeddings WHERE model = %s AND item_id > %s "
                               "ORDER BY item_id LIMIT %s", (model, last, batch)).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            values = [(item_id, text) for item_id, blob in rows
                      if (text := _vector_text(bytes(blob), dim)) is not None]
            with dst.transaction(), dst.cursor() as cur:
                cur.executemany(f"INSERT INTO {_quote(table)} (item_id, embedding) VALUES (%s, %s::vector) "
                                "ON CONFLICT (item_id) DO NOTHING", values)


def check_vectors(src: Any, dst: Any, *, chunk: int = 1_000) -> list[TableCheck]:
    """Each model's pgvector table against SQLite's vectors of that model (as float32 bytes on both
    sides), when the target has pgvector: one check per model, named by its table. ``dst`` outside a
    transaction (the reads are in one of their own)."""
    if not schema.has_pgvector(dst):
        return []
    checks = []
    for model, dim, table in _models(dst):
        def left() -> Iterator[tuple[Any, str, Any]]:
            last = -1
            while True:
                rows = src.execute("SELECT item_id, vector FROM embeddings WHERE model = ? AND item_id > ? "
                                   "AND length(vector) = ? ORDER BY item_id LIMIT ?",
                                   (model, last, 4 * dim, chunk)).fetchall()
                yield from ((i, bytes(v).hex(), None) for i, v in rows)
                if len(rows) < chunk:
                    return
                last = rows[-1][0]

        def right() -> Iterator[tuple[Any, str, Any]]:
            if dst.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                return
            with dst.cursor(name=f"swarmdeck_check_{table}") as cur:
                cur.itersize = chunk
                cur.execute(f"SELECT item_id, embedding::text FROM {_quote(table)} ORDER BY item_id")
                for item_id, text in cur:
                    floats = [float(x) for x in text.strip("[]").split(",")] if text != "[]" else []
                    yield item_id, struct.pack(f"<{len(floats)}f", *floats).hex(), None

        with dst.transaction():
            checks.append(_compare(table, left(), right(), lambda a, b: "differs in embedding"))
    return checks


def copy_database(source: str | Path, target: str | Any, *, force: bool = False, batch: int = BATCH,
                  progress: Progress | None = None, stage: Callable[[str], None] | None = None) -> CopyReport:
    """Copy the SQLite database ``source`` (a path or ``sqlite:///`` URL) into the PostgreSQL database
    ``target`` (a ``postgresql://`` URL, or a psycopg connection in autocommit mode) and validate it.

    Refused (``CopyRefused``, no row copied): a source that is not a swarmdeck database at this
    version's schema; a target holding swarmdeck data that is not a copy in progress, or a copy in
    progress from another swarm, or a SQLite chain that does not verify (checked before the target is
    touched), unless ``force`` (then the rows already there are kept, those with the same keys are not
    copied, and the validation names what differs).
    ``progress(table, rows_done, rows_total)`` is called when a table begins and after every batch;
    ``stage(what)`` when the copy moves on to a step that has no rows to count (sealing, validating)."""
    import psycopg

    if batch < 1:
        raise ValueError("batch must be at least 1")
    own = isinstance(target, str)
    dst = psycopg.connect(target, autocommit=True) if own else target
    src = open_source(source)
    try:
        if not dst.autocommit:
            raise ValueError("the target connection must be in autocommit mode")
        check_source(src)
        chain = verify_source_chain(src)
        if not chain.ok and not force:
            raise CopyRefused(f"the source's event log does not verify: {chain.message}; "
                              "repair it or force the copy (PostgreSQL will seal a new chain)")
        if not dst.execute("SELECT pg_try_advisory_lock(%s)", (COPY_LOCK,)).fetchone()[0]:
            raise CopyRefused("another copy into this database is running")
        migrate(dst)
        tables = plan(src, dst)
        report = CopyReport(resumed=_has_progress(dst), chain=chain)
        identity = _source_identity(src)
        if report.resumed:
            began = dst.execute(f"SELECT last_key FROM {PROGRESS} WHERE table_name = %s",
                                (SOURCE_ROW,)).fetchone()
            if began is not None and began[0] != identity and not force:
                raise CopyRefused("the copy in progress in the target began from another swarm: "
                                  "resume it from that one, or force it")
        else:
            holding = _holding_data(dst, tables)
            if holding and not force:
                raise CopyRefused(
                    f"the target already holds swarmdeck data ({', '.join(holding[:6])}"
                    f"{', ...' if len(holding) > 6 else ''}): copy into an empty database, or force it")
        with dst.transaction():
            dst.execute(f"CREATE TABLE IF NOT EXISTS {PROGRESS} (table_name text PRIMARY KEY, "
                        "rows_done bigint NOT NULL, last_key jsonb, done boolean NOT NULL)")
            dst.execute(f"INSERT INTO {PROGRESS} VALUES (%s, 0, %s::jsonb, true) ON CONFLICT DO NOTHING",
                        (SOURCE_ROW, json.dumps(identity)))
        for table in tables:
            report.copied[table.name] = _copy_table(src, dst, table, batch=batch, progress=progress)
        sequences = _sqlite_sequences(src)
        with dst.transaction():
            for table in tables:
                _reset_identity(dst, table, sequences.get(table.name))
        say = stage or (lambda what: None)
        say("filling the vector tables and sealing the event log")
        _fill_vectors(dst, batch=batch)
        report.sealed = seal_events(dst, wait=True)
        head = src.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        report.source_head = (audit.AuditHead(0, audit.GENESIS) if head is None
                              else audit.AuditHead(head[0], head[1] or "")).text
        report.target_head = pg_audit_head(dst).text
        say("validating: counting and hashing every table on both sides")
        report.tables = validate(src, dst, tables) + check_vectors(src, dst)
        with dst.transaction():
            dst.execute(f"DROP TABLE IF EXISTS {PROGRESS}")
        return report
    finally:
        src.close()
        if own:
            dst.close()
        elif not dst.closed:
            dst.execute("SELECT pg_advisory_unlock(%s)", (COPY_LOCK,))

"""Applying the PostgreSQL schema's migrations (store/postgres/schema.py), with psycopg (synchronous).

Every missing migration is applied in one transaction, under the advisory lock ``MIGRATE_LOCK`` so
that two processes opening a new database at once migrate it once: the second waits, then finds it
current. Each step is recorded in ``schema_migrations`` (version, name, time) as SQLite records it.
A database recorded at a newer version than this code knows is refused (``SchemaTooNew``), one that
has tables but is not swarmdeck's is refused (``NotASwarmdeckDatabase``), and a seat that may not
migrate is refused an older one (``SchemaOutdated``): the errors of the SQLite store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import NotASwarmdeckDatabase, SchemaOutdated, SchemaTooNew
from . import schema


def _where(conn: Any) -> str:
    """The database, as a person reads it in a message (no password: psycopg's info has none)."""
    info = conn.info
    return f"postgresql database {info.dbname!r}"


def recorded_version(conn: Any) -> int:
    """The newest migration recorded (0 for an empty database); refuses a database that has tables
    but is not swarmdeck's."""
    marked = conn.execute(
        "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c "
        "WHERE c.oid = to_regclass('schema_migrations')"
    ).fetchone()
    if marked is None:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename LIMIT 5")]
        if tables:
            raise NotASwarmdeckDatabase(
                f"{_where(conn)} has tables but is not a swarmdeck database ({', '.join(tables)}); "
                "point --db at a swarmdeck database or an empty one")
        return 0
    if marked[0] != schema.MARK:
        raise NotASwarmdeckDatabase(
            f"{_where(conn)} has a schema_migrations table that is not swarmdeck's; "
            "point --db at a swarmdeck database or an empty one")
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])


def _refuse_newer(conn: Any, version: int) -> None:
    if version > schema.SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{_where(conn)} was written by a newer swarmdeck (schema {version}; this version "
            f"knows up to {schema.SCHEMA_VERSION}); upgrade swarmdeck to open it",
            version=version, known=schema.SCHEMA_VERSION)


def check_current(conn: Any) -> int:
    """For a seat that may not migrate: the database's version, which must be this code's."""
    with conn.transaction():
        version = recorded_version(conn)
    _refuse_newer(conn, version)
    if version < schema.SCHEMA_VERSION:
        raise SchemaOutdated(path=_where(conn), version=version, needed=schema.SCHEMA_VERSION)
    return version


def migrate(conn: Any, clock: Callable[[], float] = time.time) -> list[int]:
    """Bring the database to ``SCHEMA_VERSION`` in one transaction; the versions applied (none when it
    was current already). ``conn``: a psycopg connection outside any transaction."""
    if conn.info.transaction_status != 0:  # psycopg.pq.TransactionStatus.IDLE
        raise RuntimeError("migrate() needs a connection outside any transaction")
    with conn.transaction():
        version = recorded_version(conn)  # without the lock: a current database costs no lock
    _refuse_newer(conn, version)
    if version == schema.SCHEMA_VERSION:
        return []
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (schema.MIGRATE_LOCK,))
        version = recorded_version(conn)  # another process may have migrated while we waited
        _refuse_newer(conn, version)
        for number, (name, migration) in enumerate(schema.MIGRATIONS, start=1):
            if number <= version:
                continue
            for step in schema.steps(migration):
                if isinstance(step, str):
                    conn.execute(step.encode())  # a script: bytes keep psycopg from reading %-placeholders
                else:
                    step(conn)
            conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                         (number, name, clock()))
            applied.append(number)
    return applied

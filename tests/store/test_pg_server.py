"""The PostgreSQL test harness itself (tests/pg_support.py): each test gets an empty database of its
own, on a server new enough for the backend, with pgvector when the server is the test wheel's."""

from __future__ import annotations

import os

import psycopg

from pg_support import TEMPLATE_DB, URL_ENV, with_database


def _user_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")]


def test_a_test_database_is_empty_and_its_own(pg_url, pg_database):
    assert _user_tables(pg_database) == []
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (x int)")
        name = conn.execute("SELECT current_database()").fetchone()[0]
    assert name != "postgres" and name in pg_database
    # Nothing a test writes reaches the server's own database or the template the next test copies.
    assert "mine" not in _user_tables(pg_url)
    assert _user_tables(with_database(pg_url, TEMPLATE_DB)) == []


def test_the_server_is_new_enough_and_has_pgvector(pg_database):
    with psycopg.connect(pg_database, autocommit=True) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 160000
        if not os.environ.get(URL_ENV):  # the wheel's server: PostgreSQL 18 with pgvector
            assert int(version) >= 180000
            conn.execute("CREATE EXTENSION vector")
            assert conn.execute("SELECT '[1,2]'::vector <-> '[1,3]'::vector").fetchone()[0] == 1.0

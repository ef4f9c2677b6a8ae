"""The PostgreSQL schema (store/postgres/schema.py) and its migrations: it applies on an empty database
once, refuses what it should, enforces SQLite's rules, mirrors SQLite's tables (any SQLite migration
not mirrored fails here), and its event log is sealed after commit into a chain store/audit.py verifies.
"""

from __future__ import annotations

import os
import threading

import psycopg
import pytest
import sqlean

from store import audit
from store.errors import NotASwarmdeckDatabase, SchemaOutdated, SchemaTooNew
from store.postgres import schema as pg_schema
from store.postgres.migrate import check_current, migrate
from store.postgres.sealing import audit_head, seal_events, verify_events
from store.sqlite import schema as sqlite_schema
from store.sqlite.base import _identity_or_same, split_script

NOW = 1_700_000_000.0


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


@pytest.fixture
def pg(pg_database):
    """A migrated database's connection (autocommit: each statement its own transaction)."""
    with _connect(pg_database) as conn:
        migrate(conn, clock=lambda: NOW)
        yield conn


def _sqlite_schema() -> sqlean.Connection:
    """SQLite's schema as its store makes it: every migration, in order, on a new in-memory database."""
    conn = sqlean.connect(":memory:", isolation_level=None)
    conn.create_function("swarmdeck_identity", 1, _identity_or_same, deterministic=True)
    for _, migration in sqlite_schema.MIGRATIONS:
        for step in sqlite_schema.steps(migration):
            if isinstance(step, str):
                for statement in split_script(step):
                    conn.execute(statement)
            else:
                step(conn)
    return conn


# -- applying -----------------------------------------------------------------------------------

def test_the_schema_applies_on_an_empty_database_and_again_as_a_no_op(pg_database):
    with _connect(pg_database) as conn:
        assert migrate(conn, clock=lambda: NOW) == list(range(1, pg_schema.SCHEMA_VERSION + 1))
        recorded = conn.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()
        # Recorded as SQLite records its migrations: the same numbers and names, at the version SQLite is at.
        assert pg_schema.SCHEMA_VERSION == sqlite_schema.SCHEMA_VERSION
        assert [(v, n) for v, n, _ in recorded] == [
            (i, name) for i, (name, _) in enumerate(sqlite_schema.MIGRATIONS, start=1)]
        assert {t for _, _, t in recorded} == {NOW}
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]

        assert migrate(conn, clock=lambda: NOW + 1) == []
        assert check_current(conn) == pg_schema.SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == pg_schema.SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == tables
        assert conn.execute("SELECT paused FROM swarm_state").fetchall() == [(0,)]


def test_two_processes_migrating_at_once_migrate_once(pg_database):
    results: list[object] = []
    start = threading.Barrier(2)

    def run() -> None:
        with _connect(pg_database) as conn:
            start.wait(timeout=10)
            try:
                results.append(migrate(conn))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results, key=len) == [[], list(range(1, pg_schema.SCHEMA_VERSION + 1))]


def test_a_failed_migration_leaves_nothing_behind(pg_database, monkeypatch):
    broken = list(pg_schema.MIGRATIONS)
    broken[-1] = ("broken", "CREATE TABLE half_done (x int); SELECT no_such_function();")
    monkeypatch.setattr(pg_schema, "MIGRATIONS", broken)
    with _connect(pg_database) as conn:
        with pytest.raises(psycopg.errors.UndefinedFunction):
            migrate(conn)
        assert conn.execute("SELECT to_regclass('schema_migrations'), to_regclass('tasks')").fetchone() == (None, None)


def test_a_role_that_is_not_a_superuser_migrates_its_own_database(pg_database):
    """What a site gives swarmdeck: a database it owns, no superuser. Everything applies; pgvector (not
    a trusted extension) is left out unless an administrator created it, and vector search falls back."""
    role = f"swarmdeck_owner_{os.getpid()}"
    with _connect(pg_database) as admin:
        if not admin.execute("SELECT rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
            pytest.skip("the test server's role may not create roles")
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.execute(f"CREATE ROLE {role} LOGIN")
        name = admin.execute("SELECT current_database()").fetchone()[0]
        admin.execute(f"ALTER DATABASE {name} OWNER TO {role}")
        try:
            try:
                owner = psycopg.connect(pg_database, user=role, password="", autocommit=True)
            except psycopg.OperationalError as exc:  # a server given by URL may want passwords
                pytest.skip(f"cannot log in as a new role on this server: {exc}")
            with owner:
                assert owner.execute("SELECT current_user").fetchone()[0] == role
                assert migrate(owner) == list(range(1, pg_schema.SCHEMA_VERSION + 1))
                trusted = owner.execute("SELECT coalesce(bool_or(trusted), false) FROM "
                                        "pg_available_extension_versions WHERE name = 'vector'").fetchone()[0]
                assert pg_schema.has_pgvector(owner) == trusted  # the wheel's pgvector is not trusted
                assert check_current(owner) == pg_schema.SCHEMA_VERSION
        finally:
            admin.execute(f"ALTER DATABASE {name} OWNER TO current_user")
            admin.execute(f"REASSIGN OWNED BY {role} TO current_user")
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_a_newer_schema_is_refused(pg):
    pg.execute("INSERT INTO schema_migrations VALUES (%s, 'from the future', %s)", (pg_schema.SCHEMA_VERSION + 1, NOW))
    with pytest.raises(SchemaTooNew, match=f"schema {pg_schema.SCHEMA_VERSION + 1}; this version knows up to"):
        migrate(pg)
    with pytest.raises(SchemaTooNew):
        check_current(pg)


def test_an_older_schema_is_refused_to_a_seat_that_may_not_migrate(pg_database, monkeypatch):
    with _connect(pg_database) as conn:
        monkeypatch.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:3])
        migrate(conn)
        monkeypatch.undo()
        with pytest.raises(SchemaOutdated) as raised:
            check_current(conn)
        assert (raised.value.fields["version"], raised.value.fields["needed"]) == (3, pg_schema.SCHEMA_VERSION)
        assert migrate(conn) == list(range(4, pg_schema.SCHEMA_VERSION + 1))  # the rest, from where it was
        assert check_current(conn) == pg_schema.SCHEMA_VERSION


def test_a_database_that_is_not_swarmdecks_is_refused(pg_database):
    with _connect(pg_database) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
        with pytest.raises(NotASwarmdeckDatabase, match="invoices"):
            migrate(conn)
        conn.execute("CREATE TABLE schema_migrations (version int)")
        with pytest.raises(NotASwarmdeckDatabase, match="not swarmdeck's"):
            migrate(conn)


# -- the same schema as SQLite's -----------------------------------------------------------------

def _differences(kind: str) -> set[str]:
    return set(pg_schema.DIFFERENCES[kind])


def test_tables_and_columns_are_sqlites(pg):
    lite = _sqlite_schema()
    lite_tables = {r[0] for r in lite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE 'search_fts_%'")}
    lite_columns = {f"{t}.{r[1]}" for t in lite_tables for r in lite.execute(f"PRAGMA table_info({t})")}
    pg_relations = {r[0]: r[1] for r in pg.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public'")}
    pg_columns = {f"{t}.{c}" for t, c in pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'")}

    assert lite_tables - set(pg_relations) == _differences("relations only in SQLite")
    assert set(pg_relations) - lite_tables == set()
    assert {t for t, kind in pg_relations.items() if kind == "VIEW"} == _differences("views that are SQLite tables")
    shared = {c for c in lite_columns if c.split(".")[0] in pg_relations}
    assert shared - pg_columns == set()
    assert pg_columns - lite_columns == _differences("columns only in PostgreSQL")


def test_indexes_are_sqlites(pg):
    lite = _sqlite_schema()
    lite_indexes = {r[0] for r in lite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}  # not the automatic ones
    # Those PostgreSQL makes for primary keys and UNIQUE constraints are SQLite's automatic ones.
    pg_indexes = {r[0] for r in pg.execute(
        "SELECT indexname FROM pg_indexes i WHERE schemaname = 'public' AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)")}
    assert lite_indexes - pg_indexes == set()
    assert pg_indexes - lite_indexes == _differences("indexes only in PostgreSQL")
    # ... and over the same columns, in the same order (an expression is None on both sides).
    lite_columns = {name: tuple(r[2] for r in lite.execute(f"PRAGMA index_info('{name}')"))
                    for name in lite_indexes}
    pg_columns = {name: tuple(columns) for name, columns in pg.execute(
        "SELECT c.relname, array_agg(a.attname ORDER BY k.ord) FROM pg_index x "
        "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k (attnum, ord) "
        "LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum "
        "WHERE n.nspname = 'public' GROUP BY c.relname")}
    other = {name for name in lite_indexes if lite_columns[name] != pg_columns[name]}
    assert other == _differences("indexes on other columns"), {
        n: (lite_columns[n], pg_columns[n]) for n in other}


def test_triggers_are_sqlites(pg):
    lite = {r[0] for r in _sqlite_schema().execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    mine = {r[0] for r in pg.execute(
        "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal")}
    assert lite - mine == _differences("triggers only in SQLite")
    assert mine - lite == _differences("triggers only in PostgreSQL")


def test_a_sqlite_migration_not_mirrored_would_fail_the_comparison(pg, monkeypatch):
    """The comparison above is not vacuous: a SQLite migration that PostgreSQL lacks is seen."""
    extra = ("one more", "ALTER TABLE tasks ADD COLUMN colour TEXT;\nCREATE INDEX tasks_colour ON tasks (colour);\n")
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", [*sqlite_schema.MIGRATIONS, extra])
    with pytest.raises(AssertionError, match="tasks.colour"):
        test_tables_and_columns_are_sqlites(pg)
    with pytest.raises(AssertionError, match="tasks_colour"):
        test_indexes_are_sqlites(pg)


# -- the rules the database keeps -----------------------------------------------------------------

def _refused(conn, sql: str, message: str, params: tuple = ()) -> None:
    """``sql`` fails as a constraint failure whose message is ``message``, word for word (SQLite's)."""
    with pytest.raises(psycopg.errors.IntegrityError) as raised:
        conn.execute(sql, params)
    assert raised.value.diag.message_primary == message


def _gate(conn) -> tuple[int, int, int]:
    """A milestone, a report on it and a decision on the report: their ids."""
    m = conn.execute("INSERT INTO milestones (name, position, created_at) VALUES ('M1', 1, %s) RETURNING id",
                     (NOW,)).fetchone()[0]
    r = conn.execute(
        "INSERT INTO validation_reports (milestone_id, version, submitted_by, submitted_at, content_hash) "
        "VALUES (%s, 1, 'agent', %s, 'h') RETURNING id", (m, NOW)).fetchone()[0]
    conn.execute("INSERT INTO report_criteria (report_id, position, name, status) VALUES (%s, 0, 'c', 'met')", (r,))
    d = conn.execute(
        "INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale, reviewer, decided_at) "
        "VALUES (%s, %s, 'h', 'APPROVE', 'fine', 'ana', %s) RETURNING id", (m, r, NOW)).fetchone()[0]
    conn.execute("INSERT INTO gate_resumptions (milestone_id, resumed_by, reason, resumed_at) "
                 "VALUES (%s, 'ana', 'go', %s)", (m, NOW))
    return m, r, d


@pytest.mark.parametrize(("table", "noun"), [
    ("gate_decisions", "gate decisions"), ("gate_resumptions", "gate resumptions"),
    ("validation_reports", "validation reports"), ("report_criteria", "validation reports"),
])
def test_append_only_tables_refuse_update_delete_and_truncate(pg, table, noun):
    _gate(pg)
    column = "position" if table == "report_criteria" else "milestone_id"
    _refused(pg, f"UPDATE {table} SET {column} = {column}", f"{noun} are append-only: they cannot be changed")
    _refused(pg, f"DELETE FROM {table}", f"{noun} are append-only: they cannot be deleted")
    _refused(pg, f"TRUNCATE {table} CASCADE", f"{noun} are append-only: they cannot be deleted")
    assert pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 1


def test_an_upsert_cannot_replace_a_decision(pg):
    """SQLite's REPLACE loophole has no PostgreSQL form: an upsert's update is refused as an update."""
    m, r, d = _gate(pg)
    with pytest.raises(psycopg.errors.IntegrityError, match="gate decisions are append-only: they cannot be changed"):
        pg.execute(
            "INSERT INTO gate_decisions (id, milestone_id, report_id, report_hash, decision, rationale, reviewer, "
            "decided_at) VALUES (%s, %s, %s, 'h', 'REVISE', 'forged', 'eve', %s) "
            "ON CONFLICT (id) DO UPDATE SET decision = excluded.decision", (d, m, r, NOW))
    assert pg.execute("SELECT decision, reviewer FROM gate_decisions").fetchall() == [("APPROVE", "ana")]


def test_the_signature_floors(pg):
    m, _, d = _gate(pg)
    key = bytes(32)
    pg.execute("INSERT INTO reviewers (name, public_key, added_at, added_by) VALUES ('ana', %s, %s, 'ana')", (key, NOW))
    _refused(pg, "UPDATE reviewers SET public_key = %s", "a reviewer's signing key never changes once registered",
             (bytes([1]) * 32,))
    pg.execute("UPDATE reviewers SET public_key = %s", (key,))  # the same key is no change
    _refused(pg, "DELETE FROM reviewers",
             "reviewers are never deleted: remove one with `swarmdeck reviewer remove NAME` (its history stays)")
    with pytest.raises(psycopg.errors.CheckViolation):
        pg.execute("INSERT INTO reviewers (name, public_key, added_at, added_by) VALUES ('bo', %s, %s, 'bo')",
                   (bytes(31), NOW))
    pg.execute("INSERT INTO gate_conditions (milestone_id, decision_id, text, status) VALUES (%s, %s, 'x', 'closed')",
               (m, d))
    _refused(pg, "UPDATE gate_conditions SET status = 'open'", "a closed condition cannot be changed")
    _refused(pg, "UPDATE milestones SET required_approvals = 2",
             "a milestone's place and the approvals its gate needs are fixed when it is added")
    pg.execute("UPDATE milestones SET status = 'open'")  # the rest of a milestone changes


@pytest.mark.parametrize(("sql", "params"), [
    ("INSERT INTO tasks (description, source, status, created_at, updated_at) VALUES ('t', 'human', 'done', %s, %s)",
     (NOW, NOW)),
    ("INSERT INTO tasks (description, source, status, created_at, updated_at) VALUES ('t', 'robot', 'ready', %s, %s)",
     (NOW, NOW)),
    ("INSERT INTO tasks (description, source, status, created_at, updated_at) VALUES ('  ', 'human', 'ready', %s, %s)",
     (NOW, NOW)),
    ("INSERT INTO agents (name, agent_type, status, registered_at) VALUES ('a', 'dev', 'asleep', %s)", (NOW,)),
    ("INSERT INTO milestones (name, position, status, created_at) VALUES ('M', 1, 'done', %s)", (NOW,)),
    ("INSERT INTO sessions (id, status, created_at, updated_at) VALUES ('s', 'lost', %s, %s)", (NOW, NOW)),
    ("INSERT INTO memory_entries (namespace, key, version, value, memory_type, created_by, created_at) "
     "VALUES ('n', 'k', 1, 'v', 'dreamt', 'a', %s)", (NOW,)),
    ("UPDATE swarm_state SET id = 2", ()),
])
def test_check_constraints_refuse_bad_values(pg, sql, params):
    with pytest.raises(psycopg.errors.CheckViolation):
        pg.execute(sql, params)


def test_task_counts_follow_the_tasks_by_query(pg):
    assert pg.execute("SELECT status, n, priority_sum FROM task_counts ORDER BY status").fetchall() == [
        (s, 0, 0.0) for s in sorted(("pending", "blocked", "ready", "running", "completed", "failed", "cancelled"))]
    for status, priority in (("ready", 2.5), ("ready", 1.0), ("running", 4.0)):
        pg.execute("INSERT INTO tasks (description, source, status, priority, created_at, updated_at) "
                   "VALUES ('t', 'human', %s, %s, %s, %s)", (status, priority, NOW, NOW))
    pg.execute("UPDATE tasks SET status = 'completed' WHERE status = 'running'")
    counts = {s: (n, p) for s, n, p in pg.execute("SELECT * FROM task_counts")}
    assert counts["ready"] == (2, 3.5) and counts["completed"] == (1, 4.0) and counts["running"] == (0, 0.0)
    # Counting some statuses counts only those: the filter reaches the statuses, not the tasks.
    plan = "\n".join(r[0] for r in pg.execute(
        "EXPLAIN SELECT n FROM task_counts WHERE status IN ('ready', 'running')"))
    assert "Values Scan" in plan and "{ready,running}" in plan.split("Values Scan")[1].split("->")[0]


def test_json_columns_keep_their_values_and_events_their_text(pg):
    pg.execute("INSERT INTO sessions (id, state, created_at, updated_at) VALUES ('s', %s, %s, %s)",
               ('{"b": 1, "a": [1.5, "x"]}', NOW, NOW))
    assert pg.execute("SELECT state FROM sessions").fetchone()[0] == {"a": [1.5, "x"], "b": 1}
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        pg.execute("UPDATE sessions SET state = %s", ("{not json",))
    payload = '{"z":1,"agent":"a1"}'  # exactly as written: the chain's hash covers this text
    pg.execute("INSERT INTO events (ts, actor, kind, entity, payload) VALUES (%s, 'a1', 'task.failed', 'task', %s)",
               (NOW, payload))
    assert pg.execute("SELECT payload FROM events").fetchone()[0] == payload


def test_keyword_search_stems_and_splits_as_fts5_does(pg):
    def add(ref: int, title: str, body: str) -> None:
        pg.execute("INSERT INTO search_items (kind, ref_id, namespace, title, body, created_at) "
                   "VALUES ('memory', %s, 'n', %s, %s, %s)", (ref, title, body, NOW))

    add(1, "Runner notes", "the workers were running the migrations in store/sqlite/base.py")
    add(2, "Other", "nothing relevant here")

    def found(query: str) -> list[int]:
        return [r[0] for r in pg.execute(
            f"SELECT ref_id FROM search_items WHERE tsv @@ {pg_schema.tsquery_text()} ORDER BY ref_id", (query,))]

    assert found("run migration") == [1]  # stemmed, as porter does
    assert found("sqlite") == [1] and found("base") == [1]  # a path is split into its words
    assert found("the") == [1]  # stop words are kept, as FTS5 keeps them
    assert found("elephant") == []
    pg.execute("SET enable_seqscan = off")
    try:
        plan = "\n".join(r[0] for r in pg.execute(
            "EXPLAIN SELECT id FROM search_items WHERE tsv @@ to_tsquery('swarmdeck_english', 'run')"))
    finally:
        pg.execute("RESET enable_seqscan")
    assert "search_items_tsv" in plan


def test_pgvector_is_there_when_the_server_has_it(pg):
    has = pg.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is not None
    assert pg_schema.has_pgvector(pg) == has
    if not has:
        pytest.skip("the server has no pgvector")
    pg.execute(pg_schema.vector_table_sql("vec_1", 3))
    pg.execute("INSERT INTO search_items (kind, ref_id, namespace, title, body, created_at) "
               "VALUES ('memory', 1, 'n', 't', 'b', %s)", (NOW,))
    pg.execute("INSERT INTO vec_1 (item_id, embedding) SELECT id, '[1,0,0]' FROM search_items")
    assert pg.execute("SELECT item_id FROM vec_1 ORDER BY embedding <=> '[1,0.1,0]' LIMIT 1").fetchone()[0] == 1
    with pytest.raises(ValueError):
        pg_schema.vector_table_sql("vec; drop table tasks", 3)


# -- the event log: written without the chain, sealed after commit --------------------------------

def _event(conn, n: int, actor: str = "a1") -> int:
    return conn.execute(
        "INSERT INTO events (ts, actor, kind, entity, entity_id, payload) VALUES (%s, %s, 'task.claimed', 'task', %s, %s) "
        "RETURNING id", (NOW + n / 1000, actor, str(n), f'{{"n":{n},"text":"é\\u0000"}}')).fetchone()[0]


def test_an_event_is_written_without_reading_the_chain_head(pg_database, pg):
    """A writer's transaction holds the newest unsealed event open; another writer inserts and commits
    meanwhile, without waiting (nothing it does reads or locks the chain's head)."""
    _event(pg, 0)
    seal_events(pg)
    with _connect(pg_database) as first, _connect(pg_database) as second:
        first.execute("SET lock_timeout = '2s'")
        second.execute("SET lock_timeout = '2s'")
        with first.transaction():
            held = _event(first, 1)
            with second.transaction():
                other = _event(second, 2)
        assert other > held
    rows = pg.execute("SELECT id, seq, hash FROM events ORDER BY id").fetchall()
    assert [(s, h is None) for _, s, h in rows] == [(1, False), (None, True), (None, True)]


def test_events_are_sealed_in_id_order_and_verify_with_the_audit_hash(pg):
    ids = [_event(pg, n) for n in range(5)]
    assert seal_events(pg) == 5
    rows = pg.execute("SELECT id, seq, ts, actor, kind, entity, entity_id, payload, hash FROM events ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == ids and [r[1] for r in rows] == [1, 2, 3, 4, 5]
    prev = audit.GENESIS
    for _, seq, *content, digest in rows:  # the chain is audit.event_hash's, over each place and content
        prev = audit.event_hash(prev, seq, *content)
        assert digest == prev
    result = verify_events(pg)
    assert result.ok and result.checked == 5 and (result.last_id, result.last_hash) == (5, prev)
    assert audit_head(pg) == audit.AuditHead(5, prev)

    assert seal_events(pg) == 0  # nothing new
    _event(pg, 5)
    assert seal_events(pg, batch=1) == 1
    resumed = verify_events(pg, after_seq=5, after_hash=prev, head=(6, audit_head(pg).hash))
    assert resumed.ok and resumed.checked == 1


def test_an_event_committed_late_is_sealed_after_those_sealed_before_it(pg_database, pg):
    """Ids are not committed in order: the chain follows the order of sealing, and skips none."""
    with _connect(pg_database) as late:
        with late.transaction():
            late_id = _event(late, 1)
            early_id = _event(pg, 2)
            assert seal_events(pg) == 1
        assert seal_events(pg) == 1
    assert pg.execute("SELECT id FROM events ORDER BY seq").fetchall() == [(early_id,), (late_id,)]
    assert late_id < early_id and verify_events(pg).ok


def test_a_sealed_event_cannot_be_changed_resealed_or_removed(pg):
    for n in range(3):
        _event(pg, n)
    seal_events(pg)
    changed = "events are append-only: they cannot be changed"
    for update in ("UPDATE events SET payload = '{}' WHERE seq = 2", "UPDATE events SET hash = 'x' WHERE seq = 2",
                   "UPDATE events SET seq = 9 WHERE seq = 3", "UPDATE events SET id = 99 WHERE seq = 3"):
        with pytest.raises(psycopg.errors.IntegrityError, match=changed):
            pg.execute(update)
    _event(pg, 3)
    with pytest.raises(psycopg.errors.IntegrityError, match=changed):  # unsealed: only its seal is taken
        pg.execute("UPDATE events SET payload = '{}', seq = 4, hash = 'x' WHERE seq IS NULL")
    with pytest.raises(psycopg.errors.IntegrityError, match="events are append-only: they cannot be deleted"):
        pg.execute("DELETE FROM events WHERE seq = 1")
    with pytest.raises(psycopg.errors.IntegrityError, match="events are append-only: they cannot be deleted"):
        pg.execute("TRUNCATE events")
    with pytest.raises(psycopg.errors.IntegrityError, match="an event cannot be inserted sealed"):
        pg.execute("INSERT INTO events (ts, actor, kind, entity, seq, hash) VALUES (%s, 'x', 'k', 'e', 4, 'h')", (NOW,))
    assert verify_events(pg).ok


def test_a_chain_rewritten_around_the_triggers_fails_verification(pg):
    for n in range(4):
        _event(pg, n)
    seal_events(pg)
    head = audit_head(pg)
    pg.execute("ALTER TABLE events DISABLE TRIGGER USER")  # what an owner can do, as a file's writer can
    pg.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    result = verify_events(pg, head=(head.id, head.hash))
    assert not result.ok and result.broken_at == 2 and result.problem == audit.AuditProblem.CONTENT_CHANGED


def test_concurrent_sealers_seal_each_event_once_in_one_chain(pg_database, pg):
    """Writers insert while four sealers run: every event ends up sealed once, the chain verifies."""
    stop = threading.Event()
    errors: list[BaseException] = []
    written = 400

    def writer(k: int) -> None:
        try:
            with _connect(pg_database) as conn:
                for n in range(written // 4):
                    _event(conn, k * 1000 + n)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def sealer() -> None:
        try:
            with _connect(pg_database) as conn:
                while not stop.is_set():
                    seal_events(conn, wait=True, batch=7)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    sealers = [threading.Thread(target=sealer) for _ in range(4)]
    for t in sealers + writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    stop.set()
    for t in sealers:
        t.join(timeout=120)
    assert errors == []
    seal_events(pg)
    seqs = [r[0] for r in pg.execute("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, written + 1))
    result = verify_events(pg, chunk=50)
    assert result.ok and result.checked == written


def test_a_sealer_that_finds_the_lock_taken_leaves_at_once(pg_database, pg):
    _event(pg, 0)
    with _connect(pg_database) as other:
        with other.transaction():
            other.execute("SELECT pg_advisory_xact_lock(%s)", (pg_schema.SEAL_LOCK,))
            assert seal_events(pg) == 0
        assert seal_events(pg) == 1

"""Tamper evidence: reports, decisions and the event log are append-only in the database itself (against a
plain connection, as an agent's own script would open one), and the event log is a hash chain that shows
where it was edited or cut after the fact. On both backends; on PostgreSQL an event's id is its place in
the sealed chain (``seq``), so the tampering below names that column there."""

from __future__ import annotations

import pytest
import sqlean
from signing_support import close, decide
from store_support import DATABASE_ERRORS, on_postgres, raw, submit
from swarmdeck.store import Decision, open_store
from swarmdeck.store.sqlite import schema

STORE_BACKENDS = ("sqlite", "postgres")

#: Every table that only ever grows, and its primary key.
APPEND_ONLY = {
    "events": ("id",),
    "gate_decisions": ("id",),
    "validation_reports": ("id",),
    "report_criteria": ("report_id", "position"),
    "report_metrics": ("report_id", "position"),
    "report_issues": ("report_id", "position"),
    "report_recommendations": ("report_id", "position"),
}


def dump(where) -> dict[str, list[tuple]]:
    with raw(where) as conn:
        return {
            t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY {', '.join(pk)}")]
            for t, pk in APPEND_ONLY.items()
        }


def event_id(where) -> str:
    """The column that holds an event's id as the store shows it (PostgreSQL: its chain position)."""
    return "seq" if on_postgres(where) else "id"


def drop_triggers(conn, table: str) -> None:
    """What anyone with write access to the file, or the owner of the database, can do first."""
    if not isinstance(conn, sqlean.Connection):
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        return
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
        )
    ]
    for name in names:
        conn.execute(f'DROP TRIGGER "{name}"')


@pytest.fixture
async def decided(gated):
    """M1 approved by alice on the bot's report; M2's report submitted and pending."""
    store = gated
    await submit(store, "M1")
    decision = await decide(store, "M1", decision="APPROVE", rationale="checked", reviewer="alice")
    await submit(store, "M2", summary="second")
    await store.latest_event_id()  # PostgreSQL: its events sealed, before anything looks at them
    return store, decision


class TestAppendOnly:
    async def test_replace_into_gate_decisions_cannot_rewrite_a_decision(self, decided, where):
        store, decision = decided
        before = await store.gate_status("M1")
        with raw(where) as conn:
            row = conn.execute(
                "SELECT milestone_id, report_id, report_hash, decided_at FROM gate_decisions WHERE id = ?",
                (decision.id,),
            ).fetchone()
            verbs = () if on_postgres(where) else ("REPLACE", "INSERT OR REPLACE")  # SQLite's REPLACE
            for verb in verbs:
                with pytest.raises(DATABASE_ERRORS, match="append-only"):
                    conn.execute(
                        f"{verb} INTO gate_decisions (id, milestone_id, report_id, report_hash, decision, "
                        "rationale, reviewer, decided_at) VALUES (?, ?, ?, ?, 'REVISE', 'forged', 'mallory', ?)",
                        (decision.id, *row),
                    )
            with pytest.raises(DATABASE_ERRORS, match="append-only"):
                conn.execute(
                    "INSERT INTO gate_decisions (id, milestone_id, report_id, report_hash, decision, "
                    "rationale, reviewer, decided_at) VALUES (?, ?, ?, ?, 'REVISE', 'forged', 'mallory', ?) "
                    "ON CONFLICT (id) DO UPDATE SET decision = excluded.decision, "
                    "reviewer = excluded.reviewer",
                    (decision.id, *row),
                )
        after = await store.gate_status("M1")
        assert after.decisions == before.decisions
        assert [(d.id, d.decision, d.reviewer, d.rationale) for d in after.decisions] == [
            (decision.id, Decision.APPROVE, "alice", "checked")
        ]
        assert await store.latest_decision("M1") == decision

    @pytest.mark.parametrize("table", list(APPEND_ONLY))
    async def test_rows_cannot_be_updated_deleted_or_replaced(self, decided, where, table):
        before = dump(where)
        assert before[table], f"the fixture wrote no {table} rows"
        pk = APPEND_ONLY[table]
        match = "append-only"
        with raw(where) as conn:
            first = conn.execute(
                f"SELECT {', '.join(pk)} FROM {table} ORDER BY {', '.join(pk)} LIMIT 1"
            ).fetchone()
            columns = [d[0] for d in conn.execute(f"SELECT * FROM {table} LIMIT 1").description]
            column = next(c for c in columns if c not in pk)
            key = " AND ".join(f"{c} = ?" for c in pk)
            attempts = [
                (f"UPDATE {table} SET {column} = {column} WHERE {key}", tuple(first)),
                (f"UPDATE {table} SET {column} = {column}", ()),
                (f"DELETE FROM {table} WHERE {key}", tuple(first)),
                (f"DELETE FROM {table}", ()),
            ]
            if on_postgres(where):  # no REPLACE: an upsert's update, and TRUNCATE, which no row trigger sees
                upsert = (f"INSERT INTO {table} SELECT * FROM {table} WHERE {key} "
                          f"ON CONFLICT ({', '.join(pk)}) DO UPDATE SET {column} = excluded.{column}")
                attempts += [(upsert, tuple(first)), (f"TRUNCATE {table} CASCADE", ())]
                if table == "events":  # its copy is refused first: it would be inserted sealed
                    match = "append-only|cannot be inserted sealed"
            else:
                attempts += [
                    (f"REPLACE INTO {table} SELECT * FROM {table} WHERE {key}", tuple(first)),
                    (f"INSERT OR REPLACE INTO {table} SELECT * FROM {table}", ()),
                ]
            for sql, params in attempts:
                with pytest.raises(DATABASE_ERRORS, match=match):
                    conn.execute(sql, params)
        assert dump(where) == before

    async def test_a_report_cannot_be_replaced_through_its_unique_version(self, decided, where):
        """REPLACE with a fresh id still deletes the row it collides with on (milestone_id, version); an
        upsert on that key updates it."""
        before = dump(where)
        columns = ("(id, milestone_id, version, submitted_by, submitted_at, summary, proposed_decision, "
                   "content_hash) SELECT 999, milestone_id, version, 'mallory', submitted_at, 'forged', "
                   "'APPROVE', content_hash FROM validation_reports ORDER BY id LIMIT 1")
        sql = (f"INSERT INTO validation_reports {columns} ON CONFLICT (milestone_id, version) "
               "DO UPDATE SET summary = excluded.summary" if on_postgres(where)
               else f"REPLACE INTO validation_reports {columns}")
        with raw(where) as conn, pytest.raises(DATABASE_ERRORS, match="append-only"):
            conn.execute(sql)
        assert dump(where) == before

    async def test_the_store_still_appends_everywhere(self, decided):
        store, _ = decided
        await submit(store, "M2", summary="third")
        await decide(store, "M2", decision="CONDITIONAL", rationale="fine", reviewer="alice", conditions=["docs"])
        status = await store.gate_status("M2")
        await close(store, status.conditions[0].id, closed_by="alice", note="done")
        assert (await store.verify_events()).ok


class TestChain:
    async def test_an_untouched_log_verifies(self, decided):
        store, _ = decided
        result = await store.verify_events()
        latest = await store.latest_event_id()
        assert result.ok and result.problem is None and result.broken_at is None
        assert result.checked == latest == result.last_id
        head = await store.audit_head()
        assert (head.id, head.hash) == (latest, result.last_hash)
        assert len(head.hash) == 64

    async def test_an_edited_payload_is_named(self, decided, where):
        store, _ = decided
        latest = await store.latest_event_id()
        target = latest // 2
        with raw(where) as conn:
            drop_triggers(conn, "events")
            forged = '{"reviewer":"mallory"}'
            conn.execute(f"UPDATE events SET payload = ? WHERE {event_id(where)} = ?", (forged, target))
        result = await store.verify_events()
        assert not result.ok
        assert result.broken_at == target and result.problem == "content_changed"
        assert result.last_id == target - 1 and result.checked == target - 1
        assert f"event {target}" in result.message

    @pytest.mark.parametrize(
        "column, value", [("actor", "alice"), ("kind", "gate.decided"), ("ts", 0.0), ("entity_id", "999")]
    )
    async def test_any_edited_field_is_named(self, decided, where, column, value):
        store, _ = decided
        with raw(where) as conn:
            drop_triggers(conn, "events")
            conn.execute(f"UPDATE events SET {column} = ? WHERE {event_id(where)} = 3", (value,))
        result = await store.verify_events()
        assert (result.ok, result.broken_at, result.problem) == (False, 3, "content_changed")

    async def test_a_cut_in_the_middle_is_named(self, decided, where):
        store, _ = decided
        latest = await store.latest_event_id()
        assert latest >= 8
        with raw(where) as conn:
            drop_triggers(conn, "events")
            conn.execute(f"DELETE FROM events WHERE {event_id(where)} BETWEEN 4 AND 6")
        result = await store.verify_events()
        assert (result.ok, result.broken_at, result.problem) == (False, 4, "rows_missing")
        assert "4" in result.message and "6" in result.message
        assert result.last_id == 3

    async def test_an_event_written_around_the_store_is_named(self, decided, where):
        """SQLite names an event inserted without a hash. PostgreSQL inserts every event without one and
        seals it after commit, so one written around the store is sealed into the chain like any other
        (store/postgres/schema.py: only a head kept elsewhere proves who wrote an event, on either)."""
        store, _ = decided
        latest = await store.latest_event_id()
        with raw(where) as conn:
            conn.execute(
                "INSERT INTO events (ts, actor, kind, entity, entity_id, payload) "
                "VALUES (1, 'mallory', 'gate.decided', 'milestone', '1', '{}')"
            )
        result = await store.verify_events()
        if on_postgres(where):
            assert (result.ok, result.checked, result.last_id) == (True, latest + 1, latest + 1)
            assert (await store.events(limit=1))[0].actor == "mallory"
        else:
            assert (result.ok, result.broken_at, result.problem) == (False, latest + 1, "unhashed")

    async def test_a_rechained_event_breaks_the_link_to_the_next(self, decided, where):
        """Editing an event and recomputing its hash leaves the next event chained to the old one."""
        from swarmdeck.store.audit import event_hash

        store, _ = decided
        ident = event_id(where)
        with raw(where) as conn:
            drop_triggers(conn, "events")
            prev = conn.execute(f"SELECT hash FROM events WHERE {ident} = 4").fetchone()[0]
            conn.execute(f"UPDATE events SET actor = 'mallory' WHERE {ident} = 5")
            row = conn.execute(
                f"SELECT {ident}, ts, actor, kind, entity, entity_id, payload FROM events WHERE {ident} = 5"
            ).fetchone()
            conn.execute(f"UPDATE events SET hash = ? WHERE {ident} = 5", (event_hash(prev, *row),))
        result = await store.verify_events()
        assert (result.ok, result.broken_at) == (False, 6)
        assert result.problem in ("content_changed", "link_broken")

    async def test_verification_resumes_from_a_verified_hash(self, decided, clock):
        store, _ = decided
        first = await store.verify_events()
        await store.heartbeat("a1", status="idle")
        await store.heartbeat("a2", status="idle")
        more = await store.verify_events(after_id=first.last_id, after_hash=first.last_hash)
        assert more.ok and more.checked == 2 and more.last_id == first.last_id + 2
        nothing = await store.verify_events(after_id=more.last_id, after_hash=more.last_hash)
        assert nothing.ok and nothing.checked == 0 and nothing.last_hash == more.last_hash
        # A remembered hash the database no longer has: everything up to that event was rewritten since.
        wrong = await store.verify_events(after_id=first.last_id, after_hash="0" * 64)
        assert (wrong.ok, wrong.broken_at, wrong.problem) == (False, first.last_id, "rewritten")

    async def test_verification_resumed_after_a_cut_names_the_event_that_went(self, decided, where):
        store, _ = decided
        first = await store.verify_events()
        with raw(where) as conn:
            drop_triggers(conn, "events")
            conn.execute(f"DELETE FROM events WHERE {event_id(where)} = ?", (first.last_id,))
        await store.heartbeat("a1", status="idle")  # chained onto what the database holds now
        assert (await store.verify_events()).ok  # the shorter chain is consistent by itself
        again = await store.verify_events(after_id=first.last_id, after_hash=first.last_hash)
        assert (again.ok, again.broken_at, again.problem) == (False, first.last_id, "rewritten")

    async def test_a_recorded_head_catches_a_cut_tail_and_a_full_rewrite(self, decided, where):
        store, _ = decided
        head = await store.audit_head()
        assert (await store.verify_events(head=(head.id, head.hash))).ok
        # A cut at the end leaves a chain that verifies by itself; the recorded head does not.
        with raw(where) as conn:
            drop_triggers(conn, "events")
            conn.execute(f"DELETE FROM events WHERE {event_id(where)} > ?", (head.id - 2,))
        assert (await store.verify_events()).ok
        cut = await store.verify_events(head=(head.id, head.hash))
        assert (cut.ok, cut.problem, cut.broken_at) == (False, "rows_missing", head.id - 1)

    async def test_a_recorded_head_catches_a_rewrite_from_any_point(self, decided, where):
        from swarmdeck.store.audit import event_hash

        store, _ = decided
        head = await store.audit_head()
        ident = event_id(where)
        with raw(where) as conn:
            drop_triggers(conn, "events")
            conn.execute(f"UPDATE events SET actor = 'mallory' WHERE {ident} = 3")
            rows = conn.execute(
                f"SELECT {ident}, ts, actor, kind, entity, entity_id, payload FROM events WHERE {ident} >= 3 "
                f"ORDER BY {ident}"
            ).fetchall()
            prev = conn.execute(f"SELECT hash FROM events WHERE {ident} = 2").fetchone()[0]
            for row in rows:
                prev = event_hash(prev, *row)
                conn.execute(f"UPDATE events SET hash = ? WHERE {ident} = ?", (prev, row[0]))
        assert (await store.verify_events()).ok  # a full rewrite is consistent with itself
        result = await store.verify_events(head=(head.id, head.hash))
        assert (result.ok, result.problem, result.broken_at) == (False, "rewritten", head.id)

    async def test_verification_streams_over_chunks(self, decided, where):
        store, _ = decided
        for i in range(30):
            await store.heartbeat("a1", status="idle")
        latest = await store.latest_event_id()
        assert (await store.verify_events(chunk=7)).checked == latest
        with raw(where) as conn:
            drop_triggers(conn, "events")
            conn.execute(f"UPDATE events SET payload = '{{}}' WHERE {event_id(where)} = ?", (latest - 5,))
        for chunk in (1, 2, 7, 1000):
            result = await store.verify_events(chunk=chunk)
            assert (result.broken_at, result.problem) == (latest - 5, "content_changed"), chunk

    async def test_the_last_event_edited_is_named(self, decided, where):
        store, _ = decided
        latest = await store.latest_event_id()
        with raw(where) as conn:
            drop_triggers(conn, "events")
            conn.execute(f"UPDATE events SET payload = '{{}}' WHERE {event_id(where)} = ?", (latest,))
        result = await store.verify_events()
        assert (result.ok, result.broken_at, result.problem) == (False, latest, "content_changed")


async def test_the_migration_chains_the_events_already_written(db_path, clock, monkeypatch):
    before_chain = next(i for i, (name, _) in enumerate(schema.MIGRATIONS) if name.startswith("audit"))
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:before_chain])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", before_chain)
    old = await open_store(db_path, create=True, clock=clock)
    await old.close()
    with raw(db_path) as conn:  # what an older swarmdeck wrote: no ids given, no hashes
        for i in range(25):
            conn.execute(
                "INSERT INTO events (ts, actor, kind, entity, entity_id, payload) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    clock.now + i,
                    f"agent-{i % 3}",
                    "agent.heartbeat",
                    "agent",
                    f"agent-{i % 3}",
                    '{"status":"idle"}',
                ),
            )
    monkeypatch.undo()
    store = await open_store(db_path, clock=clock)
    try:
        result = await store.verify_events()
        assert result.ok and result.checked == 25
        await store.register_agent("a1", agent_type="coder")
        result = await store.verify_events()
        assert result.ok and result.checked == 26
    finally:
        await store.close()
    with raw(db_path) as conn, pytest.raises(sqlean.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM events WHERE id = 1")

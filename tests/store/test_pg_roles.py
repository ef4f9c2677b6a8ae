"""The trust model in PostgreSQL's grants (store/postgres/roles.py), with two real login roles: an
agent's login can do an agent's work, and cannot write a decision, a condition's closing, a
resumption, a reviewer or the swarm's pause, even in SQL of its own; a reviewer's login can."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from swarmdeck.store.postgres import roles
from swarmdeck.store.postgres.migrate import migrate

NOW = 1_800_000_000.0


@pytest.fixture
def swarm(pg_database):
    """A migrated database with the roles applied (under names of this test's own: roles are
    cluster-wide) and one login for each; (url, agent login, reviewer login, group names)."""
    tag = uuid.uuid4().hex[:8]
    agent, reviewer = f"sd_agent_{tag}", f"sd_reviewer_{tag}"
    agent_login, reviewer_login = f"sd_bot_{tag}", f"sd_alice_{tag}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        migrate(conn, clock=lambda: NOW)
        roles.apply_roles(conn, agent=agent, reviewer=reviewer)
        roles.apply_roles(conn, agent=agent, reviewer=reviewer)  # again: the same grants, no error
        for login, group in ((agent_login, agent), (reviewer_login, reviewer)):
            conn.execute(f"CREATE ROLE {login} LOGIN")
            roles.grant_role(conn, login, group)
        conn.execute("INSERT INTO milestones (name, position, objective, status, created_at) "
                     "VALUES ('M1', 1, '', 'review', %s)", (NOW,))
        conn.execute("INSERT INTO agents (name, agent_type, registered_at) VALUES ('bot', 'coder', %s)", (NOW,))
    yield pg_database, agent_login, reviewer_login, (agent, reviewer)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("REASSIGN OWNED BY {0}, {1} TO CURRENT_USER".format(agent_login, reviewer_login))
        conn.execute("DROP OWNED BY {0}, {1}, {2}, {3}".format(agent_login, reviewer_login, agent, reviewer))
        for role in (agent_login, reviewer_login, reviewer, agent):
            conn.execute(f"DROP ROLE {role}")


def as_login(url: str, login: str) -> psycopg.Connection:
    return psycopg.connect(url, user=login, autocommit=True)


def refused(conn: psycopg.Connection, statement: str, params: tuple = ()) -> bool:
    try:
        conn.execute(statement, params)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_an_agent_does_its_work_and_cannot_write_what_a_person_decides(swarm):
    url, agent, _, _ = swarm
    with as_login(url, agent) as conn:
        # An agent's work: a task, its own heartbeat, an event, a memory.
        task = conn.execute("INSERT INTO tasks (description, source, agent_type, status, created_at, updated_at) "
                            "VALUES ('build', 'agent_planner', 'coder', 'ready', %s, %s) RETURNING id", (NOW, NOW)).fetchone()[0]
        conn.execute("UPDATE agents SET last_heartbeat = %s WHERE name = 'bot'", (NOW,))
        conn.execute("INSERT INTO events (ts, actor, kind, entity, entity_id, payload) "
                     "VALUES (%s, 'bot', 'task.enqueued', 'task', %s, '{}')", (NOW, str(task)))
        # What only a person does, refused by the database itself.
        assert refused(conn, "INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale, "
                             "reviewer, decided_at) VALUES (1, 1, 'h', 'APPROVE', 'looks fine', 'bot', %s)", (NOW,))
        assert refused(conn, "UPDATE gate_conditions SET status = 'closed'")
        assert refused(conn, "INSERT INTO reviewers (name, public_key, added_at, added_by) "
                             "VALUES ('bot', '\\x00', %s, 'bot')", (NOW,))
        assert refused(conn, "UPDATE reviewers SET public_key = '\\x00'")
        assert refused(conn, "UPDATE swarm_state SET paused = 0, reason = NULL")
        assert refused(conn, "INSERT INTO gate_resumptions (milestone_id) VALUES (1)")
        assert refused(conn, "UPDATE events SET payload = '{\"forged\": true}'")  # only seq and hash
        assert refused(conn, "DELETE FROM schema_migrations")


def test_an_agent_cannot_take_the_reviewer_role_for_itself(swarm):
    url, agent, _, (_, reviewer) = swarm
    with as_login(url, agent) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SET ROLE {reviewer}")
    with as_login(url, agent) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"GRANT {reviewer} TO CURRENT_USER")


def test_the_grants_by_table(swarm):
    """Every table's writers, as PostgreSQL reports them: a table added to the schema without a place in
    the roles fails here (it would be writable by the agent role, or by nobody)."""
    url, agent, reviewer, _ = swarm
    with psycopg.connect(url, autocommit=True) as conn:
        tables = roles._tables(conn)

        def may(login: str, table: str, privilege: str) -> bool:
            return conn.execute("SELECT has_table_privilege(%s, %s, %s)", (login, table, privilege)).fetchone()[0]

        for table in tables:
            assert may(agent, table, "SELECT") and may(reviewer, table, "SELECT"), table
            if table in roles.REVIEWER_WRITES:
                assert not may(agent, table, "INSERT") and not may(agent, table, "UPDATE"), table
                assert may(reviewer, table, "INSERT") and may(reviewer, table, "UPDATE"), table
            elif table in roles.OWNER_ONLY:
                assert not may(agent, table, "INSERT") and not may(reviewer, table, "INSERT"), table
            elif table == roles.EVENTS:
                assert may(agent, table, "INSERT") and not may(agent, table, "UPDATE"), table
                assert conn.execute("SELECT has_column_privilege(%s, 'events', 'hash', 'UPDATE')",
                                    (agent,)).fetchone()[0]
            else:
                assert may(agent, table, "INSERT") and may(agent, table, "UPDATE"), table
        assert set(roles.REVIEWER_WRITES) <= set(tables) and roles.EVENTS in tables


def test_a_reviewer_lifts_the_pause_an_agent_cannot(swarm):
    url, agent, reviewer, _ = swarm
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE swarm_state SET paused = 1, reason = 'escalated'")
    with as_login(url, agent) as conn:
        assert refused(conn, "UPDATE swarm_state SET paused = 0")
    with as_login(url, reviewer) as conn:
        conn.execute("UPDATE swarm_state SET paused = 0, reason = NULL")
        assert conn.execute("SELECT paused FROM swarm_state").fetchone()[0] == 0

"""`swarmdeck db roles`: the database itself refuses an agent's login what only a person decides, and
the CLI works on a PostgreSQL swarm as on a SQLite one (`--db postgresql://...`)."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

NOW = 1_800_000_000.0


@pytest.fixture
def logins(pg_database):
    """Two login roles and group role names of this test's own (roles are cluster-wide); dropped after."""
    tag = uuid.uuid4().hex[:8]
    names = {"bot": f"sd_bot_{tag}", "alice": f"sd_alice_{tag}",
             "agent_role": f"sd_agents_{tag}", "reviewer_role": f"sd_reviewers_{tag}"}
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for login in (names["bot"], names["alice"]):
            conn.execute(f"CREATE ROLE {login} LOGIN")
    yield names
    with psycopg.connect(pg_database, autocommit=True) as conn:
        roles = [names[k] for k in ("bot", "alice", "agent_role", "reviewer_role")]
        existing = [r for r in roles
                    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (r,)).fetchone()]
        conn.execute(f"DROP OWNED BY {', '.join(existing)}")
        for role in existing:
            conn.execute(f"DROP ROLE {role}")


def as_login(url: str, login: str) -> psycopg.Connection:
    return psycopg.connect(url, user=login, autocommit=True)


def test_roles_are_set_and_an_agents_login_cannot_decide_a_gate(pg_database, run_sd, logins):
    out = run_sd("--db", pg_database, "--json", "db", "roles", "--agent", logins["bot"],
                 "--reviewer", logins["alice"], "--agent-role", logins["agent_role"],
                 "--reviewer-role", logins["reviewer_role"])
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)
    assert done["migrated_to"]  # a fresh database: the schema came first
    assert {(g["login"], g["role"]) for g in done["granted"]} == {
        (logins["bot"], logins["agent_role"]), (logins["alice"], logins["reviewer_role"])}
    assert "gate_decisions" in done["reviewer_writes"]

    # The agent's login does an agent's work...
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO milestones (name, position, objective, status, created_at) "
                     "VALUES ('M1', 1, '', 'review', %s)", (NOW,))
    with as_login(pg_database, logins["bot"]) as conn:
        conn.execute("INSERT INTO agents (name, agent_type, registered_at) VALUES ('bot', 'coder', %s)", (NOW,))
        # ... and cannot write a decision, even in SQL of its own.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO gate_decisions (milestone_id, decision, rationale, reviewer, decided_at) "
                         "VALUES (1, 'APPROVE', 'me', 'bot', %s)", (NOW,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE swarm_state SET paused = 0")
    with as_login(pg_database, logins["alice"]) as conn:
        assert conn.execute("SELECT count(*) FROM gate_decisions").fetchone()[0] == 0
        assert conn.execute("SELECT has_table_privilege('gate_decisions', 'INSERT')").fetchone()[0]
        assert conn.execute("SELECT has_table_privilege('swarm_state', 'UPDATE')").fetchone()[0]

    again = run_sd("--db", pg_database, "db", "roles", "--agent-role", logins["agent_role"],
                   "--reviewer-role", logins["reviewer_role"])
    assert again.returncode == 0, again.stderr  # idempotent; with no login it says what comes next
    assert again.stdout.splitlines()[0].startswith("roles set on postgresql://")
    assert "next: CREATE ROLE" in again.stdout


def test_an_unknown_login_changes_nothing(pg_database, run_sd, logins):
    out = run_sd("--db", pg_database, "--json", "db", "roles", "--agent", "no_such_login_x",
                 "--agent-role", logins["agent_role"], "--reviewer-role", logins["reviewer_role"])
    assert out.returncode == 3
    assert "no role 'no_such_login_x'" in json.loads(out.stderr)["error"]["message"]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        made = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)",
                            (logins["agent_role"], logins["reviewer_role"])).fetchone()[0]
    assert made == 0


def test_a_sqlite_swarm_has_no_roles(db, run_sd):
    out = run_sd("--db", db, "db", "roles", "--agent", "bot")
    assert out.returncode == 2
    assert "db roles works on a PostgreSQL database" in out.stderr


def test_one_login_cannot_be_both(pg_database, run_sd):
    out = run_sd("--db", pg_database, "db", "roles", "--agent", "x", "--reviewer", "x")
    assert out.returncode == 2 and "both an agent and a reviewer" in out.stderr

"""Who may write what on a PostgreSQL swarm, enforced by the database itself: the trust model in grants.

Two group roles (NOLOGIN; a person's or an agent's login role is made a member of one):

- ``swarmdeck_agent`` reads everything and writes what agents write: tasks and their dependencies,
  agents, sessions, reports, memories, learning records, documents, search items and embeddings, queue
  samples; it appends events and may seal them (``seq`` and ``hash`` only: the events' trigger refuses
  any other change). It writes nothing a person decides: no gate decision, no condition (made by a
  CONDITIONAL decision, closed by a reviewer), no resumption, no reviewer (nor a reviewer's key), and
  not the swarm's pause, which a verified ESCALATE sets and a reviewer lifts.
- ``swarmdeck_reviewer`` is a member of ``swarmdeck_agent`` (a decision also releases tasks and appends
  events) and may also write those: ``REVIEWER_WRITES``.

So an agent holding its own credentials in full still cannot open a gate, even with SQL of its own:
PostgreSQL refuses the INSERT. (The store still verifies every decision's signature as on SQLite; the
grants are the wall in front of it.) Nobody but the owner that migrates writes ``schema_migrations``.

``apply_roles`` makes the roles if missing and sets their grants from scratch each time (idempotent: a
database migrated to a newer schema gets its new tables' grants by applying again). Role names are
cluster-wide in PostgreSQL; ``agent``/``reviewer`` name others, for several swarms on one server.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

AGENT = "swarmdeck_agent"
REVIEWER = "swarmdeck_reviewer"

#: Tables only a reviewer writes: the gate's decisions, its conditions, the resumptions of an escalated
#: swarm, the reviewers (and their public keys), and the swarm's pause.
REVIEWER_WRITES = ("gate_decisions", "gate_conditions", "gate_resumptions", "reviewers", "swarm_state")
#: Tables nobody writes through a role: the migrations' record (its owner writes it).
OWNER_ONLY = ("schema_migrations",)
#: Appended and sealed only (the events' trigger refuses every other change).
EVENTS = "events"


def _tables(conn: Any) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]


def _role_exists(conn: Any, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def apply_roles(conn: Any, *, agent: str = AGENT, reviewer: str = REVIEWER) -> None:
    """Create the two roles if missing and set their grants on this database's swarm tables, in one
    transaction. ``conn`` is the tables' owner (who migrated them) or a superuser."""
    a, r = sql.Identifier(agent), sql.Identifier(reviewer)
    with conn.transaction():
        for role in (agent, reviewer):
            if not _role_exists(conn, role):
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(a, r))
        schema = sql.Identifier(conn.execute("SELECT current_schema()").fetchone()[0])
        # From scratch: what an earlier apply granted and this one does not is gone.
        for role in (a, r):
            conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, role))
            conn.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(schema, role))
        # CREATE: a model's vector table is made when its embedder is first used (by an agent's indexer).
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(schema, a))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, a))
        conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, a))
        for table in _tables(conn):
            name = sql.Identifier(table)
            if table == EVENTS:
                conn.execute(sql.SQL("GRANT INSERT, UPDATE (seq, hash) ON {} TO {}").format(name, a))
            elif table in REVIEWER_WRITES:
                conn.execute(sql.SQL("GRANT INSERT, UPDATE, DELETE ON {} TO {}").format(name, r))
            elif table not in OWNER_ONLY:
                conn.execute(sql.SQL("GRANT INSERT, UPDATE, DELETE ON {} TO {}").format(name, a))


def grant_role(conn: Any, login: str, role: str) -> None:
    """Make the login role ``login`` (which must exist) a member of ``role`` (one of the two above)."""
    if not _role_exists(conn, login):
        raise ValueError(f"no role {login!r} on this server: create it first (CREATE ROLE {login} LOGIN ...)")
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(login)))


__all__ = ["AGENT", "EVENTS", "OWNER_ONLY", "REVIEWER", "REVIEWER_WRITES", "apply_roles", "grant_role"]

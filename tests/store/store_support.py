"""What the store tests share: a plain connection to the database (the SQLite file, or the PostgreSQL
database by URL), its row counts, the state a refused write must leave alone, a claim that checks what
it got, and a validation report to submit."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import psycopg
import sqlean

from swarmdeck.store import TaskStatus

from signing_support import key

TABLES = ("tasks", "task_dependencies", "events", "agents", "milestones", "validation_reports",
          "gate_decisions", "gate_conditions", "swarm_state")


#: What a plain connection raises when the database refuses a statement, on either backend.
DATABASE_ERRORS = (sqlean.DatabaseError, psycopg.Error)
#: ... and when a constraint or a refusing trigger does.
INTEGRITY_ERRORS = (sqlean.IntegrityError, psycopg.IntegrityError)


def on_postgres(where: Path | str) -> bool:
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


def drop_trigger(where: Path | str, name: str, table: str) -> str:
    """The statement that drops a trigger (PostgreSQL names its table)."""
    return f"DROP TRIGGER {name} ON {table}" if on_postgres(where) else f"DROP TRIGGER {name}"


class PgPlain:
    """A plain psycopg connection in autocommit mode that takes SQLite's ``?`` placeholders, so one test
    looks at (or tampers with) either backend's database with the same statements."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, params: tuple = ()) -> psycopg.Cursor:
        return self.conn.execute(sql.replace("?", "%s"), params)

    def close(self) -> None:
        self.conn.close()


def raw(where: Path | str) -> closing:
    """A plain connection, independent of the store, for looking at (or tampering with) the database:
    the SQLite file at ``where``, or the PostgreSQL database whose URL it is (the ``where`` fixture)."""
    if on_postgres(where):
        return closing(PgPlain(where))
    return closing(sqlean.connect(str(where), isolation_level=None))


def row_counts(where: Path | str) -> dict[str, int]:
    with raw(where) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


async def counts_of(store) -> dict[str, int]:
    """``row_counts`` read through the store itself: the same on either backend."""
    return {t: (await store._one(f"SELECT count(*) FROM {t}"))[0] for t in TABLES}


async def tamper(store, sql: str, params: tuple = ()) -> None:
    """Change the database around the store's rules (one statement, ``?`` placeholders), on either
    backend: what a person with the file, or a role on the server, could do."""
    if type(store).__module__.startswith("swarmdeck.store.postgres"):
        sql = sql.replace("?", "%s")
    await store._write("tamper", lambda tx: tx.run(sql, params))


async def state(store) -> tuple:
    """Everything a refused or dry-run write must leave exactly as it was."""
    return (
        await store.list_tasks(limit=100_000),
        await store.list_agents(),
        await store.list_milestones(),
        await store.latest_event_id(),
    )


async def claim(store, agent: str, expect: int, **kwargs):
    task = await store.claim_task(agent=agent, **kwargs)
    assert task is not None, f"{agent} got nothing; expected task {expect}"
    assert task.id == expect, f"{agent} got task {task.id}; expected {expect}"
    assert task.status is TaskStatus.RUNNING and task.assigned_agent == agent
    return task


REPORT = dict(
    summary="all green",
    criteria=[{"name": "tests pass", "status": "met", "evidence": "CI run 12"}],
    metrics=[{"name": "p95 ms", "value": 80, "target": 100, "comparator": "<="}],
    issues=[{"severity": "low", "description": "a typo"}],
    recommendations=["ship it"],
    proposed_decision="APPROVE",
)


#: The reviewers the store tests decide as: registered people, never agents.
REVIEWERS = ("alice", "bob", "carol", "lead")


async def people(store, *, submitter: str = "bot", reviewers=REVIEWERS) -> None:
    """Register the agent that submits reports and the reviewers who decide them."""
    await store.register_agent(submitter, agent_type="validator")
    for name in reviewers:
        await store.add_reviewer(name, by=reviewers[0], public_key=key(name))


async def submit(store, milestone="M1", by="bot", **overrides):
    return await store.submit_report(milestone, submitted_by=by, **{**REPORT, **overrides})

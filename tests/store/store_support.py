"""What the store tests share: a plain connection to the file, its row counts, the state a refused
write must leave alone, a claim that checks what it got, and a validation report to submit."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import sqlean

from swarmdeck.store import TaskStatus

from signing_support import key

TABLES = ("tasks", "task_dependencies", "events", "agents", "milestones", "validation_reports",
          "gate_decisions", "gate_conditions", "swarm_state")


def raw(path: Path) -> sqlean.Connection:
    """A plain connection, independent of the store, for looking at (or tampering with) the file."""
    return closing(sqlean.connect(str(path), isolation_level=None))


def row_counts(path: Path) -> dict[str, int]:
    with raw(path) as conn:
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

"""A writer process for test_crash.py: one agent writing through the Python API until it is killed.

    python crash_writer.py DB ACK_LOG SEED AGENT

It registers AGENT, prints "ready", then writes flat out, every kind of write the store has, and logs
each write it got an answer for (after the call returned) as one JSON line of ACK_LOG, flushed and
fsynced before the next write begins. It never stops by itself: the test kills it with SIGKILL. A write
the store refuses (another writer got there first, a locked milestone) is not logged.

Every acknowledged write carries a tag unique to this process and write, so the test can find the
exact event it left in the feed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path

from swarmdeck.store import TaskStatus, open_store
from swarmdeck.store.errors import StoreError

#: The first round of every process does each kind of write once, in this order (so that every kind
#: is exercised however soon the process is killed); then it draws them at random with these weights.
OPS: dict[str, int] = {
    "enqueue": 16, "claim": 12, "complete": 8, "fail": 4, "heartbeat": 8, "update_agent": 3, "log_action": 4,
    "milestone": 2, "report": 2, "mem_add": 6, "mem_update": 5, "mem_delete": 2, "session": 2,
    "session_event": 3, "session_state": 2, "record": 3, "document": 2, "cancel": 2, "depend": 2,
    "priority": 2, "retry": 2,
}
RECORDS = {
    "decision": {"decision": "use WAL", "rationale": "readers never block the writer"},
    "pattern": {"name": "outbox", "description": "events in the same transaction as the state"},
    "failure": {"feature": "sync", "approach": "polling", "why_failed": "too slow", "lesson": "use the feed"},
}


class AckLog:
    """One JSON line per acknowledged write, on disk before the next write starts."""

    def __init__(self, path: Path, writer: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.writer = writer

    def ack(self, op: str, **fields) -> None:
        line = json.dumps({"w": self.writer, "op": op, **fields}, separators=(",", ":")) + "\n"
        os.write(self._fd, line.encode())
        os.fsync(self._fd)


class Writer:
    def __init__(self, store, log: AckLog, rng: random.Random, agent: str) -> None:
        self.store, self.log, self.rng, self.agent = store, log, rng, agent
        self.n = 0
        self.running: list[int] = []  # tasks this agent claimed and still holds
        self.known: list[int] = []  # recent task ids, for prerequisites, cancels and dependencies
        self.memories: dict[str, bool] = {}  # key -> deleted, in this agent's namespace
        self.sessions: list[str] = []
        self.ns = f"crash:{agent}"

    def tag(self) -> str:
        return f"{self.log.writer}-{self.n}"

    async def load(self) -> None:
        """What an agent restarting would look up: the tasks it holds, its memories, recent tasks."""
        running = await self.store.list_tasks(status=TaskStatus.RUNNING, assigned_agent=self.agent, limit=1000)
        self.running = [t.id for t in running]
        for m in await self.store.list_memories(namespace_prefix=self.ns, include_deleted=True, limit=1000):
            self.memories[m.key] = m.deleted_at is not None
        await self.refresh()

    async def refresh(self) -> None:
        self.known = [t.id for t in await self.store.list_tasks(limit=60)]

    async def run(self) -> None:
        first = list(OPS)
        while True:
            self.n += 1
            op = first.pop(0) if first else self.rng.choices(list(OPS), weights=list(OPS.values()))[0]
            if self.n % 40 == 0:
                await self.refresh()
            try:
                await getattr(self, op)(self.tag())
            except StoreError:
                pass  # refused: nothing was written, nothing to check

    # -- tasks ----------------------------------------------------------------------------------

    async def enqueue(self, tag: str) -> None:
        prereqs = sorted(self.rng.sample(self.known, min(len(self.known), self.rng.choice((0, 0, 0, 1, 2)))))
        milestone = self.rng.choice((None, None, None, "M1"))
        t = await self.store.enqueue_task(description=f"task {tag}", prerequisites=prereqs, milestone=milestone,
                                          base_priority=self.rng.randint(0, 10), actor=self.agent,
                                          input_data={"tag": tag})
        self.log.ack("enqueue", id=t.id, description=t.description, prereqs=prereqs)
        self.known.append(t.id)

    async def claim(self, tag: str) -> None:
        t = await self.store.claim_task(agent=self.agent)
        if t is not None:
            self.log.ack("claim", id=t.id, agent=self.agent)
            self.running.append(t.id)

    async def complete(self, tag: str) -> None:
        if not self.running:
            await self.claim(tag)
            return
        task_id = self.running.pop(self.rng.randrange(len(self.running)))
        await self.store.complete_task(task_id, agent=self.agent, result={"tag": tag})
        self.log.ack("complete", id=task_id, agent=self.agent)

    async def fail(self, tag: str) -> None:
        if not self.running:
            await self.claim(tag)
            return
        task_id = self.running.pop(self.rng.randrange(len(self.running)))
        await self.store.fail_task(task_id, error=tag, agent=self.agent, retry=self.rng.random() < 0.5)
        self.log.ack("fail", id=task_id, tag=tag)

    async def cancel(self, tag: str) -> None:
        if self.known:
            r = await self.store.cancel_task(self.rng.choice(self.known), reason=tag, actor=self.agent)
            self.log.ack("cancel", id=r.cancelled_task_id, cascaded=list(r.cascaded_task_ids))

    async def depend(self, tag: str) -> None:
        if len(self.known) >= 2:
            task_id, prereq = self.rng.sample(self.known, 2)
            await self.store.add_dependency(task_id, prereq, actor=self.agent)
            self.log.ack("depend", id=task_id, prereq=prereq)

    async def priority(self, tag: str) -> None:
        if self.known:
            t = await self.store.set_base_priority(self.rng.choice(self.known), self.rng.randint(0, 10),
                                                   actor=self.agent)
            self.log.ack("priority", id=t.id, base_priority=t.base_priority)

    async def retry(self, tag: str) -> None:
        failed = await self.store.list_tasks(status=TaskStatus.FAILED, limit=20)
        if failed:
            t = await self.store.retry_task(self.rng.choice(failed).id, actor=self.agent)
            self.log.ack("retry", id=t.id)

    # -- agents, milestones, gates ------------------------------------------------------------

    async def heartbeat(self, tag: str) -> None:
        await self.store.heartbeat(self.agent, status=self.rng.choice(("idle", "working")), next_milestone=tag,
                                   completion=float(self.rng.randint(0, 100)))
        self.log.ack("heartbeat", agent=self.agent, tag=tag)

    async def update_agent(self, tag: str) -> None:
        await self.store.update_agent(self.agent, blockers=[tag])
        self.log.ack("update_agent", agent=self.agent, tag=tag)

    async def log_action(self, tag: str) -> None:
        await self.store.log_action(self.agent, phase="work", action=tag, duration_ms=1.0)
        self.log.ack("log_action", agent=self.agent, tag=tag)

    async def milestone(self, tag: str) -> None:
        m = await self.store.add_milestone(f"M {tag}", objective=tag, actor=self.agent)
        self.log.ack("milestone", id=m.id, name=m.name)

    async def report(self, tag: str) -> None:
        r = await self.store.submit_report(
            "M1", submitted_by=self.agent, summary=tag,
            criteria=[{"name": "tests pass", "status": "met", "evidence": tag}],
            recommendations=[tag], proposed_decision="APPROVE")
        self.log.ack("report", id=r.id, milestone_id=r.milestone_id, version=r.version)

    # -- memory, sessions, learning records, documents ---------------------------------------------

    async def mem_add(self, tag: str) -> None:
        key = f"k{tag}"
        e = await self.store.add_memory(self.ns, key, tag, memory_type="semantic", created_by=self.agent)
        self.log.ack("mem_add", id=e.id, ns=self.ns, key=key, version=e.version, value=tag)
        self.memories[key] = False

    async def mem_update(self, tag: str) -> None:
        live = [k for k, deleted in self.memories.items() if not deleted]
        if live:
            key = self.rng.choice(live)
            e = await self.store.update_memory(self.ns, key, tag, updated_by=self.agent)
            self.log.ack("mem_update", id=e.id, ns=self.ns, key=key, version=e.version, value=tag)

    async def mem_delete(self, tag: str) -> None:
        live = [k for k, deleted in self.memories.items() if not deleted]
        if live:
            key = self.rng.choice(live)
            e = await self.store.delete_memory(self.ns, key, deleted_by=self.agent)
            self.log.ack("mem_delete", id=e.id, ns=self.ns, key=key)
            self.memories[key] = True

    async def session(self, tag: str) -> None:
        s = await self.store.create_session(agent=self.agent, state={"tag": tag})
        self.log.ack("session", sid=s.id)
        self.sessions.append(s.id)

    async def session_event(self, tag: str) -> None:
        if self.sessions:
            sid = self.rng.choice(self.sessions)
            e = await self.store.append_session_event(sid, kind="note", payload={"tag": tag}, actor=self.agent)
            self.log.ack("session_event", sid=sid, id=e.id, tag=tag)

    async def session_state(self, tag: str) -> None:
        if self.sessions:
            sid = self.rng.choice(self.sessions)
            await self.store.set_session_state(sid, {tag: True}, actor=self.agent)
            self.log.ack("session_state", sid=sid, tag=tag)

    async def record(self, tag: str) -> None:
        kind = self.rng.choice(sorted(RECORDS))
        r = await self.store.log_record(kind, {**RECORDS[kind], **({"lesson": tag} if kind == "failure" else {})},
                                        namespace=self.ns, agent=self.agent)
        self.log.ack("record", id=r.id, kind=kind)

    async def document(self, tag: str) -> None:
        d = await self.store.index_document(self.ns, f"docs/{tag}.md", f"# {tag}\n\nWritten by {self.agent}.",
                                            actor=self.agent)
        self.log.ack("document", id=d.id, ns=self.ns, path=f"docs/{tag}.md")


async def main(db: str, ack_log: str, seed: int, agent: str) -> None:
    log = AckLog(Path(ack_log), f"{agent}.{seed}")
    store = await open_store(db)
    await store.register_agent(agent, agent_type="coder", actor=agent)
    log.ack("register", agent=agent)
    print("ready", flush=True)
    writer = Writer(store, log, random.Random(seed), agent)
    await writer.load()
    await writer.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))

"""Writers killed with SIGKILL at random moments lose nothing they were told was written.

Two agents write through the Python API (crash_writer.py, one process at a time each, killed and
restarted over and over) and one through the CLI (each `swarmdeck` call a process, some killed before
they answer), every kind of write the store has, each logging what it got an answer for, fsynced, before
its next write. After the last kill the database must pass SQLite's integrity check, hold every
acknowledged write, tell the same story in its event feed as in its tables, have given no task to two
agents at once, and leave the host write lock free.

The randomness (which writes, when to kill) is seeded; which write a kill lands in is up to the machine,
and nothing checked depends on it.
"""

from __future__ import annotations

import asyncio
import json
import random
import select
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlean

from crash_writer import AckLog
from crash_writer import OPS as API_OPS
from swarmdeck.store import open_store

from support import SWARMDECK, clean_env

pytestmark = pytest.mark.slow

SEED = 20260101
#: How long the writers write at most (then each is killed one last time); they stop sooner once the
#: experiment has happened (``Run.happened``): every kind of write acknowledged through both interfaces,
#: each API writer killed at least KILLS times and a CLI call killed before it answered. That took 16 s
#: in a whole run of the tests on a loaded 2-core machine, and more than 24 s at a load of 5.
WRITE_SECONDS = 90.0
KILLS = 3
API_AGENTS = ("api0", "api1")
CLI_AGENT = "cli0"
#: A killed API writer lived this long after it said it was ready (seconds, uniform).
API_LIFE = (0.05, 0.9)
#: The share of CLI calls killed, and when: this share of a typical call's duration after it started.
CLI_KILL_SHARE = 0.5
CLI_KILL_AT = (0.5, 1.2)
WRITER = Path(__file__).with_name("crash_writer.py")
#: Exit codes of a CLI call the store refused (refused, not found, paused, busy): nothing to check.
REFUSED = {1, 3, 4, 5}

#: Task events that end a claim: the task is no longer running for the agent that claimed it.
RELEASES = {"task.completed", "task.failed", "task.retried", "task.cancelled"}


# -- the writers ------------------------------------------------------------------------------------


class Run:
    """What the writer threads share: the deadline, the kills, and anything that went wrong."""

    def __init__(self, db: Path, logs: Path) -> None:
        self.db, self.logs = db, logs
        self.deadline = time.monotonic() + WRITE_SECONDS
        self.kills: Counter[str] = Counter()
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def killed(self, who: str) -> None:
        with self.lock:
            self.kills[who] += 1

    def happened(self) -> bool:
        """Whether the experiment has happened: every API writer killed KILLS times and a CLI call killed,
        every kind of write acknowledged through the API and through the CLI."""
        with self.lock:
            if any(self.kills[w] < KILLS for w in API_AGENTS) or not self.kills[CLI_AGENT]:
                return False
        acks = read_acks(self.logs)
        kinds = {a["op"] for a in acks}
        by_cli = {a["op"] for a in acks if a["w"].startswith(CLI_AGENT)}
        return set(API_OPS) | {"register"} <= kinds and set(CliAgent.OPS) <= by_cli

    def stop_once_it_happened(self, writers: list[threading.Thread]) -> None:
        """Look every half second; once the experiment has happened, end the writing early."""
        while time.monotonic() < self.deadline and any(t.is_alive() for t in writers):
            if self.happened():
                self.deadline = time.monotonic()
                return
            time.sleep(0.5)


def _ready(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for the writer's "ready" line (it has opened the store and registered its agent)."""
    readable, _, _ = select.select([proc.stdout], [], [], timeout)
    return bool(readable) and proc.stdout.readline().strip() == "ready"


def api_agent(run: Run, agent: str, seed: int) -> None:
    """One API agent: start its writer process, let it write a random while, SIGKILL it; again, till the end."""
    try:
        _api_agent(run, agent, seed)
    except Exception as exc:  # noqa: BLE001 - reported by the test, not lost on a thread
        run.error(f"{agent} failed: {exc!r}")


def _api_agent(run: Run, agent: str, seed: int) -> None:
    rng = random.Random(seed)
    generation = 0
    while time.monotonic() < run.deadline:
        generation += 1
        stderr = run.logs / f"{agent}.{generation}.stderr"
        with open(stderr, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, str(WRITER), str(run.db), str(run.logs / f"{agent}.{generation}.jsonl"),
                 str(rng.randrange(2**31)), agent],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True, env=clean_env(every_setting=True))
        try:
            if not _ready(proc, timeout=60):
                proc.kill()
                proc.wait()
                run.error(f"{agent} #{generation} never got ready (exit {proc.returncode}): {stderr.read_text()}")
                return
            time.sleep(rng.uniform(*API_LIFE))  # the experiment: a random moment in its writing
            if proc.poll() is not None:
                run.error(f"{agent} #{generation} ended by itself (exit {proc.returncode}): {stderr.read_text()}")
                return
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            run.killed(agent)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()


class CliAgent:
    """One agent using the CLI: every write a `swarmdeck --json` process, some killed before they answer."""

    #: The CLI's writes; the first round does each once, unkilled, then they are drawn at random.
    OPS = ("register", "enqueue", "claim", "complete", "fail", "heartbeat", "log_action", "milestone",
           "report", "mem_add", "mem_update", "mem_delete", "session", "session_event", "record")

    def __init__(self, run: Run, seed: int) -> None:
        self.run, self.rng = run, random.Random(seed)
        self.log = AckLog(run.logs / f"{CLI_AGENT}.jsonl", f"{CLI_AGENT}.{seed}")
        self.n = 0
        self.durations: list[float] = []
        self.killing = False
        self.known: list[int] = []
        self.running: list[int] = []
        self.memories: list[str] = []
        self.sessions: list[str] = []
        self.ns = f"crash:{CLI_AGENT}"
        self.report_file = run.logs / "report.json"
        self.report_file.write_text(json.dumps({"criteria": [{"name": "cli", "status": "met", "evidence": "ok"}]}))

    def call(self, *args: Any) -> Any:
        """The call's JSON answer; None if it was refused or killed."""
        kill_after = None
        if self.killing and self.rng.random() < CLI_KILL_SHARE:
            kill_after = self.rng.uniform(*CLI_KILL_AT) * statistics.median(self.durations)
        started = time.monotonic()
        proc = subprocess.Popen([SWARMDECK, "--db", str(self.run.db), "--json", *map(str, args)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, encoding="utf-8", env=clean_env(every_setting=True))
        try:
            out, err = proc.communicate(timeout=kill_after or 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            if kill_after is None:
                self.run.error(f"swarmdeck {' '.join(map(str, args))} hung")
            else:
                self.run.killed(CLI_AGENT)
            return None
        self.durations.append(time.monotonic() - started)
        if proc.returncode in REFUSED:
            return None
        if proc.returncode != 0:
            self.run.error(f"swarmdeck {' '.join(map(str, args))} exited {proc.returncode}: {err}")
            return None
        return json.loads(out)

    def work(self) -> None:
        first = list(self.OPS)
        while first or time.monotonic() < self.run.deadline:
            self.n += 1
            self.killing = not first
            op = first.pop(0) if first else self.rng.choice(self.OPS[1:])
            getattr(self, op)(f"{self.log.writer}-{self.n}")

    def register(self, tag: str) -> None:
        if self.call("agent", "register", CLI_AGENT, "--type", "coder") is not None:
            self.log.ack("register", agent=CLI_AGENT)

    def enqueue(self, tag: str) -> None:
        prereqs = sorted(self.rng.sample(self.known, min(len(self.known), self.rng.choice((0, 1, 2)))))
        args = [a for p in prereqs for a in ("--after", p)]
        t = self.call("task", "enqueue", f"task {tag}", *args)
        if t is not None:
            self.log.ack("enqueue", id=t["id"], description=t["description"], prereqs=prereqs)
            self.known.append(t["id"])

    def claim(self, tag: str) -> None:
        t = self.call("task", "claim", "--agent", CLI_AGENT)
        if t is not None:
            self.log.ack("claim", id=t["id"], agent=CLI_AGENT)
            self.running.append(t["id"])
            self.known.append(t["id"])

    def finish(self, tag: str, op: str, *args: Any) -> None:
        """Complete or fail a task this agent holds (claiming one first if it holds none). In the first
        round, until it works: another agent may cancel the task in between."""
        for _ in range(1 if self.killing else 20):
            if not self.running:
                self.claim(tag)
                if not self.running:
                    if self.killing:
                        return
                    self.enqueue(tag)  # the first round: make work to claim
                    continue
            task_id = self.running.pop(0)
            if self.call("task", op, task_id, "--agent", CLI_AGENT, *args) is not None:
                self.log.ack(op, id=task_id, **({"agent": CLI_AGENT} if op == "complete" else {"tag": tag}))
                return

    def complete(self, tag: str) -> None:
        self.finish(tag, "complete", "--result", json.dumps(tag))

    def fail(self, tag: str) -> None:
        self.finish(tag, "fail", "--error", tag)

    def heartbeat(self, tag: str) -> None:
        if self.call("agent", "heartbeat", CLI_AGENT, "--status", "working", "--next-milestone", tag) is not None:
            self.log.ack("heartbeat", agent=CLI_AGENT, tag=tag)

    def log_action(self, tag: str) -> None:
        if self.call("agent", "log", CLI_AGENT, "--phase", "work", "--action", tag) is not None:
            self.log.ack("log_action", agent=CLI_AGENT, tag=tag)

    def milestone(self, tag: str) -> None:
        m = self.call("milestone", "add", f"M {tag}")
        if m is not None:
            self.log.ack("milestone", id=m["id"], name=m["name"])

    def report(self, tag: str) -> None:
        r = self.call("gate", "submit", "M1", "--by", CLI_AGENT, "--file", self.report_file, "--summary", tag)
        if r is not None:
            self.log.ack("report", id=r["id"], milestone_id=r["milestone_id"], version=r["version"])

    def mem_add(self, tag: str) -> None:
        key = f"k{tag}"
        e = self.call("memory", "add", self.ns, key, tag, "--by", CLI_AGENT)
        if e is not None:
            self.log.ack("mem_add", id=e["id"], ns=self.ns, key=key, version=e["version"], value=tag)
            self.memories.append(key)

    def mem_update(self, tag: str) -> None:
        if self.memories:
            key = self.rng.choice(self.memories)
            e = self.call("memory", "update", self.ns, key, tag, "--by", CLI_AGENT)
            if e is not None:
                self.log.ack("mem_update", id=e["id"], ns=self.ns, key=key, version=e["version"], value=tag)

    def mem_delete(self, tag: str) -> None:
        if self.memories:
            key = self.memories.pop(self.rng.randrange(len(self.memories)))
            e = self.call("memory", "delete", self.ns, key, "--by", CLI_AGENT)
            if e is not None:
                self.log.ack("mem_delete", id=e["id"], ns=self.ns, key=key)

    def session(self, tag: str) -> None:
        s = self.call("session", "create", "--agent", CLI_AGENT)
        if s is not None:
            self.log.ack("session", sid=s["id"])
            self.sessions.append(s["id"])

    def session_event(self, tag: str) -> None:
        if self.sessions:
            sid = self.rng.choice(self.sessions)
            e = self.call("session", "event", sid, "--kind", "note", "--payload", json.dumps({"tag": tag}))
            if e is not None:
                self.log.ack("session_event", sid=sid, id=e["id"], tag=tag)

    def record(self, tag: str) -> None:
        r = self.call("record", "log", "decision", "--field", f"decision={tag}", "--field", "rationale=cli",
                      "--agent", CLI_AGENT, "--namespace", self.ns)
        if r is not None:
            self.log.ack("record", id=r["id"], kind="decision")


def cli_agent(run: Run, seed: int) -> None:
    try:
        CliAgent(run, seed).work()
    except Exception as exc:  # noqa: BLE001 - reported by the test, not lost on a thread
        run.error(f"the CLI agent failed: {exc!r}")


# -- reading what happened ------------------------------------------------------------------------


def read_acks(logs: Path) -> list[dict]:
    """Every acknowledged write. A line cut short by the kill (no newline yet) was never acknowledged."""
    acks = []
    for path in sorted(logs.glob("*.jsonl")):
        for line in path.read_text().splitlines(keepends=True):
            if line.endswith("\n"):
                acks.append(json.loads(line))
    return acks


class Database:
    """The database as the writers left it, read with a plain connection (not the store)."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlean.connect(str(db), isolation_level=None)
        self.conn.row_factory = sqlean.Row
        self.events: dict[str, list[sqlean.Row]] = defaultdict(list)  # kind -> events, oldest first
        self.by_entity: dict[tuple[str, str], list[sqlean.Row]] = defaultdict(list)
        for e in self.conn.execute("SELECT * FROM events ORDER BY id"):
            self.events[e["kind"]].append(e)
            self.by_entity[(e["entity"], e["entity_id"])].append(e)

    def all(self, sql: str, params: tuple = ()) -> list[sqlean.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple = ()) -> sqlean.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def payloads(self, kind: str, entity_id: Any) -> list[dict]:
        return [json.loads(e["payload"]) for e in self.events[kind] if e["entity_id"] == str(entity_id)]


def check_acknowledged(d: Database, acks: list[dict]) -> None:
    """Each acknowledged write is in the database: its rows, and the event it appended."""
    missing: list[str] = []

    def need(ok: bool, ack: dict) -> None:
        if not ok:
            missing.append(json.dumps(ack))

    claims = Counter((e["entity_id"], json.loads(e["payload"])["agent"]) for e in d.events["task.claimed"])
    acked_claims = Counter((str(a["id"]), a["agent"]) for a in acks if a["op"] == "claim")
    missing += [f"claim of task {t} by {a} x{n - claims[(t, a)]}" for (t, a), n in acked_claims.items()
                if claims[(t, a)] < n]
    registered = Counter(e["entity_id"] for e in d.events["agent.registered"])
    acked_registered = Counter(a["agent"] for a in acks if a["op"] == "register")
    missing += [f"registration of {a} x{n - registered[a]}" for a, n in acked_registered.items() if registered[a] < n]
    state_sets = Counter(e["entity_id"] for e in d.events["session.state_set"])

    for a in acks:
        op = a["op"]
        if op == "enqueue":
            row = d.one("SELECT description FROM tasks WHERE id = ?", (a["id"],))
            deps = {r[0] for r in d.all("SELECT prerequisite_id FROM task_dependencies WHERE task_id = ?", (a["id"],))}
            need(row is not None and row[0] == a["description"] and set(a["prereqs"]) <= deps
                 and len(d.payloads("task.enqueued", a["id"])) == 1, a)
        elif op == "complete":
            row = d.one("SELECT status, assigned_agent FROM tasks WHERE id = ?", (a["id"],))
            need(row is not None and tuple(row) == ("completed", a["agent"])
                 and len(d.payloads("task.completed", a["id"])) == 1, a)
        elif op == "fail":
            errors = [p.get("error") for k in ("task.failed", "task.retried") for p in d.payloads(k, a["id"])]
            need(a["tag"] in errors, a)
        elif op == "cancel":
            for task_id in (a["id"], *a["cascaded"]):
                row = d.one("SELECT status FROM tasks WHERE id = ?", (task_id,))
                need(row is not None and row[0] == "cancelled" and len(d.payloads("task.cancelled", task_id)) == 1, a)
        elif op == "depend":  # (a prerequisite the task already had is no change: no event)
            said = [p["prerequisite_id"] for p in d.payloads("task.dependency_added", a["id"])]
            said += [p for e in d.payloads("task.enqueued", a["id"]) for p in e["prerequisites"]]
            need(d.one("SELECT 1 FROM task_dependencies WHERE task_id = ? AND prerequisite_id = ?",
                       (a["id"], a["prereq"])) is not None and a["prereq"] in said, a)
        elif op == "priority":
            need(any(p["base_priority"] == a["base_priority"] for p in d.payloads("task.base_priority_set", a["id"])), a)
        elif op == "retry":
            need(any(p.get("manual") for p in d.payloads("task.retried", a["id"])), a)
        elif op == "heartbeat":
            need(any(p.get("next_milestone") == a["tag"] for p in d.payloads("agent.heartbeat", a["agent"])), a)
        elif op == "update_agent":
            need(any(p.get("blockers") == [a["tag"]] for p in d.payloads("agent.updated", a["agent"])), a)
        elif op == "log_action":
            need(any(p["action"] == a["tag"] for p in d.payloads("agent.action", a["agent"])), a)
        elif op == "register":
            need(d.one("SELECT 1 FROM agents WHERE name = ?", (a["agent"],)) is not None, a)
        elif op == "milestone":
            row = d.one("SELECT name FROM milestones WHERE id = ?", (a["id"],))
            need(row is not None and row[0] == a["name"] and len(d.payloads("milestone.added", a["id"])) == 1, a)
        elif op == "report":
            row = d.one("SELECT milestone_id, version FROM validation_reports WHERE id = ?", (a["id"],))
            need(row is not None and tuple(row) == (a["milestone_id"], a["version"])
                 and any(p["version"] == a["version"] for p in d.payloads("gate.report_submitted", a["milestone_id"])), a)
        elif op in ("mem_add", "mem_update"):
            row = d.one("SELECT namespace, key, version, value FROM memory_entries WHERE id = ?", (a["id"],))
            kind = "memory.added" if op == "mem_add" else "memory.updated"
            need(row is not None and tuple(row) == (a["ns"], a["key"], a["version"], a["value"])
                 and len(d.payloads(kind, a["id"])) == 1, a)
        elif op == "mem_delete":
            row = d.one("SELECT namespace, key FROM memory_entries WHERE id = ?", (a["id"],))
            need(row is not None and tuple(row) == (a["ns"], a["key"]) and len(d.payloads("memory.deleted", a["id"])) >= 1, a)
        elif op == "session":
            need(d.one("SELECT 1 FROM sessions WHERE id = ?", (a["sid"],)) is not None
                 and len(d.payloads("session.created", a["sid"])) == 1, a)
        elif op == "session_event":
            row = d.one("SELECT session_id, payload FROM session_events WHERE id = ?", (a["id"],))
            need(row is not None and row[0] == a["sid"] and json.loads(row[1]) == {"tag": a["tag"]}, a)
        elif op == "session_state":
            row = d.one("SELECT state FROM sessions WHERE id = ?", (a["sid"],))
            need(row is not None and a["tag"] in json.loads(row[0]) and state_sets[a["sid"]] >= 1, a)
        elif op == "record":
            row = d.one("SELECT kind FROM learning_records WHERE id = ?", (a["id"],))
            need(row is not None and row[0] == a["kind"] and len(d.payloads("record.logged", a["id"])) == 1, a)
        elif op == "document":
            row = d.one("SELECT namespace, path FROM documents WHERE id = ?", (a["id"],))
            need(row is not None and tuple(row) == (a["ns"], a["path"]) and d.payloads("document.indexed", a["id"]), a)
        elif op != "claim":
            raise AssertionError(f"no check for acknowledged write {op!r}")
    assert not missing, f"{len(missing)} of {len(acks)} acknowledged writes are missing:\n" + "\n".join(missing[:20])


def check_feed_matches_tables(d: Database) -> None:
    """The event feed and the tables tell one story: what each row's history says, and the counts."""
    tasks = {r["id"]: r for r in d.all("SELECT id, status, assigned_agent, priority FROM tasks")}
    enqueued = Counter(int(e["entity_id"]) for e in d.events["task.enqueued"])
    assert set(enqueued) == set(tasks) and set(enqueued.values()) <= {1}, "tasks and their task.enqueued events differ"

    # Each task's claims and releases alternate: never two claims without a release between them (a
    # double claim), and a running task's last claim is by the agent it is assigned to.
    for task_id, row in tasks.items():
        holder = None
        for e in d.by_entity[("task", str(task_id))]:
            if e["kind"] == "task.claimed":
                assert holder is None, f"task {task_id} claimed by {json.loads(e['payload'])['agent']} while {holder} held it"
                holder = json.loads(e["payload"])["agent"]
            elif e["kind"] in RELEASES:
                holder = None
        if row["status"] == "running":
            assert holder == row["assigned_agent"], f"task {task_id} runs for {row['assigned_agent']}, claimed by {holder}"
        else:
            assert holder is None, f"task {task_id} is {row['status']} but its last claim by {holder} was never released"
        finals = {k: len(d.payloads(k, task_id)) for k in ("task.completed", "task.cancelled")}
        assert finals["task.completed"] == (row["status"] == "completed"), f"task {task_id}: {row['status']}, {finals}"
        assert finals["task.cancelled"] == (row["status"] == "cancelled"), f"task {task_id}: {row['status']}, {finals}"

    # The counts the triggers keep are the counts.
    counted = {r["status"]: (r["n"], r["priority_sum"]) for r in d.all("SELECT * FROM task_counts")}
    actual = {r[0]: (r[1], r[2]) for r in d.all("SELECT status, count(*), total(priority) FROM tasks GROUP BY status")}
    for status, (n, total) in counted.items():
        assert n == actual.get(status, (0, 0.0))[0], f"task_counts says {n} {status}, the table {actual.get(status)}"
        assert total == pytest.approx(actual.get(status, (0, 0.0))[1], abs=1e-6 * max(1.0, abs(total)))

    # Every row that has a creation event has exactly one, and every such event its row.
    for table, kind, key in (("milestones", "milestone.added", "id"), ("learning_records", "record.logged", "id"),
                             ("sessions", "session.created", "id")):
        rows = {str(r[0]) for r in d.all(f"SELECT {key} FROM {table}")}
        events = Counter(e["entity_id"] for e in d.events[kind])
        assert set(events) == rows and set(events.values()) <= {1}, f"{table} and their {kind} events differ"
    versions = {str(r[0]): r[1] for r in d.all("SELECT id, version FROM memory_entries")}
    memory_events = Counter(e["entity_id"] for k in ("memory.added", "memory.updated") for e in d.events[k])
    assert set(memory_events) == set(versions) and set(memory_events.values()) <= {1}, \
        "memory versions and their memory.added/updated events differ"
    assert all((versions[e["entity_id"]] == 1) == (e["kind"] == "memory.added")
               for k in ("memory.added", "memory.updated") for e in d.events[k])
    gaps = d.all("SELECT namespace, key FROM memory_entries GROUP BY namespace, key "
                 "HAVING max(version) != count(*) OR sum(is_current) != 1")
    assert not gaps, f"memories with missing versions or not exactly one current version: {[tuple(r) for r in gaps]}"
    reports = Counter((int(e["entity_id"]), json.loads(e["payload"])["version"])
                      for e in d.events["gate.report_submitted"])
    assert reports == Counter((r[0], r[1]) for r in d.all("SELECT milestone_id, version FROM validation_reports"))
    per_session = Counter(e["entity_id"] for e in d.events["session.event"])
    assert per_session == Counter(r[0] for r in d.all("SELECT session_id FROM session_events"))
    unregistered = d.all("SELECT name FROM agents WHERE name NOT IN "
                         "(SELECT entity_id FROM events WHERE kind = 'agent.registered')")
    assert not unregistered, [r[0] for r in unregistered]

    # Search stays in step with what it indexes: live memories and records, nothing deleted.
    assert d.one("""SELECT count(*) FROM memory_entries m WHERE is_current = 1 AND deleted_at IS NULL
                    AND NOT EXISTS (SELECT 1 FROM search_items s WHERE s.kind = 'memory' AND s.ref_id = m.id)""")[0] == 0
    assert d.one("""SELECT count(*) FROM search_items s WHERE kind = 'memory' AND NOT EXISTS
                    (SELECT 1 FROM memory_entries m WHERE m.id = s.ref_id AND is_current = 1
                     AND deleted_at IS NULL)""")[0] == 0
    assert d.one("""SELECT count(*) FROM learning_records r WHERE NOT EXISTS
                    (SELECT 1 FROM search_items s WHERE s.kind = r.kind AND s.ref_id = r.id)""")[0] == 0
    d.conn.execute("INSERT INTO search_fts (search_fts) VALUES ('integrity-check')")  # raises if out of step


def check_host_lock_free(db: Path) -> None:
    """A fresh process takes the host write lock at once: no killed writer left it held."""
    take = ("import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n")
    result = subprocess.run([sys.executable, "-c", take, f"{db}-writers"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"the host write lock is still held: {result.stderr}"


async def _setup(db: Path) -> None:
    store = await open_store(db, create=True)
    try:
        await store.add_milestone("M1", objective="the milestone reports are submitted for")
    finally:
        await store.close()


async def _write_once_more(db: Path) -> int:
    store = await open_store(db)
    try:
        await store.register_agent("after", agent_type="coder")
        return (await store.enqueue_task(description="after the crashes", actor="after")).id
    finally:
        await store.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL") or SWARMDECK is None, reason="needs POSIX signals and the CLI")
def test_writers_killed_at_random_moments_lose_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "swarm.db"
    logs = tmp_path / "acks"
    logs.mkdir()
    asyncio.run(_setup(db))
    rng = random.Random(SEED)
    run = Run(db, logs)
    threads = [threading.Thread(target=api_agent, args=(run, agent, rng.randrange(2**31))) for agent in API_AGENTS]
    threads.append(threading.Thread(target=cli_agent, args=(run, rng.randrange(2**31))))
    for t in threads:
        t.start()
    run.stop_once_it_happened(threads)
    for t in threads:
        t.join(WRITE_SECONDS + 180)
    assert not any(t.is_alive() for t in threads), "a writer thread never finished"
    assert not run.errors, "\n".join(run.errors)

    acks = read_acks(logs)
    kinds = Counter(a["op"] for a in acks)
    by_cli = Counter(a["op"] for a in acks if a["w"].startswith(CLI_AGENT))
    print(f"\n{sum(run.kills.values())} kills ({dict(run.kills)}), {len(acks)} acknowledged writes: {dict(kinds)}")
    # The experiment happened: kills, and every kind of write acknowledged through both interfaces.
    assert all(run.kills[a] >= KILLS for a in API_AGENTS), run.kills
    assert set(API_OPS) | {"register"} <= set(kinds), f"kinds of write never acknowledged: {set(API_OPS) - set(kinds)}"
    assert set(CliAgent.OPS) <= set(by_cli), f"CLI writes never acknowledged: {set(CliAgent.OPS) - set(by_cli)}"

    d = Database(db)
    try:
        assert d.one("PRAGMA integrity_check")[0] == "ok"
        assert d.all("PRAGMA foreign_key_check") == []
        check_acknowledged(d, acks)
        check_feed_matches_tables(d)
    finally:
        d.conn.close()
    check_host_lock_free(db)
    assert asyncio.run(_write_once_more(db)) > 0  # and the next writer writes, at once

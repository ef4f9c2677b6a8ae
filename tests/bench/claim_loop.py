"""Claim + complete loop: K worker processes each looping claim -> complete until the queue is empty.

The store benchmark's ``--claim-loop`` section (``python tests/bench/bench_store.py --claim-loop
1,4,16,64``). Every run gets a fresh database holding N ready tasks of one milestone-less queue, as
an agent swarm sees it, and K worker processes that open it, register, wait for the start signal,
then claim and complete until a claim finds nothing. Variants, in the same run and interleaved
round by round (their order rotating) so that machine noise hits them alike:

* ``store``: this checkout's store, through its public API (``open_store``, ``register_agent``,
  ``claim_task``, ``complete_task``).
* ``store (old)``: the same worker run by another interpreter (``--old-python``: a venv with an
  older swarmdeck installed). Its databases are made by its own code.
* ``raw``: the statements the store issues for one claim and one complete, on one sqlean connection
  per process (BEGIN IMMEDIATE ... COMMIT, the store's pragmas), without the store.
  ``test_bench_store_runs.py`` checks they are still the store's statements.
* ``bare``: the floor: one ``UPDATE ... RETURNING id`` claim and one completion UPDATE, each its own
  transaction.

This file is also the worker: the parent runs ``python claim_loop.py worker ...`` (or ``seed``) with
the variant's interpreter, so it imports nothing at module level but the standard library, and the
worker uses only the store's public API: older code runs it unchanged. A worker says ``ready`` on
stdout once it is open and registered, starts on a ``go`` line on stdin, prints its figures as one
JSON line, and closes when its stdin closes (so no store's close overlaps another's loop).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

WORKER = Path(__file__).resolve()
VARIANTS = ("store", "store (old)", "raw", "bare")
#: The worker role each variant runs (the old store runs the store's worker under another python).
ROLE = {"store": "store", "store (old)": "store", "raw": "raw", "bare": "bare"}
AGENT_TYPE = "general"
#: The store copies its WAL back every this many commits (store/sqlite/base.py): raw and bare do too.
CHECKPOINT_EVERY = 100


# == the worker (any interpreter) ==================================================================


def _pragmas(conn) -> None:
    """The store writer's pragmas: WAL, synchronous NORMAL, foreign keys, a 10 s busy timeout, and no
    automatic checkpoint inside COMMIT (a Checkpointer does it, beside the loop, as the store does)."""
    for pragma in ("busy_timeout = 10000", "foreign_keys = ON", "synchronous = NORMAL",
                   "journal_mode = WAL", "wal_autocheckpoint = 0"):
        conn.execute(f"PRAGMA {pragma}").fetchall()


def _register_raw(conn, name: str) -> None:
    now = time.time()
    conn.execute("INSERT INTO agents (name, agent_type, registered_at, last_heartbeat) VALUES (?, ?, ?, ?)",
                 (name, AGENT_TYPE, now, now))


class RawClaimer:
    """One claim and one complete as the store issues them today, statement for statement, on one
    synchronous sqlean connection: what the store costs minus the store. Keep it in step with the
    store: ``test_raw_claim_loop_issues_the_store_statements`` fails when they part."""

    LAST_EVENT = ("(SELECT max(id) FROM events), "
                  "(SELECT hash FROM events WHERE id = (SELECT max(id) FROM events))")
    GATES = (f"SELECT paused, reason, {LAST_EVENT}, (SELECT max(id) FROM gate_decisions), "
             "(SELECT max(id) FROM gate_resumptions), "
             "(SELECT max(id) FROM validation_reports), (SELECT max(id) FROM milestones), "
             "(SELECT max(id) FROM reviewers), (SELECT sum(plan_version) FROM milestones), "
             "EXISTS (SELECT 1 FROM agents WHERE name = ?) "
             "FROM swarm_state WHERE id = 1")
    CLAIM = ("UPDATE tasks SET status = 'running', assigned_agent = ?, started_at = ?, "
             "lease_expires_at = ? + timeout_seconds, updated_at = ? "
             "WHERE id = (SELECT id FROM tasks WHERE status = 'ready' ORDER BY priority DESC, id LIMIT 1) "
             "RETURNING *")
    WORKING = ("UPDATE agents SET status = 'working', current_task_id = ?, completion = 0, last_heartbeat = ? "
               "WHERE name = ?")
    EVENT = ("INSERT INTO events (id, ts, actor, kind, entity, entity_id, payload, hash) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    COMPLETE = ("UPDATE tasks SET status = 'completed', result_data = ?, finished_at = ?, "
                "lease_expires_at = NULL, updated_at = ? WHERE id = ? AND status = 'running' "
                "RETURNING *, EXISTS (SELECT 1 FROM task_dependencies WHERE prerequisite_id = tasks.id) "
                f"AS has_dependents, {LAST_EVENT.replace('), (', ') AS last_event, (')} AS last_hash")
    IDLE = ("UPDATE agents SET last_heartbeat = ?, status = CASE WHEN current_task_id = ? THEN 'idle' ELSE status END, "
            "current_task_id = CASE WHEN current_task_id = ? THEN NULL ELSE current_task_id END WHERE name = ?")
    RELEASE = ("SELECT t.id FROM tasks t LEFT JOIN milestones m ON m.id = t.milestone_id "
               "WHERE t.id IN (SELECT task_id FROM task_dependencies WHERE prerequisite_id = ?) "
               "AND +t.status = 'blocked' AND (m.status IS NULL OR m.status != 'locked') "
               "AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks p ON p.id = d.prerequisite_id "
               "WHERE d.task_id = t.id AND p.status != 'completed')")
    QUEUE_SAMPLE = (
        "INSERT INTO queue_samples (slot, ts, pending, blocked, ready, running) "
        "SELECT ?, ?, sum(n) FILTER (WHERE status = 'pending'), sum(n) FILTER (WHERE status = 'blocked'), "
        "sum(n) FILTER (WHERE status = 'ready'), sum(n) FILTER (WHERE status = 'running') "
        "FROM task_counts WHERE true "
        "ON CONFLICT (slot) DO UPDATE SET ts = excluded.ts, pending = excluded.pending, "
        "blocked = excluded.blocked, "
        "ready = excluded.ready, running = excluded.running")
    QUEUE_SLOT = 10  # seconds per queue sample (store/models.py)
    SAMPLE_EVERY = 1.0  # seconds between one process's queue samples (store/sqlite/base.py)

    def __init__(self, db: str, name: str, register: bool = True) -> None:
        import sqlean

        self.db = db
        self.conn = sqlean.connect(db, isolation_level=None)
        self.conn.row_factory = sqlean.Row  # as the store reads its rows
        _pragmas(self.conn)
        self.lock = _host_lock(db)
        self.name = name
        self.sampled_at = float("-inf")
        if register:
            _register_raw(self.conn, name)
        self.conn.execute("PRAGMA busy_timeout = 0")  # as the store's writer: it waits on the host lock

    def _one(self, sql: str, params: tuple = ()):
        cur = self.conn.execute(sql, params)
        try:
            return cur.fetchone()
        finally:
            cur.close()

    def _event(self, chain: tuple, now: float, kind: str, task_id: int, payload: dict) -> None:
        event_id, previous = (chain[0] + 1, chain[1] or "") if chain[0] is not None else (1, "")
        content = (event_id, now, self.name, kind, "task", str(task_id),
                   json.dumps(payload, separators=(",", ":")))
        digest = hashlib.sha256((previous + json.dumps(content)).encode()).hexdigest()  # the chain's hash
        self.conn.execute(self.EVENT, (*content, digest)).close()

    def _begin(self) -> None:
        _flock(self.lock)
        self.conn.execute("BEGIN IMMEDIATE")

    def _commit(self, now: float) -> None:
        if not 0 <= now - self.sampled_at < self.SAMPLE_EVERY:
            self.conn.execute(self.QUEUE_SAMPLE, (int(now // self.QUEUE_SLOT), now)).close()
            self.sampled_at = now
        self.conn.execute("COMMIT")

    def _end(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        _unlock(self.lock)

    def claim(self) -> int | None:
        self._begin()
        try:
            now = time.time()
            paused = self._one(self.GATES, (self.name,))
            if paused[0]:
                raise RuntimeError("the swarm is paused")
            if not paused[-1]:
                raise RuntimeError(f"no agent {self.name}")
            row = self._one(self.CLAIM, (self.name, now, now, now))
            if row is None:
                self.conn.execute("COMMIT")
                return None
            task_id = row["id"]
            self.conn.execute(self.WORKING, (task_id, now, self.name)).close()
            self._event((paused[2], paused[3]), now, "task.claimed", task_id, {"agent": self.name})
            self._commit(now)
            return task_id
        finally:
            self._end()

    def complete(self, task_id: int) -> None:
        self._begin()
        try:
            now = time.time()
            task = self._one(self.COMPLETE, (None, now, now, task_id))
            self.conn.execute(self.IDLE, (now, task_id, task_id, self.name)).close()
            self._event((task["last_event"], task["last_hash"]), now, "task.completed", task_id, {
                "agent": self.name, "duration_s": round(now - (task["started_at"] or now), 3),
                "estimated_s": None, "milestone_id": None})
            if task["has_dependents"]:
                self.conn.execute(self.RELEASE, (task_id,)).fetchall()
            self._commit(now)
        finally:
            self._end()

    def close(self) -> None:
        self.conn.close()
        if self.lock is not None:
            os.close(self.lock)


def _host_lock(db: str) -> int | None:
    """The store's host write lock file (store/sqlite/hostlock.py), so that raw writers queue in the
    kernel as the store's do."""
    try:
        return os.open(f"{db}-writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        return None


def _flock(fd: int | None) -> None:
    if fd is not None:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int | None) -> None:
    if fd is not None:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


class BareClaimer:
    """The floor: the claim as one ``UPDATE ... RETURNING`` and a bare completion, each in its own
    BEGIN IMMEDIATE/COMMIT, nothing else (no event, no agent row, no re-read)."""

    CLAIM = ("UPDATE tasks SET status = 'running', assigned_agent = ?, started_at = ?, "
             "lease_expires_at = ? + timeout_seconds, updated_at = ? "
             "WHERE id = (SELECT id FROM tasks WHERE status = 'ready' ORDER BY priority DESC, id LIMIT 1) "
             "RETURNING id")
    COMPLETE = ("UPDATE tasks SET status = 'completed', finished_at = ?, lease_expires_at = NULL, "
                "updated_at = ? WHERE id = ?")

    def __init__(self, db: str, name: str, register: bool = True) -> None:
        import sqlean

        self.db = db
        self.conn = sqlean.connect(db, isolation_level=None)
        _pragmas(self.conn)
        self.name = name
        if register:
            _register_raw(self.conn, name)

    def claim(self) -> int | None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            row = self.conn.execute(self.CLAIM, (self.name, now, now, now)).fetchone()
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return None if row is None else row[0]

    def complete(self, task_id: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            self.conn.execute(self.COMPLETE, (now, now, task_id)).close()
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()


class Checkpointer:
    """What the store does with its WAL: a PASSIVE checkpoint after every CHECKPOINT_EVERY commits
    (the first after a random share of them), on a connection and a thread of its own, so the loop
    never waits for it; ``commit()`` counts one."""

    def __init__(self, db: str) -> None:
        self._db = db
        self._commits, self._next = 0, random.randint(1, CHECKPOINT_EVERY)
        self._due = threading.Event()
        self._stopping = False
        self._worker = threading.Thread(target=self._serve, name="checkpoint")
        self._worker.start()

    def _serve(self) -> None:
        import sqlean

        conn = sqlean.connect(self._db, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlean.Error:
                    pass  # another checkpoint is running: the next one copies it all
        finally:
            conn.close()

    def commit(self) -> None:
        self._commits += 1
        if self._commits >= self._next:
            self._commits, self._next = 0, CHECKPOINT_EVERY
            self._due.set()

    def close(self) -> None:
        self._stopping = True
        self._due.set()
        self._worker.join()


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _wait_for_go() -> bool:
    """Say ready, then wait for the start signal; False if the parent went away instead."""
    _say("ready")
    return sys.stdin.readline().strip() == "go"


def _figures(claimed: list[int], latency: list[float], cpu: float, start: float, end: float) -> dict:
    return {"claimed": claimed, "cpu_s": cpu, "start": start, "end": end,
            "latency_ms": [round(x * 1000, 4) for x in latency]}


def _loop_sync(claimer, profile: str | None) -> dict:
    """claim -> complete until a claim finds nothing; the loop alone is timed. time.monotonic is
    system-wide, so starts and ends compare across processes."""
    claimed, latency = [], []
    checkpoints = Checkpointer(claimer.db)
    try:
        profiler = _profiler(profile)
        cpu, start = time.process_time(), time.monotonic()
        while True:
            t0 = time.perf_counter()
            task_id = claimer.claim()
            t1 = time.perf_counter()
            checkpoints.commit()
            if task_id is None:
                break
            latency.append(t1 - t0)
            claimed.append(task_id)
            claimer.complete(task_id)
            checkpoints.commit()
        end, cpu = time.monotonic(), time.process_time() - cpu
        _dump(profiler, profile)
    finally:
        checkpoints.close()
    return _figures(claimed, latency, cpu, start, end)


def _profiler(profile: str | None):
    if not profile:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _dump(profiler, profile: str | None) -> None:
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)


async def _store_worker(db: str, name: str, profile: str | None) -> None:
    from swarmdeck.store import open_store

    store = await open_store(db)
    try:
        await store.register_agent(name, agent_type=AGENT_TYPE)
        if not _wait_for_go():
            return
        claimed, latency = [], []
        profiler = _profiler(profile)
        cpu, start = time.process_time(), time.monotonic()
        while True:
            t0 = time.perf_counter()
            task = await store.claim_task(agent=name)
            t1 = time.perf_counter()
            if task is None:
                break
            latency.append(t1 - t0)
            claimed.append(task.id)
            await store.complete_task(task.id, agent=name)
        end, cpu = time.monotonic(), time.process_time() - cpu
        _dump(profiler, profile)
        _say(json.dumps(_figures(claimed, latency, cpu, start, end)))
        sys.stdin.read()  # stay open until every worker has stopped
    finally:
        await store.close()


def _seed(db: str, n_tasks: int) -> None:
    """A new database made by this interpreter's store, with ``n_tasks`` ready tasks (public API)."""
    import asyncio

    from swarmdeck.store import open_store

    async def seed() -> None:
        store = await open_store(db, create=True)
        rng = random.Random(7)
        try:
            for i in range(n_tasks):
                await store.enqueue_task(description=f"bench task {i}", agent_type=AGENT_TYPE,
                                         base_priority=rng.randint(0, 10))
        finally:
            await store.close()

    asyncio.run(seed())


def worker_main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="claim_loop.py", description="a claim-loop worker or seeder")
    sub = parser.add_subparsers(dest="command", required=True)
    work = sub.add_parser("worker")
    work.add_argument("--role", choices=("store", "raw", "bare"), required=True)
    work.add_argument("--db", required=True)
    work.add_argument("--name", required=True)
    work.add_argument("--profile", default=None, help="cProfile the loop into this file")
    seed = sub.add_parser("seed")
    seed.add_argument("--db", required=True)
    seed.add_argument("--tasks", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "seed":
        _seed(args.db, args.tasks)
        return 0
    try:
        if args.role == "store":
            import asyncio

            asyncio.run(_store_worker(args.db, args.name, args.profile))
        else:
            claimer = (RawClaimer if args.role == "raw" else BareClaimer)(args.db, args.name)
            try:
                if _wait_for_go():
                    _say(json.dumps(_loop_sync(claimer, args.profile)))
                    sys.stdin.read()
            finally:
                claimer.close()
    except BrokenPipeError:
        return 1  # the parent went away
    except BaseException as exc:  # the parent reports it (and the traceback is on stderr)
        import traceback

        traceback.print_exc()
        try:
            _say(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        except OSError:
            pass
        return 1
    return 0


# == the parent (this checkout's interpreter) ======================================================


class WorkerFailed(Exception):
    pass


class Worker:
    """One worker process: its stdout read line by line on a thread of the parent's, its stderr in
    a file (read back when it fails)."""

    def __init__(self, python: str, role: str, db: Path, name: str, lines: queue.Queue, index: int,
                 logs: Path, profile: Path | None = None) -> None:
        self.name = name
        self.stderr_path = logs / f"{name}.stderr"
        self._stderr = self.stderr_path.open("w")
        command = [python, str(WORKER), "worker", "--role", role, "--db", str(db), "--name", name]
        if profile is not None:
            command += ["--profile", str(profile)]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, bufsize=1, cwd=logs)
        self._reader = threading.Thread(target=self._read, args=(lines, index), daemon=True)
        self._reader.start()

    def _read(self, lines: queue.Queue, index: int) -> None:
        for line in self.proc.stdout:
            lines.put((index, line.rstrip("\n")))
        lines.put((index, None))

    def send(self, line: str) -> None:
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # it died: its reader reports it

    def stop(self, timeout: float) -> None:
        """Close its stdin (it closes its store and exits); kill it if it has not within ``timeout``."""
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        self._stderr.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._stderr.close()

    def last_words(self) -> str:
        try:
            text = self.stderr_path.read_text().strip().splitlines()
        except OSError:
            return ""
        return text[-1] if text else f"exit code {self.proc.poll()}"


def _collect(workers: list[Worker], lines: queue.Queue, want: str, timeout: float) -> list:
    """One line from every worker: ``ready``, or the JSON of its figures. A worker that errors or
    ends first, or none that answers within ``timeout``, raises WorkerFailed."""
    got: dict[int, object] = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(workers):
        try:
            index, line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            missing = [w.name for i, w in enumerate(workers) if i not in got]
            raise WorkerFailed(f"{len(missing)} worker(s) gave no {want} line within {timeout:g} s "
                               f"(e.g. {missing[0]})") from None
        worker = workers[index]
        if line is None:
            raise WorkerFailed(f"{worker.name} exited before its {want} line: {worker.last_words()}")
        if line.startswith("{"):
            data = json.loads(line)
            if "error" in data:
                raise WorkerFailed(f"{worker.name}: {data['error']}")
            got[index] = data
        elif line == "ready" and want == "ready":
            got[index] = line
        # anything else a worker prints (a library's chatter) is ignored
    return [got[i] for i in range(len(workers))]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def _left(db: Path) -> int:
    """Tasks not completed at the end, read from the database."""
    import sqlean

    conn = sqlean.connect(str(db))
    try:
        return conn.execute("SELECT count(*) FROM tasks WHERE status != 'completed'").fetchone()[0]
    finally:
        conn.close()


def fresh_copy(template: Path, db: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, db)
    return db


def make_template(python: str, path: Path, n_tasks: int) -> Path:
    """A seeded database made by ``python``'s store, checkpointed into one file to copy per run."""
    import sqlean

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    done = subprocess.run([python, str(WORKER), "seed", "--db", str(path), "--tasks", str(n_tasks)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"seeding with {python} failed:\n{done.stderr[-2000:]}")
    conn = sqlean.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # all in the one file (still in WAL mode)
    conn.close()
    return path


class Sampler:
    """py-spy recording one process from outside (it must be on PATH), for its loop only: attached
    once the worker is ready, stopped (SIGINT: it writes its file) once the worker has reported."""

    def __init__(self, pid: int, out: Path, timeout: float = 60.0) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "997", "--format", "raw",
                                      "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        said: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [said.put(line) for line in self.proc.stdout] + [said.put(None)],
                         daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:  # it says so once it samples
            try:
                line = said.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise WorkerFailed("py-spy did not start sampling the worker")
            if "Sampling process" in line:
                return

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_once(python: str, variant: str, template: Path, db: Path, k: int, *, start_timeout: float,
             run_timeout: float, profile: Path | None = None, sample: Path | None = None) -> dict:
    """One run: a fresh copy of ``template``, K workers, the loop, the figures. A worker that fails
    is reported in ``error`` (the others are stopped); no worker outlives this call. ``profile``:
    the first worker cProfiles its loop into this file; ``sample``: py-spy samples it into this one."""
    db = fresh_copy(template, db.resolve())
    logs = db.parent / f"{db.stem}-logs"
    logs.mkdir(exist_ok=True)
    lines: queue.Queue = queue.Queue()
    workers: list[Worker] = []
    sampler: Sampler | None = None
    result: dict = {"variant": variant, "k": k}
    try:
        for i in range(k):
            workers.append(Worker(python, ROLE[variant], db, f"agent-{i:03d}", lines, i, logs,
                                  profile if i == 0 else None))
        _collect(workers, lines, "ready", start_timeout)
        if sample is not None:
            sampler = Sampler(workers[0].proc.pid, sample)
        for w in workers:
            w.send("go")
        reports = _collect(workers, lines, "figures", run_timeout)
        if sampler is not None:
            sampler.stop()
        for w in workers:
            w.stop(timeout=60)
    except WorkerFailed as exc:
        result["error"] = f"{exc} (worker logs in {logs})"
        for w in workers:
            w.kill()
        return result
    finally:
        if sampler is not None:
            sampler.stop()
        for w in workers:  # an error of the parent's own (or ^C): none outlives it
            if w.proc.poll() is None:
                w.kill()
    shutil.rmtree(logs, ignore_errors=True)
    claimed = [i for r in reports for i in r["claimed"]]
    latency = [x for r in reports for x in r["latency_ms"]]
    window = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    result.update({
        "claims": len(claimed),
        "window_s": window,
        "claims_per_s": len(claimed) / window if window > 0 else float("nan"),
        "cpu_ms": 1000 * sum(r["cpu_s"] for r in reports) / max(1, len(claimed)),
        "claim_p50_ms": _pct(latency, 50),
        "claim_p99_ms": _pct(latency, 99),
        "double_claims": len(claimed) - len(set(claimed)),
        "left": _left(db),
        "per_worker_claims": [len(r["claimed"]) for r in reports],
    })
    return result


#: Figures that should be zero: the worst round is reported, not the median.
WORST = ("double_claims", "left")
MEDIAN = ("claims_per_s", "cpu_ms", "claim_p50_ms", "claim_p99_ms")


def summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    out = {"rounds": len(runs), "errors": [r["error"] for r in runs if "error" in r],
           "spread": [r.get("claims_per_s") for r in runs]}
    for key in MEDIAN:
        out[key] = statistics.median(r[key] for r in ok) if ok else float("nan")
    for key in WORST:
        out[key] = max(r[key] for r in ok) if ok else float("nan")
    return out


def _num(x: float, digits: int = 2) -> str:
    return "–" if x != x else f"{x:,.{digits}f}"


def table(summary: dict[tuple[str, int], dict], variants: list[str], ks: list[int]) -> str:
    lines = ["| K | variant | claims/s | CPU ms / claim+complete | claim p50 ms | claim p99 ms "
             "| double claims | tasks left | claims/s vs old | CPU vs old |",
             "|" + "|".join("---" for _ in range(10)) + "|"]
    for k in ks:
        for v in variants:
            s = summary[(v, k)]
            if not s["rounds"] or len(s["errors"]) == s["rounds"]:
                lines.append(f"| {k} | {v} | error: {s['errors'][0] if s['errors'] else 'no run'} "
                             "| | | | | | | |")
                continue
            old = summary.get(("store (old)", k))
            speed = cpu = "–"
            if v == "store" and old is not None and old["claims_per_s"] == old["claims_per_s"]:
                speed = f"{s['claims_per_s'] / old['claims_per_s']:.2f}×"
                cpu = f"{s['cpu_ms'] / old['cpu_ms']:.2f}×"
            errors = f" ({len(s['errors'])} round(s) failed)" if s["errors"] else ""
            lines.append(f"| {k} | {v}{errors} | {_num(s['claims_per_s'], 0)} | {_num(s['cpu_ms'], 3)} "
                         f"| {_num(s['claim_p50_ms'])} | {_num(s['claim_p99_ms'])} | {s['double_claims']:g} "
                         f"| {s['left']:g} | {speed} | {cpu} |")
    return "\n".join(lines)


def profile_top(path: Path, n: int = 10) -> str:
    """The ``n`` functions with the most own time in a cProfile dump, as a markdown table."""
    import pstats

    stats = pstats.Stats(str(path)).stats
    total = sum(entry[2] for entry in stats.values()) or 1.0
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:n]
    lines = ["| function | own ms | share of own time | calls |", "|---|---|---|---|"]
    for (filename, line, func), (_, calls, own, _, _) in rows:
        where = func if filename == "~" else f"{func} ({_short(filename)}:{line})"
        lines.append(f"| `{where}` | {own * 1000:,.0f} | {100 * own / total:.1f}% | {calls:,} |")
    return "\n".join(lines)


def sample_top(path: Path, n: int = 10) -> str:
    """The ``n`` lines with the most own samples (the innermost frame) on the worker's main thread in a
    py-spy raw file, then its samples inside a statement helper (``Tx.run``/``one``/``all``) by the line
    that issued the statement, as markdown tables. At K=1 every write runs on the main thread (the
    quick path); the other threads' samples are counted apart (py-spy counts a thread blocked waiting
    for work as active, so they are mostly idle threads)."""
    own: dict[str, int] = {}
    issued: dict[str, int] = {}
    total = other = 0
    for row in path.read_text().splitlines():
        stack, _, count = row.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if not frames[0].startswith("<module>"):
            other += int(count)
            continue
        leaf = _frame(frames[-1])
        own[leaf] = own.get(leaf, 0) + int(count)
        total += int(count)
        if len(frames) > 1 and frames[-1].split(" (")[0] in ("Tx.run", "Tx.one", "Tx.all", "Tx.many"):
            site = _frame(frames[-2])
            issued[site] = issued.get(site, 0) + int(count)
    lines = [f"{total:,} samples of the main thread at 997/s, the loop only ({other:,} on other threads)", "",
             "| line (innermost frame) | samples | share of the loop |", "|---|---|---|"]
    for where, count in sorted(own.items(), key=lambda item: item[1], reverse=True)[:n]:
        lines.append(f"| `{where}` | {count:,} | {100 * count / max(1, total):.1f}% |")
    lines += ["", "Statements run through Tx.run/one/all, by the line that issued them:", "",
              "| issued at | samples | share of the loop |", "|---|---|---|"]
    for where, count in sorted(issued.items(), key=lambda item: item[1], reverse=True)[:n]:
        lines.append(f"| `{where}` | {count:,} | {100 * count / max(1, total):.1f}% |")
    return "\n".join(lines)


def _frame(frame: str) -> str:
    """``func (/long/path/file.py:12)`` -> ``func (sqlite/file.py:12)``."""
    func, _, where = frame.partition(" (")
    filename, _, line = where.rstrip(")").rpartition(":")
    return f"{func} ({_short(filename)}:{line})" if filename else frame


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for anchor in ("swarmdeck", "site-packages", "lib"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + 1:])
    return "/".join(parts[-2:])


def run_section(*, ks: list[int], n_tasks: int, rounds: int, warmup_rounds: int, old_python: str | None,
                directory: Path, json_path: Path | None, profile: Path | None, start_timeout: float,
                run_timeout: float, variants: list[str] | None = None, profiler: str = "cprofile") -> int:
    """The whole section: templates, interleaved rounds, the table (and the profile if asked)."""
    import platform

    import sqlean

    variants = [v for v in (variants or VARIANTS) if v != "store (old)" or old_python]
    pythons = {"store": sys.executable, "store (old)": old_python,
               "raw": sys.executable, "bare": sys.executable}
    directory.mkdir(parents=True, exist_ok=True)
    loads = [os.getloadavg()[0]]
    print(f"# swarmdeck claim + complete loop\n\nmachine: {platform.platform()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, SQLite {sqlean.sqlite_version}\n"
          f"{n_tasks:,} ready tasks per run, K = {', '.join(map(str, ks))} worker processes; variants: "
          f"{', '.join(variants)}{f' (old: {old_python})' if old_python else ''}; {warmup_rounds} warm-up + "
          f"{rounds} round(s), medians shown; databases in {directory}\n", flush=True)
    templates = {"current": make_template(sys.executable, directory / "template-current.db", n_tasks)}
    if old_python:
        templates["old"] = make_template(old_python, directory / "template-old.db", n_tasks)
    every: list[list[dict]] = []
    for round_no in range(warmup_rounds + rounds):
        warm = round_no < warmup_rounds
        this_round = []
        for k in ks:
            turn = round_no % len(variants)
            for v in variants[turn:] + variants[:turn]:
                template = templates["old" if v == "store (old)" else "current"]
                db = directory / f"run-{v.replace(' ', '').replace('(', '-').replace(')', '')}-{k}.db"
                run = run_once(pythons[v], v, template, db, k, start_timeout=start_timeout,
                               run_timeout=run_timeout)
                run["round"], run["warmup"] = round_no + 1, warm
                this_round.append(run)
                status = run.get("error") or (f"{run['claims_per_s']:,.0f} claims/s, "
                                              f"{run['cpu_ms']:.3f} CPU ms, "
                                              f"{run['double_claims']} double, {run['left']} left")
                which = "warm-up" if warm else f"round {round_no - warmup_rounds + 1}"
                print(f"{which}: {v}, K={k}: {status}", file=sys.stderr, flush=True)
        every.append(this_round)
        loads.append(os.getloadavg()[0])
    measured = [r for rnd in every for r in rnd if not r["warmup"]]
    summary = {(v, k): summarise([r for r in measured if r["variant"] == v and r["k"] == k])
               for v in variants for k in ks}
    print(table(summary, variants, ks))
    print("\nClaims/s in each round (the spread behind the medians):\n")
    for k in ks:
        for v in variants:
            spread = summary[(v, k)]["spread"]
            print(f"- K={k}, {v}: " + ", ".join("error" if x is None else f"{x:,.0f}" for x in spread))
    print("\n1-minute load average at the start and after each round (the first is the warm-up): "
          + ", ".join(f"{x:.1f}" for x in loads))
    if profile is not None:
        spy = profiler == "py-spy"
        run = run_once(sys.executable, "store", templates["current"], directory / "run-profile.db", 1,
                       start_timeout=start_timeout, run_timeout=run_timeout,
                       profile=None if spy else profile.resolve(), sample=profile.resolve() if spy else None)
        what = run.get("error") or f"{run['claims']:,} claims, {run['cpu_ms']:.3f} CPU ms per claim+complete"
        print(f"\n## One store worker (K=1) under {profiler}: {what}\n")
        if "error" not in run:
            print(sample_top(profile.resolve()) if spy else profile_top(profile.resolve()))
            print(f"\n(the whole profile: {profile})")
    if json_path is not None:
        json_path.write_text(json.dumps({"ks": ks, "tasks": n_tasks, "variants": variants,
                                         "old_python": old_python, "rounds": every, "loads": loads},
                                        indent=1, default=str))
    failed = sum(len(s["errors"]) for s in summary.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))

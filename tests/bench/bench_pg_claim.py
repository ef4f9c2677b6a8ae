"""PostgreSQL claim benchmark: which driver fits the store's write path.

K worker processes (one connection each, as agents are) loop claim -> complete on a fresh queue of
``--tasks`` ready tasks until it is empty. The tables are a faithful subset of the store's
(tests/pg_claim.py); one claim is the store's transaction: the claim statement
(``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *``), the agent marked
working, a ``task.claimed`` event; one completion: ``UPDATE ... RETURNING *``, the agent released,
a ``task.completed`` event. Variants, interleaved round by round:

* ``asyncpg``: asyncpg, each transaction awaited statement by statement on the event loop;
* ``psycopg-async``: psycopg 3's ``AsyncConnection``, the same;
* ``psycopg-thread``: the store's shape. A synchronous psycopg connection on a dedicated thread; the
  asyncio loop hands each whole transaction to it (a queue, no future of ``concurrent.futures``) and
  the thread hands the result back with one ``call_soon_threadsafe``, as the store's write path does
  (store/write_path.py: ``Ticket``, ``ConnectionThread.post``). The domain rules (a synchronous ``Unit``) can
  run there unchanged;
* ``psycopg-thread+pipeline``: as ``psycopg-thread``, each transaction in psycopg's pipeline mode:
  a statement whose result is not read yet is sent with the next, so the claim transaction is two
  round trips (BEGIN with the claim; the agent, the event and COMMIT) and so is the completion;
* ``psycopg-thread+chain``: as ``psycopg-thread``, with the events hash-chained as the SQLite store
  chains them (store/audit.py): each transaction locks the chain's head row, so writers queue there;
* ``bare``: the claim statement alone with asyncpg, one autocommit statement per claim, no event,
  no agent, no completion: the ceiling.

Optional (``--variants``): ``psycopg-thread+notify-in`` sends ``NOTIFY`` inside the claim and
completion transactions, ``psycopg-thread+notify-after`` right after each commit.

Reported, medians of the measured rounds: claims/s over the run's window (first start to last end),
client CPU ms per claim + complete (the workers' ``process_time`` over the loop, all threads, summed),
server CPU ms per claim + complete (every PostgreSQL process, when the server is on this machine),
claim transaction latency p50/p99, double claims (a task claimed twice: from the claimed ids the
workers report and from the ``task.claimed`` events) and tasks left unfinished. It prints figures;
it is not a test.

    python tests/bench/bench_pg_claim.py                                   # K = 1,16,64, 2,000 tasks
    python tests/bench/bench_pg_claim.py --ks 1,16 --tasks 2000 --rounds 3 --warmup 1
    python tests/bench/bench_pg_claim.py --url postgresql://me@host/db    # an existing server
    python tests/bench/bench_pg_claim.py --setting synchronous_commit=off  # commits not waiting on fsync

Without ``--url`` it starts a throwaway server (tests/pg_support.py) with PostgreSQL's default
settings (durable commits: fsync on, synchronous_commit on) but for ``--setting``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import signal
import statistics
import sys
import threading
import time
from array import array
from pathlib import Path
from queue import SimpleQueue

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: pg_support, pg_claim

import pg_claim as q
import pg_support

#: Forked, not spawned: 64 workers start in milliseconds with the drivers already imported. The
#: parent holds no connection while it forks (each run's setup closes its own).
CTX = mp.get_context("fork")
DEFAULT_VARIANTS = ("asyncpg", "psycopg-async", "psycopg-thread", "psycopg-thread+pipeline",
                    "psycopg-thread+chain", "bare")
ALL_VARIANTS = DEFAULT_VARIANTS + ("psycopg-thread+notify-in", "psycopg-thread+notify-after")
RESULT = json.dumps({"ok": True})
BOUND_S = 300.0  # no run waits longer than this for its workers


# -- the workers ----------------------------------------------------------------------------------

class Loop:
    """What every worker records: claimed ids, claim latencies, CPU and wall time of the loop."""

    def __init__(self) -> None:
        self.ids = array("q")
        self.lat = array("d")
        self.cpu = self.start = self.end = 0.0

    def begin(self) -> None:
        self.cpu, self.start = time.process_time(), time.monotonic()

    def finish(self) -> dict:
        self.end, self.cpu = time.monotonic(), time.process_time() - self.cpu
        return {"ids": self.ids.tobytes(), "lat": self.lat.tobytes(), "cpu": self.cpu,
                "start": self.start, "end": self.end}


async def _asyncpg_worker(url: str, name: str, bare: bool, gates) -> dict:
    import asyncpg

    conn = await asyncpg.connect(url)
    loop_ = Loop()
    payload = json.dumps({"agent": name})
    try:
        gates.ready()
        loop_.begin()
        while True:
            t = time.monotonic()
            if bare:
                row = await conn.fetchrow(q.CLAIM.sql, name, time.time())
            else:
                async with conn.transaction():
                    now = time.time()
                    row = await conn.fetchrow(q.CLAIM.sql, name, now)
                    if row is not None:
                        await conn.execute(q.AGENT_WORKING.sql, row["id"], name)
                        await conn.execute(q.EVENT.sql, now, name, "task.claimed", str(row["id"]), payload)
            if row is None:
                break
            loop_.lat.append(time.monotonic() - t)
            task = row["id"]
            loop_.ids.append(task)
            if bare:
                continue
            async with conn.transaction():
                now = time.time()
                done = await conn.fetchrow(q.COMPLETE.sql, RESULT, now, task)
                await conn.execute(q.AGENT_IDLE.sql, name)
                await conn.execute(q.EVENT.sql, now, name, "task.completed", str(task),
                                   json.dumps({"agent": name, "duration_s": now - done["started_at"]}))
        result = loop_.finish()
        gates.done(result)
    finally:
        await conn.close()
    return result


async def _psycopg_async_worker(url: str, name: str, gates) -> dict:
    import psycopg

    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    loop_ = Loop()
    payload = json.dumps({"agent": name})
    try:
        gates.ready()
        loop_.begin()
        while True:
            t = time.monotonic()
            async with conn.transaction():
                now = time.time()
                row = await (await conn.execute(q.CLAIM.psycopg, q.CLAIM.args(name, now))).fetchone()
                if row is not None:
                    await conn.execute(q.AGENT_WORKING.psycopg, q.AGENT_WORKING.args(row[0], name))
                    await conn.execute(q.EVENT.psycopg,
                                       q.EVENT.args(now, name, "task.claimed", str(row[0]), payload))
            if row is None:
                break
            loop_.lat.append(time.monotonic() - t)
            task = row[0]
            loop_.ids.append(task)
            async with conn.transaction():
                now = time.time()
                cur = await conn.execute(q.COMPLETE.psycopg, q.COMPLETE.args(RESULT, now, task))
                done = await cur.fetchone()
                await conn.execute(q.AGENT_IDLE.psycopg, q.AGENT_IDLE.args(name))
                started_at = done[_STARTED_AT]
                payload_done = json.dumps({"agent": name, "duration_s": now - started_at})
                await conn.execute(q.EVENT.psycopg, q.EVENT.args(now, name, "task.completed", str(task), payload_done))
        result = loop_.finish()
        gates.done(result)
    finally:
        await conn.close()
    return result


#: Where ``started_at`` is in a ``RETURNING *`` row of tasks (psycopg's default rows are tuples).
_STARTED_AT = 13


class SyncWriter:
    """The store's shape: one synchronous connection, one thread of its own, whole transactions
    handed to it from the loop; each result comes back by one ``call_soon_threadsafe``."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self._queue: SimpleQueue = SimpleQueue()
        self._worker = threading.Thread(target=self._serve, name="bench-pg-writer", daemon=True)
        self._worker.start()

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, args, done, loop = item
            try:
                result, error = fn(self.conn, *args), None
            except BaseException as exc:
                result, error = None, exc
            loop.call_soon_threadsafe(_settle, done, result, error)

    async def write(self, fn, *args):
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put((fn, args, done, loop))
        return await done

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join()
        self.conn.close()


def _settle(done: asyncio.Future, result, error) -> None:
    if not done.cancelled():
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)


class ChainedEvents:
    """Events hash-chained as the SQLite store chains them: the head locked, the next id and hash
    computed here (store/audit.py), the head moved on. Every writer queues on the head row."""

    def __init__(self) -> None:
        from swarmdeck.store.audit import event_hash

        self.event_hash = event_hash

    def write(self, conn, now: float, actor: str, kind: str, task: int, payload: str) -> None:
        last_id, last_hash = conn.execute(q.CHAIN_HEAD.psycopg).fetchone()
        new_id = last_id + 1
        h = self.event_hash(last_hash, new_id, now, actor, kind, "task", str(task), payload)
        conn.execute(q.EVENT_CHAINED.psycopg,
                     q.EVENT_CHAINED.args(new_id, now, actor, kind, str(task), payload, h))
        conn.execute(q.CHAIN_MOVE.psycopg, q.CHAIN_MOVE.args(new_id, h))


def _plain_event(conn, now: float, actor: str, kind: str, task: int, payload: str) -> None:
    conn.execute(q.EVENT.psycopg, q.EVENT.args(now, actor, kind, str(task), payload))


def _claim_tx(conn, name: str, event, notify: str, tx=None) -> tuple | None:
    with (tx or _plain_tx)(conn):
        now = time.time()
        row = conn.execute(q.CLAIM.psycopg, q.CLAIM.args(name, now)).fetchone()
        if row is None:
            return None
        conn.execute(q.AGENT_WORKING.psycopg, q.AGENT_WORKING.args(row[0], name))
        event(conn, now, name, "task.claimed", row[0], json.dumps({"agent": name}))
        if notify == "in":
            conn.execute("NOTIFY swarmdeck_events")
    if notify == "after":
        conn.execute("NOTIFY swarmdeck_events")
    return row


def _complete_tx(conn, name: str, task: int, event, notify: str, tx=None) -> tuple:
    with (tx or _plain_tx)(conn):
        now = time.time()
        done = conn.execute(q.COMPLETE.psycopg, q.COMPLETE.args(RESULT, now, task)).fetchone()
        conn.execute(q.AGENT_IDLE.psycopg, q.AGENT_IDLE.args(name))
        event(conn, now, name, "task.completed", task,
              json.dumps({"agent": name, "duration_s": now - done[_STARTED_AT]}))
        if notify == "in":
            conn.execute("NOTIFY swarmdeck_events")
    if notify == "after":
        conn.execute("NOTIFY swarmdeck_events")
    return done


class _Pipelined:
    """A transaction in psycopg's pipeline mode, BEGIN and COMMIT sent by hand (psycopg's own
    ``transaction()`` waits for BEGIN's answer in pipeline mode): a statement whose result nobody
    reads yet goes out with the next one, so the claim transaction is two round trips (BEGIN with the
    claim; the agent, the event and COMMIT) instead of five. The domain code would not change: reading
    a result is what waits. Only the happy path is timed; on an error the transaction rolls back."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def __enter__(self):
        self._pipeline = self.conn.pipeline()
        self._pipeline.__enter__()
        self.conn.execute("BEGIN")
        return self

    def __exit__(self, kind, error, tb) -> None:
        try:
            if kind is None:
                self.conn.execute("COMMIT")
        finally:
            self._pipeline.__exit__(kind, error, tb)  # sends what is queued, waits for the answers
            if kind is not None:
                self.conn.execute("ROLLBACK")


def _plain_tx(conn):
    return conn.transaction()


async def _psycopg_thread_worker(url: str, name: str, variant: str, gates) -> dict:
    writer = SyncWriter(url)
    event = ChainedEvents().write if variant.endswith("+chain") else _plain_event
    notify = variant.rpartition("notify-")[2] if "notify-" in variant else ""
    tx = _Pipelined if variant.endswith("+pipeline") else _plain_tx
    loop_ = Loop()
    try:
        gates.ready()
        loop_.begin()
        while True:
            t = time.monotonic()
            row = await writer.write(_claim_tx, name, event, notify, tx)
            if row is None:
                break
            loop_.lat.append(time.monotonic() - t)
            loop_.ids.append(row[0])
            await writer.write(_complete_tx, name, row[0], event, notify, tx)
        result = loop_.finish()
        gates.done(result)
    finally:
        writer.close()
    return result


class Gates:
    """The worker's side of the run: ready (connected) -> go, and done (results sent) -> close, so
    no connect and no disconnect lands inside another worker's measured loop."""

    def __init__(self, ready, go, done, results) -> None:
        self._ready, self._go, self._done, self._results = ready, go, done, results

    def ready(self) -> None:
        self._ready.wait(BOUND_S)
        self._go.wait(BOUND_S)

    def done(self, result: dict) -> None:
        self._results.put(result)
        self._done.wait(BOUND_S)

    def abort(self) -> None:
        """A worker failed: every barrier breaks, so nobody (the parent included) waits for it."""
        for barrier in (self._ready, self._go, self._done):
            barrier.abort()


def worker(variant: str, url: str, name: str, gates: Gates) -> None:
    if variant in ("asyncpg", "bare"):
        main = _asyncpg_worker(url, name, variant == "bare", gates)
    elif variant == "psycopg-async":
        main = _psycopg_async_worker(url, name, gates)
    else:
        main = _psycopg_thread_worker(url, name, variant, gates)
    try:
        asyncio.run(main)
    except BaseException:
        gates.abort()
        raise


# -- the runs -------------------------------------------------------------------------------------

def server_cpu(pid: int | None) -> float:
    """CPU seconds of the postmaster and all its processes (the backends, WAL writer, checkpointer)."""
    if pid is None:
        return 0.0
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        return 0.0
    return total


def prepare(url: str, n_tasks: int, k: int) -> int | None:
    """A fresh queue: the tables made anew, n ready tasks, k agents, statistics, a checkpoint. The
    postmaster's pid when the server is on this machine."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(q.SCHEMA)
        conn.execute(q.SEED_TASKS.psycopg, q.SEED_TASKS.args(n_tasks, time.time()))
        conn.execute(q.SEED_AGENTS.psycopg, q.SEED_AGENTS.args(k, time.time()))
        conn.execute("ANALYZE tasks, agents, events")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.Error:
            pass  # not allowed to: the run may meet a checkpoint
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:  # asked while this backend is alive: its parent is the postmaster
            import psutil

            parent = psutil.Process(backend).parent()
            return parent.pid if parent is not None and parent.name() == "postgres" else None
        except Exception:
            return None  # a server elsewhere: no server CPU


def check(url: str, variant: str, n_tasks: int) -> tuple[int, int]:
    """(double claims from the events, tasks not finished), read from the database."""
    import psycopg

    final = "running" if variant == "bare" else "completed"
    with psycopg.connect(url, autocommit=True) as conn:
        doubles = conn.execute(q.DOUBLE_CLAIMS).fetchone()[0]
        if variant == "bare":
            doubles = 0  # no events: the ids the workers report are the check
        elif variant.endswith("+chain"):
            # The chain has no gaps and no forks: ids 1..n, one event per id.
            n_events, top = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM events").fetchone()
            assert n_events == top == 2 * n_tasks, (n_events, top)
        left = conn.execute("SELECT count(*) FROM tasks WHERE status <> %s", (final,)).fetchone()[0]
    return doubles, left


def run_once(url: str, variant: str, k: int, n_tasks: int) -> dict:
    pid = prepare(url, n_tasks, k)
    ready, go, done = CTX.Barrier(k + 1), CTX.Barrier(k + 1), CTX.Barrier(k + 1)
    results = CTX.Queue()
    gates = Gates(ready, go, done, results)
    procs = [CTX.Process(target=worker, args=(variant, url, f"w{i}", gates), daemon=True) for i in range(k)]
    for p in procs:
        p.start()
    try:
        ready.wait(BOUND_S)
        cpu_before = server_cpu(pid)
        go.wait(BOUND_S)
        got = []
        while len(got) < k:
            try:
                got.append(results.get(timeout=1.0))
            except queue.Empty:
                if go.broken or any(p.exitcode not in (None, 0) for p in procs):
                    raise RuntimeError(f"a {variant} worker failed (its traceback is above)") from None
        cpu_server = server_cpu(pid) - cpu_before
        done.wait(BOUND_S)
    except threading.BrokenBarrierError:
        raise RuntimeError(f"a {variant} worker failed (its traceback is above)") from None
    finally:
        for p in procs:
            p.join(BOUND_S)
            if p.is_alive():
                p.kill()
    ids = array("q")
    lat = array("d")
    for r in got:
        ids.frombytes(r["ids"])
        lat.frombytes(r["lat"])
    window = max(r["end"] for r in got) - min(r["start"] for r in got)
    doubles_db, left = check(url, variant, n_tasks)
    lat_sorted = sorted(lat)
    return {
        "claims": len(ids),
        "claims_s": len(ids) / window,
        "cpu_ms": 1000 * sum(r["cpu"] for r in got) / max(1, len(ids)),
        "server_cpu_ms": 1000 * cpu_server / max(1, len(ids)) if pid is not None else None,
        "p50_ms": 1000 * lat_sorted[len(lat_sorted) // 2] if lat_sorted else 0.0,
        "p99_ms": 1000 * lat_sorted[min(len(lat_sorted) - 1, int(len(lat_sorted) * 0.99))]
        if lat_sorted else 0.0,
        "doubles": (len(ids) - len(set(ids))) + doubles_db,
        "left": left,
    }


def median(runs: list[dict], key: str):
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None


def table(summary: dict, variants: list[str], ks: list[int]) -> str:
    lines = [("| K | variant | claims/s | vs asyncpg | client CPU ms / claim+complete "
              "| server CPU ms / claim+complete | claim p50 ms | claim p99 ms | double claims | tasks left |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for k in ks:
        base = summary.get((k, "asyncpg"))
        for v in variants:
            runs = summary[(k, v)]
            rate = median(runs, "claims_s")
            vs = f"{rate / median(base, 'claims_s'):.2f}×" if base and v not in ("asyncpg", "bare") else "–"
            server = median(runs, "server_cpu_ms")
            lines.append(
                f"| {k} | {v} | {rate:,.0f} | {vs} | {median(runs, 'cpu_ms'):.3f} | "
                f"{'–' if server is None else f'{server:.3f}'} | {median(runs, 'p50_ms'):.2f} | "
                f"{median(runs, 'p99_ms'):.2f} | {sum(r['doubles'] for r in runs)} | "
                f"{max(r['left'] for r in runs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,16,64", help="worker process counts, comma-separated")
    ap.add_argument("--tasks", type=int, default=2000, help="ready tasks per run (each run drains them)")
    ap.add_argument("--rounds", type=int, default=3, help="measured rounds")
    ap.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                    help=f"any of {', '.join(ALL_VARIANTS)}")
    ap.add_argument("--url", default=None,
                    help="an existing server's database (default: start a throwaway one)")
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                    help="a postgresql.conf setting for the throwaway server, e.g. synchronous_commit=off "
                         "(as durable as SQLite's WAL with synchronous=NORMAL, which the store uses); "
                         "repeatable")
    args = ap.parse_args(argv)
    ks = [int(x) for x in args.ks.split(",") if x]
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(ALL_VARIANTS)
    if unknown:
        ap.error(f"unknown variants: {', '.join(sorted(unknown))}")

    # Stopped from outside (a timeout, ^C): still stop the throwaway server and delete its folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = None
    if args.url:
        url = args.url
    else:
        settings = {"max_connections": str(max(100, max(ks) + 20))}
        settings.update(item.split("=", 1) for item in args.setting)
        server = pg_support.start_server(settings)
        print(f"throwaway PostgreSQL 18 server ready in {server.started_in:.2f} s; settings: "
              f"{', '.join(f'{k}={v}' for k, v in settings.items())} (the rest PostgreSQL's defaults)")
        url = pg_support.create_database(server.url, "bench_claims")
    try:
        import asyncpg
        import psycopg

        print(f"asyncpg {asyncpg.__version__}, psycopg {psycopg.__version__} ({psycopg.pq.__impl__}), "
              f"{os.cpu_count()} CPUs, {args.tasks} tasks per run, K = {ks}, "
              f"{args.warmup} warm-up + {args.rounds} rounds", flush=True)
        summary: dict[tuple[int, str], list[dict]] = {(k, v): [] for k in ks for v in variants}
        for rnd in range(args.warmup + args.rounds):
            measured = rnd >= args.warmup
            for k in ks:
                shift = rnd % len(variants)
                for v in variants[shift:] + variants[:shift]:  # interleaved: a different order each round
                    r = run_once(url, v, k, args.tasks)
                    print(f"{'round ' + str(rnd - args.warmup + 1) if measured else 'warm-up'} K={k} {v}: "
                          f"{r['claims_s']:,.0f} claims/s, {r['cpu_ms']:.3f} CPU ms, "
                          f"doubles {r['doubles']}, left {r['left']}", flush=True)
                    if measured:
                        summary[(k, v)].append(r)
        print()
        print(table(summary, variants, ks))
        bad = sum(r["doubles"] for runs in summary.values() for r in runs)
        return 1 if bad else 0
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Task counts on PostgreSQL: kept by triggers (SQLite's task_counts rows) or counted by query (the view
store/postgres/schema.py defines). Short by design: a few seconds per variant.

Each of N threads (its own connection) loops over a claim transaction (the claim statement of
tests/pg_claim.py and its event) and a completion transaction (the task completed, one blocked task
released to ready, as a completion releases a dependent, and its event). Variant ``query``: the schema
as it is. Variant ``triggers``: plus SQLite's count rows and triggers, translated. Then the cost of the
view: ``SELECT * FROM task_counts`` with many finished tasks kept.

    python tests/bench/bench_pg_counts.py [--threads 16] [--seconds 3] [--no-release | --counts-only]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pg_support import create_database, drop_database, start_server  # noqa: E402

from store.postgres.migrate import migrate  # noqa: E402

TRIGGERS = """
CREATE TABLE count_rows (status text PRIMARY KEY, n bigint NOT NULL DEFAULT 0,
                         priority_sum double precision NOT NULL DEFAULT 0);
INSERT INTO count_rows (status) VALUES
    ('pending'), ('blocked'), ('ready'), ('running'), ('completed'), ('failed'), ('cancelled');
UPDATE count_rows c SET n = t.n, priority_sum = t.p
    FROM (SELECT status, count(*) AS n, sum(priority) AS p FROM tasks GROUP BY status) t WHERE t.status = c.status;
CREATE FUNCTION count_rows_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE count_rows SET n = n - 1, priority_sum = priority_sum - OLD.priority WHERE status = OLD.status;
    UPDATE count_rows SET n = n + 1, priority_sum = priority_sum + NEW.priority WHERE status = NEW.status;
    RETURN NULL;
END $$;
CREATE TRIGGER count_rows_update AFTER UPDATE OF status, priority ON tasks
    FOR EACH ROW EXECUTE FUNCTION count_rows_update();
"""

CLAIM = ("UPDATE tasks SET status = 'running', assigned_agent = %s, started_at = %s, "
         "lease_expires_at = %s + timeout_seconds, updated_at = %s "
         "WHERE id = (SELECT id FROM tasks WHERE status = 'ready' ORDER BY priority DESC, id "
         "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id")
COMPLETE = ("UPDATE tasks SET status = 'completed', finished_at = %s, lease_expires_at = NULL, updated_at = %s "
            "WHERE id = %s AND status = 'running'")
RELEASE = ("UPDATE tasks SET status = 'ready', updated_at = %s WHERE id = (SELECT id FROM tasks "
           "WHERE status = 'blocked' ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED)")
EVENT = "INSERT INTO events (ts, actor, kind, entity, entity_id, payload) VALUES (%s, %s, %s, 'task', %s, '{}')"


def _seed(conn, ready: int, blocked: int, completed: int = 0) -> None:
    for status, n in (("ready", ready), ("blocked", blocked), ("completed", completed)):
        conn.execute(
            "INSERT INTO tasks (description, source, status, priority, created_at, updated_at) "
            "SELECT 't', 'human', %s, (i %% 10)::float8, 0, 0 FROM generate_series(1, %s) i", (status, n))
    conn.execute("VACUUM ANALYZE tasks")


def run_variant(url: str, variant: str, threads: int, seconds: float, release: bool = True) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        _seed(conn, ready=40_000, blocked=40_000)
        if variant == "triggers":
            conn.execute(TRIGGERS.encode())
    latencies: list[float] = []
    deadlocks = [0]
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(k: int) -> None:
        mine: list[float] = []
        dead = 0
        with psycopg.connect(url, autocommit=True) as conn:
            start.wait()
            while time.perf_counter() < stop_at[0]:
                now = time.time()
                began = time.perf_counter()
                try:
                    with conn.transaction():
                        row = conn.execute(CLAIM, (f"w{k}", now, now, now)).fetchone()
                        if row is None:
                            break
                        conn.execute(EVENT, (now, f"w{k}", "task.claimed", str(row[0])))
                    with conn.transaction():
                        conn.execute(COMPLETE, (now, now, row[0]))
                        if release:
                            conn.execute(RELEASE, (now,))
                        conn.execute(EVENT, (now, f"w{k}", "task.completed", str(row[0])))
                except psycopg.errors.DeadlockDetected:
                    dead += 1
                    continue
                mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)
            deadlocks[0] += dead

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    began = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "variant": variant,
        "claims_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
        "deadlocks": deadlocks[0],
    }


#: Every status (queue_status), and the unfinished ones only (the charts' current queue).
COUNTS = ("SELECT * FROM task_counts",
          "SELECT status, n FROM task_counts WHERE status IN ('pending', 'blocked', 'ready', 'running')")


def count_cost(url: str, finished: int) -> tuple[float, float]:
    """Median ms of each of ``COUNTS`` with ``finished`` completed tasks and 2,000 waiting."""
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        _seed(conn, ready=1_000, blocked=1_000, completed=finished)
        medians = []
        for sql in COUNTS:
            times = []
            for _ in range(15):
                began = time.perf_counter()
                conn.execute(sql).fetchall()
                times.append(time.perf_counter() - began)
            medians.append(statistics.median(times) * 1000)
        return medians[0], medians[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--counts-only", action="store_true", help="only the cost of reading the view")
    parser.add_argument("--no-release", action="store_true",
                        help="completions release no blocked task (the count rows then queue, not deadlock)")
    args = parser.parse_args()
    server = start_server()  # PostgreSQL's defaults: durable commits
    try:
        variants = () if args.counts_only else ("query", "triggers", "query", "triggers")
        for i, variant in enumerate(variants):
            name = f"bench_counts_{i}"
            url = create_database(server.url, name)
            try:
                r = run_variant(url, variant, args.threads, args.seconds, release=not args.no_release)
            finally:
                drop_database(server.url, name)
            print(f"{r['variant']:9} {args.threads} conns: {r['claims_per_s']:7.0f} claim+complete/s  "
                  f"p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:7.1f} ms  deadlocks {r['deadlocks']}")
        for finished in () if args.no_release else (100_000, 1_000_000):
            url = create_database(server.url, "bench_counts_view")
            try:
                every, waiting = count_cost(url, finished)
                print(f"task_counts view, {finished:,} finished tasks: every status {every:.1f} ms, "
                      f"the unfinished ones {waiting:.2f} ms")
            finally:
                drop_database(server.url, "bench_counts_view")
    finally:
        server.stop()


if __name__ == "__main__":
    main()

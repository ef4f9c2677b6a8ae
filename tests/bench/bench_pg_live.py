"""Live-view latency on PostgreSQL: from an agent's write committing to a dashboard's poller seeing it.

A writer process (one agent's store) heartbeats ``--writes`` times at random intervals (uniform in
``--gap``), noting when each heartbeat returned (its commit). Meanwhile, in this process, two
dashboards' pollers read the same database, each with its own store and the app's own poller loop
(app/poller.py's ``Poller._run``: wait, then ``changes_since``; never twice within ``WAKE_GAP_S``):

* ``wake-up``: the loop as the app runs it, waiting on ``store.wait_for_changes(cursor, interval)``
  (LISTEN/NOTIFY, woken by the seal that follows the write's commit);
* ``sleep``: the same loop with the wait replaced by a plain sleep of the interval (the poller before
  the wake-up: a fixed tick).

Each heartbeat's latency is the time the poll that returned its event ended minus the time its write
returned (both ``time.monotonic()``, one clock for every process on the machine). Printed: p50, p95,
p99 and max per loop, at ``--interval`` (1 s, the app's default). The writer and the readers share the
machine, so the figures include the scheduling of a loaded 2-core box.

    python tests/bench/bench_pg_live.py                       # 300 writes, 1 s interval
    python tests/bench/bench_pg_live.py --writes 50 --gap 0.02,0.1
    python tests/bench/bench_pg_live.py --load 50 --load-pace 3   # 50 other agents writing meanwhile
    python tests/bench/bench_pg_live.py --pg-url postgresql://me@host/db   # an existing, empty database

Without ``--pg-url`` it starts a throwaway server (tests/pg_support.py) with PostgreSQL's default
(durable) settings.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: pg_support, poller_support

import pg_support
from poller_support import PollerHost

CTX = mp.get_context("spawn")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


# -- the writer ------------------------------------------------------------------------------------

def writer_process(url: str, writes: int, gap: tuple[float, float], go, results) -> None:
    try:
        results.put(asyncio.run(_writer(url, writes, gap, go)))
    except BaseException as exc:  # the parent must not wait forever
        results.put({"error": f"{type(exc).__name__}: {exc}"})


async def _writer(url: str, writes: int, gap: tuple[float, float], go) -> dict:
    from swarmdeck.store import open_store

    rng = random.Random(5)
    store = await open_store(url)
    committed = []
    try:
        await store.heartbeat("bench-writer")  # connections warm before the measured writes
        go.wait(timeout=120)
        for _ in range(writes):
            await asyncio.sleep(rng.uniform(*gap))
            await store.heartbeat("bench-writer")
            committed.append(time.monotonic())
    finally:
        await store.close()
    return {"committed": committed}


# -- the load: other agents writing meanwhile ----------------------------------------------------------

def load_process(url: str, name: str, pace: float, stop) -> None:
    asyncio.run(_load(url, name, pace, stop))


async def _load(url: str, name: str, pace: float, stop) -> None:
    """Heartbeat, claim (the queue is empty: a claim that finds nothing) at ``pace`` messages/s, random
    phase, until ``stop`` is set."""
    from swarmdeck.store import open_store

    store = await open_store(url)
    try:
        await store.register_agent(name, agent_type="general")
        period = 2 / pace
        next_at = time.monotonic() + random.uniform(0, period)
        while not stop.is_set():
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += period
            await store.heartbeat(name)
            await store.claim_task(agent=name)
    finally:
        await store.close()


# -- the dashboards' pollers -------------------------------------------------------------------------

class _Sleeping:
    """A store whose wake-up is a plain sleep of the timeout: the poller with a fixed tick."""

    def __init__(self, store) -> None:
        self._store = store

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    async def wait_for_changes(self, after_id: int, timeout: float) -> None:
        await asyncio.sleep(timeout)


class _Dashboard(PollerHost):
    """What ``Poller`` needs of the app: the store, ``run_worker`` (a task: tests/poller_support.py) and
    ``post_message`` (here: when each heartbeat of the measured writer was seen)."""

    def __init__(self, store) -> None:
        self.store = store
        self.seen: list[float] = []

    def post_message(self, message) -> None:
        now = time.monotonic()
        self.seen.extend(now for e in message.events
                         if e.kind == "agent.heartbeat" and e.entity_id == "bench-writer")


async def _poller(store, interval: float):
    from swarmdeck.app.poller import Poller

    app = _Dashboard(store)
    poller = Poller(app, interval)  # type: ignore[arg-type]
    poller.cursor = await store.latest_event_id()
    poller._kick = asyncio.Event()
    return app, asyncio.ensure_future(poller._run())


async def measure(url: str, writes: int, gap: tuple[float, float], interval: float, load: int = 0,
                  load_pace: float = 3.0) -> dict:
    from swarmdeck.store import open_store

    setup = await open_store(url, create=True)
    await setup.register_agent("bench-writer", agent_type="general")
    await setup.close()

    go, results, stop = CTX.Event(), CTX.Queue(), CTX.Event()
    loaders = [CTX.Process(target=load_process, args=(url, f"load-{i:03d}", load_pace, stop)) for i in range(load)]
    for p in loaders:
        p.start()
    writer = CTX.Process(target=writer_process, args=(url, writes, gap, go, results))
    writer.start()
    listening, sleeping = await open_store(url, read_only=True), await open_store(url, read_only=True)
    try:
        # The writer's process has started and warmed up (its first heartbeat), and the load's too.
        await asyncio.sleep(2 + load * 0.3)
        woken, woken_task = await _poller(listening, interval)
        ticked, ticked_task = await _poller(_Sleeping(sleeping), interval)
        await asyncio.sleep(interval)  # both loops running, the listener listening
        go.set()
        report = await asyncio.get_running_loop().run_in_executor(None, results.get, True, 900)
        if "error" in report:
            raise SystemExit(f"the writer failed: {report['error']}")
        committed = report["committed"]
        deadline = time.monotonic() + 10 * interval
        while (len(woken.seen) < len(committed) or len(ticked.seen) < len(committed)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in (woken_task, ticked_task):
            task.cancel()
        await asyncio.gather(woken_task, ticked_task, return_exceptions=True)
    finally:
        stop.set()
        await listening.close()
        await sleeping.close()
        writer.join(timeout=60)
        for p in loaders:
            p.join(timeout=60)
    out = {}
    for name, app in (("wake-up (wait_for_changes)", woken), ("sleep (fixed 1 tick)", ticked)):
        seen = app.seen[-len(committed):]  # the writer's warm-up heartbeat came before the cursor
        lat = [s - c for s, c in zip(seen, committed)]
        out[name] = {"n": len(lat), "missing": len(committed) - len(seen), "p50": pct(lat, 50),
                     "p95": pct(lat, 95), "p99": pct(lat, 99), "max": max(lat, default=float("nan"))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--gap", default="0.05,0.35", help="seconds between writes: uniform in lo,hi")
    parser.add_argument("--interval", type=float, default=1.0, help="the pollers' interval (default 1 s)")
    parser.add_argument("--load", type=int, default=0,
                        help="other agent processes writing meanwhile (heartbeat, claim), each at --load-pace")
    parser.add_argument("--load-pace", type=float, default=3.0, help="messages/s of each load process")
    parser.add_argument("--pg-url", default=None, help="an existing empty database (default: a throwaway server)")
    args = parser.parse_args(argv)
    gap = tuple(float(x) for x in args.gap.split(","))
    server = None
    if args.pg_url:
        url = args.pg_url
    else:
        server = pg_support.start_server({"max_connections": "400"} if args.load > 80 else None)
        url = pg_support.create_database(server.url, "bench_live")
    try:
        figures = asyncio.run(measure(url, args.writes, gap, args.interval, args.load, args.load_pace))
    finally:
        if server is not None:
            server.stop()
    print(f"# live latency, PostgreSQL: write commit -> seen by a poller ({args.writes} heartbeats, "
          f"gaps uniform {gap[0]:g}-{gap[1]:g} s, interval {args.interval:g} s"
          + (f"; {args.load} other agents writing {args.load_pace:g} messages/s each" if args.load else "") + ")\n")
    print("| poller loop | seen | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|")
    for name, f in figures.items():
        label = name.replace("1 tick", f"{args.interval:g} s tick")
        print(f"| {label} | {f['n']} (missing {f['missing']}) | {f['p50'] * 1000:.1f} | "
              f"{f['p95'] * 1000:.1f} | {f['p99'] * 1000:.1f} | {f['max'] * 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

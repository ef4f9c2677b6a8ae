"""One agent's steps, one process: CPU per heartbeat, claim and complete through the store's API.

Seeds a database in a child process (so this process never builds an input model), then loops
heartbeat -> claim -> complete over a copy of it and prints CPU microseconds per step. Run it from two
checkouts' venvs, alternated, to compare code:

    python tests/bench/bench_steps.py --tasks 1500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time

from swarmdeck.store import open_store


async def seed(path: str, n: int) -> None:
    store = await open_store(path, create=True)
    try:
        await store.register_agent("a1", agent_type="coder")
        for i in range(n):
            await store.enqueue_task(description=f"t{i}", agent_type="coder")
    finally:
        await store.close()


async def steps(path: str, n: int) -> dict[str, float]:
    store = await open_store(path)
    spent = {"heartbeat": 0.0, "claim": 0.0, "complete": 0.0}
    try:
        for _ in range(n):
            a = time.process_time()
            await store.heartbeat("a1")
            b = time.process_time()
            task = await store.claim_task(agent="a1", agent_type="coder")
            c = time.process_time()
            await store.complete_task(task.id, agent="a1", result={"ok": True})
            d = time.process_time()
            spent["heartbeat"] += b - a
            spent["claim"] += c - b
            spent["complete"] += d - c
    finally:
        await store.close()
    return {k: v / n * 1e6 for k, v in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed-only", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_only:
        asyncio.run(seed(args.seed_only, args.tasks))
        return
    folder = tempfile.mkdtemp(prefix="bench-steps-")
    try:
        seeded = os.path.join(folder, "seed.db")
        subprocess.run([sys.executable, __file__, "--tasks", str(args.tasks), "--seed-only", seeded], check=True)
        rows = []
        for r in range(args.rounds):
            path = os.path.join(folder, f"run{r}.db")
            shutil.copy(seeded, path)
            rows.append(asyncio.run(steps(path, args.tasks)))
        print("| step | CPU µs (median of rounds) | rounds |")
        print("|---|---|---|")
        for key in ("heartbeat", "claim", "complete"):
            values = sorted(row[key] for row in rows)
            print(f"| {key} | {values[len(values) // 2]:.0f} | {' · '.join(f'{v:.0f}' for v in (row[key] for row in rows))} |")
        loops = sorted(sum(row.values()) for row in rows)
        print(f"| loop | {loops[len(loops) // 2]:.0f} | |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

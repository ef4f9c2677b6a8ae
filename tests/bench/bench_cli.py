"""CLI benchmark: wall time of one `swarmdeck` call, as an agent driving swarmdeck in a loop pays it.

Times ``swarmdeck task claim`` and ``swarmdeck agent heartbeat`` (each a fresh process, on a seeded
database) beside ``python -c pass`` and ``python -c "import swarmdeck.app.cli"``, interleaved in the
same run so that all of them meet the same machine. Prints p50/p90 per command. A benchmark, not a
test: it passes/fails nothing. The goal: claim and heartbeat under 100 ms p50 on an idle machine.

    python tests/bench/bench_cli.py              # 30 runs of each
    python tests/bench/bench_cli.py --runs 10 --swarmdeck /other/venv/bin/swarmdeck
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


def seed(swarmdeck: str, db: Path, tasks: int) -> None:
    """A database with one registered agent and ``tasks`` ready tasks (enough for every claim)."""
    import asyncio

    from swarmdeck.store import open_store

    subprocess.run([swarmdeck, "--db", str(db), "init"], check=True, capture_output=True)

    async def fill() -> None:
        store = await open_store(db)
        try:
            await store.register_agent("bench-agent", agent_type="coder")
            for i in range(tasks):
                await store.enqueue_task(description=f"task {i}", agent_type="coder")
        finally:
            await store.close()

    asyncio.run(fill())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="calls of each command (default 30)")
    parser.add_argument("--swarmdeck", default=shutil.which("swarmdeck") or "swarmdeck",
                        help="the swarmdeck executable to time (default: the one on PATH)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter for the baselines")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="swarmdeck-bench-cli-"))
    db = folder / "swarm.db"
    try:
        seed(args.swarmdeck, db, args.runs + 5)
        env = {**os.environ, "SWARMDECK_DB": str(db)}
        commands = {
            "python -c pass": [args.python, "-c", "pass"],
            "import swarmdeck.app.cli": [args.python, "-c", "import swarmdeck.app.cli"],
            "swarmdeck task claim": [args.swarmdeck, "task", "claim", "--agent", "bench-agent"],
            "swarmdeck agent heartbeat": [args.swarmdeck, "agent", "heartbeat", "bench-agent", "--completion", "50"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved: every command meets the same machine
            for name, command in commands.items():
                started = time.perf_counter()
                done = subprocess.run(command, env=env, capture_output=True, text=True)
                elapsed = (time.perf_counter() - started) * 1000
                if done.returncode != 0:
                    print(f"{name} failed: {done.stderr.strip()}", file=sys.stderr)
                    return 1
                times[name].append(elapsed)
        print(f"{args.runs} runs each, interleaved; wall ms per call (python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs)")
        print(f"| command | p50 ms | p90 ms |\n|---|---|---|")
        for name, values in times.items():
            print(f"| {name} | {pct(values, 0.5):.0f} | {pct(values, 0.9):.0f} |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

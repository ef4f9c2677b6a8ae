"""CLI benchmark: wall time of one `swarmdeck` call, as an agent driving swarmdeck in a loop pays it.

Times ``swarmdeck task claim`` and ``swarmdeck agent heartbeat`` (bare, and with a field, which
validates it with the input model) as fresh processes on a seeded database, beside ``python -c pass``
and ``python -c "import swarmdeck.app.cli"``, interleaved in the same run so that all of them meet
the same machine. Prints p50/p90 per command and the load average before and after. A benchmark, not
a test: it passes/fails nothing. The goal: claim and heartbeat under 100 ms p50 on an idle machine.

Bytecode: by default the calls run with their bytecode cached, as an installed package runs (pip
compiles it at install): ``PYTHONPYCACHEPREFIX`` points into the benchmark's temporary folder and one
untimed call of each command fills it. ``--bytecode env`` runs them in the environment as it is; with
``PYTHONDONTWRITEBYTECODE=1`` and an editable install that means compiling swarmdeck's own modules
on every call (stdlib and site-packages keep their cached bytecode), about 60 ms more per call.

    python tests/bench/bench_cli.py              # 30 runs of each
    python tests/bench/bench_cli.py --runs 10 --swarmdeck /other/venv/bin/swarmdeck --python /other/venv/bin/python
    python tests/bench/bench_cli.py --bytecode env
    python tests/bench/bench_cli.py --old /old/venv/bin/swarmdeck   # old and new code, interleaved in one run
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


def seed(swarmdeck: str, db: Path, tasks: int, env: dict[str, str]) -> None:
    """A database with one registered agent and ``tasks`` ready tasks (enough for every claim)."""
    import asyncio

    from swarmdeck.store import open_store

    subprocess.run([swarmdeck, "--db", str(db), "init"], check=True, capture_output=True, env=env)

    async def fill() -> None:
        store = await open_store(db)
        try:
            await store.register_agent("bench-agent", agent_type="coder")
            for i in range(tasks):
                await store.enqueue_task(description=f"task {i}", agent_type="coder")
        finally:
            await store.close()

    asyncio.run(fill())


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="calls of each command (default 30)")
    parser.add_argument("--swarmdeck", default=shutil.which("swarmdeck") or "swarmdeck",
                        help="the swarmdeck executable to time (default: the one on PATH)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter for the baselines")
    parser.add_argument("--bytecode", choices=("cached", "env"), default="cached",
                        help="cached (default): bytecode cached in a folder of the run's own, as installed; "
                             "env: the environment as it is (e.g. PYTHONDONTWRITEBYTECODE=1)")
    parser.add_argument("--old", metavar="SWARMDECK",
                        help="also time this swarmdeck executable (older code, in a venv of its own), interleaved: "
                             "its rows are marked (old)")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="swarmdeck-bench-cli-"))
    db = folder / "swarm.db"
    env = {**os.environ, "SWARMDECK_DB": str(db)}
    if args.bytecode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    try:
        seed(args.swarmdeck, db, (2 if args.old else 1) * args.runs + 5, env)  # a task for every claim
        commands = {
            "python -c pass": [args.python, "-c", "pass"],
            'python -c "import swarmdeck.app.cli"': [args.python, "-c", "import swarmdeck.app.cli"],
            "swarmdeck task claim --agent A": [args.swarmdeck, "task", "claim", "--agent", "bench-agent"],
            "swarmdeck agent heartbeat A": [args.swarmdeck, "agent", "heartbeat", "bench-agent"],
            "swarmdeck agent heartbeat A --completion 50": [args.swarmdeck, "agent", "heartbeat", "bench-agent",
                                                            "--completion", "50"],
        }
        if args.old:
            old_python = str(Path(args.old).parent / "python")
            commands['python -c "import swarmdeck.app.cli" (old)'] = [old_python, "-c", "import swarmdeck.app.cli"]
            for name, command in list(commands.items()):
                if name.startswith("swarmdeck"):
                    commands[f"{name} (old)"] = [args.old, *command[1:]]
        if args.bytecode == "cached":
            for command in commands.values():  # untimed: fills the bytecode cache
                subprocess.run(command, env=env, capture_output=True)
        times: dict[str, list[float]] = {name: [] for name in commands}
        started_load = load()
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
              f"{os.cpu_count()} CPUs, bytecode {args.bytecode}); load average {started_load} before, "
              f"{load()} after")
        print("| command | p50 ms | p90 ms |\n|---|---|---|")
        for name, values in times.items():
            print(f"| `{name}` | {pct(values, 0.5):.0f} | {pct(values, 0.9):.0f} |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

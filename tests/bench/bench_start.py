"""Start-up benchmark: from launching a process to the dashboard's first screen loaded and drawn.

Run: python tests/bench/bench_start.py [--repeat 9] [--db PATH] [--old-python OLD/bin/python]

Each round launches fresh interpreters (no warm imports) in turn:

- ``python``: the interpreter alone (``python -c pass``), the floor of any Python tool;
- ``textual``: a bare Textual app with one DataTable, to its first frame (headless), the floor of any
  Textual tool;
- ``swarmdeck``: the dashboard over a seeded database (the demo's project, or ``--db``), as the CLI
  builds it (the bundled embedder, the poller), to its first screen loaded and drawn;
- ``swarmdeck (old)``: the same with ``--old-python`` (another checkout's interpreter), same run.

It prints medians and the ratios to the floors; the machine is shared, so read ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXTUAL = """
from textual.app import App
from textual.widgets import DataTable

class Bare(App):
    def compose(self):
        yield DataTable()

async def main():
    async with Bare().run_test(size=(160, 48)) as pilot:
        await pilot.pause()
import asyncio; asyncio.run(main())
"""

SWARMDECK = """
import asyncio, sys
from swarmdeck.app.tui import SwarmdeckApp
from swarmdeck.store import open_store
from swarmdeck.store.embed import LocalEmbedder

async def main():
    app = SwarmdeckApp(lambda: open_store(sys.argv[1]), title="bench", embedder=LocalEmbedder())
    async with app.run_test(size=(160, 48)) as pilot:
        while not getattr(app.screen, "_loaded", False):
            await asyncio.sleep(0.002)
        await pilot.pause()
asyncio.run(main())
"""


def seeded_db(folder: Path) -> Path:
    from swarmdeck.app.demo import seed
    from swarmdeck.store import open_store

    path = folder / "swarm.db"

    async def build() -> None:
        store = await open_store(path, create=True)
        try:
            await seed(store, reviewer="bench-reviewer", reviewer_key=None)
        finally:
            await store.close()

    asyncio.run(build())
    return path


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--db", type=Path, help="A database to open (default: the demo's project, seeded).")
    parser.add_argument("--old-python", help="Another checkout's interpreter: its dashboard as a baseline.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = args.db or seeded_db(Path(folder))
        variants = {"python": [sys.executable, "-c", "pass"], "textual": [sys.executable, "-c", TEXTUAL],
                    "swarmdeck": [sys.executable, "-c", SWARMDECK, str(db)]}
        if args.old_python:
            variants["swarmdeck (old)"] = [args.old_python, "-c", SWARMDECK, str(db)]
        times: dict[str, list[float]] = {name: [] for name in variants}
        timed(variants["swarmdeck"])  # one warm-up: the OS's file cache, not the interpreter's
        for _ in range(args.repeat):
            for name, command in variants.items():  # interleaved: load on the machine hits all alike
                times[name].append(timed(command))
    median = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"{'variant':16} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for name, values in times.items():
        print(f"{name:16} {median[name]:10.0f} {min(values) * 1000:8.0f} {max(values) * 1000:8.0f}")
    for name in [n for n in times if n.startswith("swarmdeck")]:
        print(f"{name} / textual: {median[name] / median['textual']:.2f}x; "
              f"{name} - textual: {median[name] - median['textual']:.0f} ms")


if __name__ == "__main__":
    main()

"""A process that uses the store ends when its program does, even when nothing closed the store: an agent
script that raises with its store open must exit with its error, not hang at interpreter shutdown."""

from __future__ import annotations

import subprocess
import sys

CRASHES = """
import asyncio, sys
from swarmdeck.store import open_store

async def main():
    store = await open_store(sys.argv[1], create=True)
    await store.register_agent("a1", agent_type="coder")
    await store.list_tasks()  # the reader's connection is open too
    raise RuntimeError("the agent crashed")

asyncio.run(main())
"""


def test_a_script_that_raises_with_its_store_open_exits_with_its_error(tmp_path):
    done = subprocess.run([sys.executable, "-c", CRASHES, str(tmp_path / "swarm.db")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "RuntimeError: the agent crashed" in done.stderr


CRASHES_AFTER_A_CHECKPOINT = """
import asyncio, sys
from swarmdeck.store import open_store
from swarmdeck.store.sqlite import base

base.CHECKPOINT_EVERY = 1  # the first commit is followed by a checkpoint, on a connection of its own

async def main():
    store = await open_store(sys.argv[1], create=True)
    await store.register_agent("a1", agent_type="coder")
    while store.db._checkpointer is None:
        await asyncio.sleep(0.01)
    raise RuntimeError("the agent crashed")

asyncio.run(main())
"""


def test_a_script_that_raises_after_a_checkpoint_exits_with_its_error(tmp_path):
    """The WAL's checkpoint runs on a connection of its own, opened now and then after commits: one left
    open by a script that raised must not keep the process alive either (1 run in 100 or so hung)."""
    done = subprocess.run([sys.executable, "-c", CRASHES_AFTER_A_CHECKPOINT, str(tmp_path / "swarm.db")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "RuntimeError: the agent crashed" in done.stderr

"""What app/poller.py's ``Poller`` needs of the app, without a Textual app: its polls run as asyncio tasks.
Used by the poller's tests (tests/app/test_poller.py) and the live-view benchmark (tests/bench/bench_pg_live.py),
which each add the store and what ``post_message`` does with the events."""

from __future__ import annotations

import asyncio


class TaskWorker:
    """What ``Poller`` needs of a Textual worker: ``wait`` and ``is_finished``."""

    def __init__(self, task: asyncio.Future) -> None:
        self.task = task

    async def wait(self):
        return await self.task

    @property
    def is_finished(self) -> bool:
        return self.task.done()


class PollerHost:
    """What ``Poller`` needs of the app to run its polls: ``run_worker``, here a task."""

    def run_worker(self, work, **options) -> TaskWorker:
        return TaskWorker(asyncio.ensure_future(work()))

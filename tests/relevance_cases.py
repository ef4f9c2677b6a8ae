"""Questions put to the swarm's memory, with the entries a person asking would want to see.

The entries are the seeds' own: the demo's learning records and agent memories (app/demo/project.py,
from seeds 000 and 003) and the chat project's records and memories of tests/store/test_search.py
(seed 003's examples: WebSocket failures, OAuth estimates, Redis pub/sub). Each question names its
relevant entries by title, and the entries that are arguably relevant (``maybe``), which count
neither way. Everything else is irrelevant to it. Two questions are about nothing in the memory.

Shared by tests/bench/bench_relevance.py (which measures how each embedder's similarities fall on
both sides) and the tests of the cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarmdeck.app.demo import project as demo

CHAT = "project:chat"

SEED_FAILURE = {"feature": "realtime chat", "approach": "Bidirectional WebSocket streaming",
                "why_failed": "connections dropped under load", "lesson": "use Redis pub/sub for fan-out"}

CHAT_RECORDS = [
    ("failure", SEED_FAILURE),
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
    ("pattern", {"name": "fan-out through a broker", "description": "publish once, every subscriber receives it"}),
    ("estimate", {"feature": "realtime chat", "estimated_sessions": 2, "actual_sessions": 4}),
]
CHAT_MEMORIES = [
    ("transport", "Server-sent events carry the notification stream"),
    ("ci", "3 tests failed on the CI runner: test_session_lifecycle, test_soft_delete"),
    ("deploy", "build the image, run the migrations, restart the workers one by one"),
    ("websocket-library", "the editor uses the websockets package, version 12"),
    ("load-test", "500 concurrent users for ten minutes; p99 latency 80 ms"),
    ("style", "ruff format, line length 110, no wildcard imports"),
    ("database", "SQLite in WAL mode, one writer connection per process"),
    ("auth", "sessions expire after 12 hours of inactivity"),
    ("redis", "Redis 7 runs beside the API; used for rate limits and pub/sub"),
    ("on-call", "page the lead when the error rate passes 2% for five minutes"),
    ("frontend", "React with a small state store; no server components"),
    ("retry", "agents retry a failed task three times before giving up"),
    ("api-versioning", "version the API in the URL path: /v1, /v2"),
    ("logging", "structured JSON logs, one line per request"),
    ("backups", "nightly database backups kept for 30 days"),
    ("timeouts", "HTTP client timeout 10 s; the proxy drops idle connections after 60 s"),
]


@dataclass(frozen=True)
class Case:
    query: str
    relevant: frozenset[str]
    maybe: frozenset[str] = field(default_factory=frozenset)


def _case(query: str, relevant: list[str], maybe: list[str] = ()) -> Case:  # type: ignore[assignment]
    return Case(query, frozenset(relevant), frozenset(maybe))


CASES = [
    _case("why did websocket fail",
          ["failure: Real-time agent chat", "failure: realtime chat"],
          ["spike: Streaming", "spike: LLM streaming", "websocket-library",
           "decision: use WebSocket for the collaborative editor", "retrospective: realtime chat v2"]),
    _case("database is locked with many agents",
          ["sqlite-busy-fix", "failure: Schema migration"],
          ["decision: SQLite with WAL as the coordination database", "database", "pragma-settings"]),
    _case("OAuth problems",
          ["failure: OAuth login", "estimate: Add OAuth authentication", "retrospective: OAuth"],
          ["auth"]),
    _case("how far off were our estimates",
          ["estimate: Add OAuth authentication", "estimate: Memory service CRUD", "estimate: realtime chat"],
          ["retrospective: OAuth", "retrospective: Session service"]),
    _case("vector search is too slow",
          ["failure: Vector search"],
          ["decision: FTS5 with BM25 for keyword search", "latency-baseline", "failure: search indexing",
           "embedding-model", "decision: nomic-embed-text via Ollama for embeddings when configured"]),
    _case("which embedding model do we use",
          ["embedding-model", "decision: nomic-embed-text via Ollama for embeddings when configured"],
          ["failure: Vector search"]),
    _case("fan-out to many subscribers",
          ["pattern: fan-out through a broker", "failure: Real-time agent chat", "spike: Streaming",
           "failure: realtime chat", "retrospective: realtime chat v2"],
          ["redis", "spike: LLM streaming", "pattern: Transactional outbox"]),
    _case("schema migration on the live database",
          ["failure: Schema migration", "deploy"],
          ["pattern: Transactional outbox", "decision: SQLite with WAL as the coordination database",
           "pragma-settings", "database"]),
    _case("test coverage target", ["coverage-targets"], ["review-checklist", "ci"]),
    _case("code review checklist", ["review-checklist"], ["gate-protocol", "style", "coverage-targets"]),
    _case("what happens at a milestone gate", ["gate-protocol"], []),
    _case("sqlite pragma settings",
          ["pragma-settings"],
          ["decision: SQLite with WAL as the coordination database", "database", "sqlite-busy-fix"]),
    _case("how are notifications delivered",
          ["transport", "decision: keep SSE for notifications"],
          ["decision: use WebSocket for the collaborative editor", "on-call"]),
    _case("rate limiting", ["redis"], ["timeouts"]),
    _case("how long are backups kept", ["backups"], []),
    _case("semantic search latency",
          ["latency-baseline"],
          ["failure: Vector search", "load-test", "decision: FTS5 with BM25 for keyword search",
           "embedding-model"]),
    _case("kubernetes helm chart values", [], []),
    _case("quarterly marketing budget", [], []),
]


async def seed(store) -> int:
    """The demo's records and memories and the chat project's; returns how many entries."""
    n = 0
    for suffix, key, value, memory_type, agent in demo.MEMORIES:
        await store.add_memory(f"{demo.NAMESPACE}/{suffix}", key, value, memory_type=memory_type, created_by=agent)
        n += 1
    for kind, fields, agent in demo.RECORDS:
        await store.log_record(kind, fields, namespace=demo.NAMESPACE, agent=agent)
        n += 1
    for kind, fields in CHAT_RECORDS:
        await store.log_record(kind, fields, namespace=CHAT, agent="historian")
        n += 1
    for key, value in CHAT_MEMORIES:
        await store.add_memory(CHAT, key, value, memory_type="semantic", created_by="builder")
        n += 1
    return n

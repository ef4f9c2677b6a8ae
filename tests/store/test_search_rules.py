"""The memory's pure rules, without a store: FTS5 queries, rank fusion, namespace prefixes,
snippets, document chunks and learning records."""

from __future__ import annotations

import re

import pytest
import sqlean
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmdeck.store import learning, search
from swarmdeck.store.errors import InvalidArgument

# -- fts_query ----------------------------------------------------------------------------------

#: What fts_query may produce: quoted terms (embedded quotes doubled), OR-ed, the last one maybe a prefix.
_SAFE_QUERY = re.compile(r'^"(?:[^"]|"")+"\*?(?: OR "(?:[^"]|"")+"\*?)*$')


@pytest.fixture(scope="module")
def fts():
    """An FTS5 table tokenised like search_fts, to run generated queries against."""
    conn = sqlean.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(title, body, tokenize = 'porter unicode61 remove_diacritics 2')")
    conn.executemany("INSERT INTO t (title, body) VALUES (?, ?)", [
        ("failure: realtime chat", "approach: Bidirectional WebSocket streaming\nwhy failed: connections dropped"),
        ("decision: use SSE", "rationale: simpler than websockets, works through proxies"),
        ("pattern: outbox", "description: write events and state in one transaction"),
    ])
    yield conn
    conn.close()


def _matches(conn, text: str) -> list[str]:
    query = search.fts_query(text)
    if query is None:
        return []
    return [r[0] for r in conn.execute("SELECT title FROM t WHERE t MATCH ? ORDER BY rowid", (query,))]


class TestFtsQuery:
    def test_stopwords_go_and_the_last_word_is_a_prefix(self):
        assert search.fts_query("why did websocket fail") == '"websocket" OR "fail"*'

    def test_a_trailing_space_means_the_last_word_is_finished(self):
        assert search.fts_query("websocket fail ") == '"websocket" OR "fail"'
        assert search.fts_query("websocket fail", prefix_last=False) == '"websocket" OR "fail"'

    def test_words_are_lowercased_and_repeats_dropped(self):
        assert search.fts_query("Redis redis REDIS pubsub") == '"redis" OR "pubsub"*'

    def test_a_query_of_only_stopwords_keeps_them(self):
        assert search.fts_query("what is it") == '"what" OR "is" OR "it"*'

    @pytest.mark.parametrize("text", ["", "   ", "...", "-- !!", "·"])
    def test_nothing_to_search_for_is_none(self, text):
        assert search.fts_query(text) is None

    def test_fts5_syntax_typed_by_a_person_is_inert(self, fts):
        # Unquoted, these would be FTS5 operators, column filters or a syntax error.
        for text in ['NEAR(websocket chat)', 'title:websocket', 'websocket AND NOT chat', '"unbalanced',
                     'web* OR ^chat', 'a"b', '(((chat', 'chat + -websocket']:
            query = search.fts_query(text)
            assert query is not None and _SAFE_QUERY.match(query), (text, query)
            fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (query,)).fetchone()  # no syntax error

    def test_prefix_and_stemming_find_the_failure(self, fts):
        assert _matches(fts, "why did websocket fail") == ["failure: realtime chat", "decision: use SSE"]
        assert _matches(fts, "connection drop ") == ["failure: realtime chat"]  # porter: connections, dropped
        assert _matches(fts, "outb") == ["pattern: outbox"]

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=40))
    def test_any_text_gives_none_or_a_query_fts5_accepts(self, fts, text):
        query = search.fts_query(text)
        if query is None:
            assert search.terms(text) == []
            return
        assert _SAFE_QUERY.match(query), query
        fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (query,)).fetchone()


def test_terms_are_the_meaningful_lowercase_words():
    assert search.terms("Why did the WebSocket fail?") == ["websocket", "fail"]
    assert search.terms("why") == ["why"]
    assert search.terms("") == []


# -- rrf ------------------------------------------------------------------------------------------


class TestRrf:
    def test_scores_on_explicit_rankings(self):
        fused = search.rrf([[1, 2, 3], [3, 1, 4]], k=60)
        assert [item for item, _ in fused] == [1, 3, 2, 4]
        scores = dict(fused)
        assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
        assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
        assert scores[2] == pytest.approx(1 / 62)
        assert scores[4] == pytest.approx(1 / 63)

    def test_found_by_both_beats_first_in_one(self):
        # 7 is second in both lists; 1 and 2 each top one list only.
        fused = search.rrf([[1, 7, 3], [2, 7, 4]])
        assert fused[0][0] == 7
        assert {fused[1][0], fused[2][0]} == {1, 2}

    def test_ties_keep_first_appearance(self):
        assert [i for i, _ in search.rrf([[1, 2], [2, 1]])] == [1, 2]
        assert [i for i, _ in search.rrf([[2, 1], [1, 2]])] == [2, 1]
        assert [i for i, _ in search.rrf([[5], [6]])] == [5, 6]

    def test_k_and_weights(self):
        assert dict(search.rrf([[9]], k=0))[9] == pytest.approx(1.0)
        assert [i for i, _ in search.rrf([[1], [2]], weights=[1.0, 2.0])] == [2, 1]
        assert dict(search.rrf([[1], [1]], weights=[0.5, 0.25], k=1))[1] == pytest.approx(0.25 + 0.125)

    def test_one_ranking_keeps_its_order_and_empty_is_empty(self):
        assert [i for i, _ in search.rrf([[4, 2, 9, 1]])] == [4, 2, 9, 1]
        assert search.rrf([]) == []
        assert search.rrf([[], []]) == []

    @given(st.permutations(list(range(40))), st.permutations(list(range(40))),
           st.integers(0, 39), st.integers(0, 39))
    def test_in_both_lists_always_beats_in_one_list(self, a, b, cut_a, cut_b):
        # Lists no longer than k: anything both rankings found outranks anything only one found.
        a, b = a[:cut_a + 1], b[:cut_b + 1]
        fused = [i for i, _ in search.rrf([a, b])]
        both = [i for i in fused if i in a and i in b]
        one = [i for i in fused if (i in a) != (i in b)]
        if both and one:
            assert max(fused.index(i) for i in both) < min(fused.index(i) for i in one)
        assert sorted(fused) == sorted(set(a) | set(b))


# -- namespace prefixes ---------------------------------------------------------------------------


def _utf8_between(ns: str, low: str, high: str) -> bool:
    """SQLite's BINARY collation: compare UTF-8 bytes."""
    return low.encode() <= ns.encode() < high.encode()


def _in_scope(prefix: str, ns: str) -> bool:
    exact, low, high = search.namespace_scope(prefix)
    return ns == exact or _utf8_between(ns, low, high)


class TestNamespacePrefix:
    """A prefix names whole segments: `project:a` is project:a and what lies under project:a/,
    never project:ab. A prefix ending in `/` or `:` is open: a plain string prefix."""

    NAMESPACES = ["project:a", "project:a/agent:x", "project:a/agent:x/run:1", "project:ab", "project:a-old",
                  "project:a.b", "project:a0", "project:", "project", "projects:a", "other:project:a"]

    @pytest.mark.parametrize("prefix, expected", [
        ("project:a", {"project:a", "project:a/agent:x", "project:a/agent:x/run:1"}),
        ("project:a/", {"project:a/agent:x", "project:a/agent:x/run:1"}),
        ("project:a/agent:", {"project:a/agent:x", "project:a/agent:x/run:1"}),
        ("project:a/agent:x", {"project:a/agent:x", "project:a/agent:x/run:1"}),
        ("project:", {n for n in NAMESPACES if n.startswith("project:")}),
        ("project", {"project"}),
        ("project:ab", {"project:ab"}),
    ])
    def test_what_a_prefix_selects(self, prefix, expected):
        assert {n for n in self.NAMESPACES if search.namespace_matches(prefix, n)} == expected
        assert {n for n in self.NAMESPACES if _in_scope(prefix, n)} == expected

    @settings(max_examples=500)
    @given(st.text("ab/:-.0é\U0010ffff", min_size=1, max_size=6), st.text("ab/:-.0é\U0010ffff", max_size=8))
    def test_the_ranges_select_exactly_what_the_rule_says(self, prefix, tail):
        for ns in (prefix + tail, tail, prefix[:-1] + tail):
            if ns:
                assert _in_scope(prefix, ns) == search.namespace_matches(prefix, ns), (prefix, ns)

    @settings(max_examples=500)
    @given(st.text(min_size=1, max_size=6).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
           st.text(max_size=6).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)))
    def test_upper_bound_is_exact_for_any_text(self, prefix, tail):
        bound = search.prefix_upper_bound(prefix)
        for s in (prefix + tail, tail, prefix + "\U0010ffff" + tail):
            assert _utf8_between(s, prefix, bound) == s.startswith(prefix), (prefix, s)

    def test_upper_bound_of_a_last_character_that_cannot_grow(self):
        assert search.prefix_upper_bound("ab") == "ac"
        assert search.prefix_upper_bound("a\U0010ffff") == "b"
        assert search.prefix_upper_bound("a\ud7ff") == "a\ue000"  # never a surrogate: it cannot be UTF-8


# -- snippets ---------------------------------------------------------------------------------------


class TestSnippet:
    def test_window_around_the_first_match_with_spans_on_the_words(self):
        body = "x " * 200 + "The WebSocket stream failed under load " + "y " * 200
        text, spans = search.snippet(body, ["websocket", "fail"], width=120)
        assert text.startswith("…") and text.endswith("…")
        assert [text[a:b] for a, b in spans] == ["WebSocket", "fail"]
        assert len(text) <= 120 + 2

    def test_short_text_is_whole_with_every_match(self):
        text, spans = search.snippet("Redis  pub/sub\nfor fan-out; redis again", ["redis"])
        assert text == "Redis pub/sub for fan-out; redis again"  # whitespace collapsed, nothing cut
        assert [text[a:b] for a, b in spans] == ["Redis", "redis"]

    def test_agent_text_stays_plain_text(self):
        body = "[bold red]alert[/] \x1b[31m <a href='x'>fail</a>"
        text, spans = search.snippet(body, ["fail"])
        assert text == " ".join(body.split())  # nothing interpreted or removed
        assert [text[a:b] for a, b in spans] == ["fail"]

    def test_no_match_starts_at_the_beginning(self):
        text, spans = search.snippet("alpha beta gamma " * 30, ["zeta"], width=50)
        assert text.startswith("alpha beta") and text.endswith("…") and spans == ()

    def test_overlapping_matches_merge(self):
        text, spans = search.snippet("websockets", ["websocket", "sockets"])
        assert spans == ((0, 10),)


# -- chunks -----------------------------------------------------------------------------------------


class TestChunkText:
    def test_short_and_empty(self):
        assert search.chunk_text("  one paragraph  ") == ["one paragraph"]
        assert search.chunk_text("") == []
        assert search.chunk_text(" \n\n ") == []

    def test_cuts_at_sentence_or_paragraph_ends_with_overlap(self):
        paragraphs = [" ".join(f"Sentence {p}.{s} of paragraph {p}." for s in range(25)) for p in range(4)]
        text = "\n\n".join(paragraphs)
        chunks = search.chunk_text(text, size=1200, overlap=150)
        assert len(chunks) >= 3
        assert all(len(c) <= 1200 for c in chunks)
        assert all(c.endswith(".") for c in chunks)  # never cut mid-sentence when a boundary was near
        for before, after in zip(chunks, chunks[1:]):
            # the next chunk repeats the end of the previous one (context for the embedding)
            assert after[:20] in before
        assert chunks[0].startswith("Sentence 0.0") and chunks[-1].endswith("of paragraph 3.")

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.integers(100, 600), st.data())
    def test_chunks_cover_every_word_in_order(self, sentence_lengths, size, data):
        # numbered words ending in "x": a word cut at a chunk's edge is never mistaken for a whole one
        overlap = data.draw(st.integers(8, size), label="overlap")
        counter = iter(range(10_000))
        text = " ".join(" ".join(f"w{next(counter)}x" for _ in range(n)) + "." for n in sentence_lengths)
        chunks = search.chunk_text(text, size=size, overlap=overlap)
        assert all(0 < len(c) <= size and c in text for c in chunks)
        words = [[int(w) for w in re.findall(r"\bw(\d+)x\b", c)] for c in chunks]
        assert set().union(*map(set, words)) == set(range(sum(sentence_lengths))), "a word is in no chunk whole"
        for ws in words:
            assert ws == list(range(ws[0], ws[0] + len(ws))) if ws else True, "a chunk skips words"
        firsts = [ws[0] for ws in words if ws]
        assert firsts == sorted(firsts), "chunks out of order"
        # every step moves on by at least a quarter of a chunk: no run of near-duplicates
        assert len(chunks) <= len(text) // (size // 4) + 1

    def test_a_large_overlap_makes_no_near_duplicate_chunks(self):
        text = " ".join(f"Sentence number {i:03d} is here and a bit longer." for i in range(20))
        chunks = search.chunk_text(text, size=100, overlap=90)
        assert len(chunks) <= 2 * len(text) // 100 + 1, len(chunks)
        assert len(set(chunks)) == len(chunks)


# -- learning records -------------------------------------------------------------------------------

EXAMPLES = {
    "failure": {"feature": "realtime chat", "approach": "Bidirectional WebSocket streaming",
                "why_failed": "connections dropped under load", "lesson": "use Redis pub/sub for fan-out",
                "cost_minutes": 90},
    "decision": {"decision": "keep SSE, cut WebSocket", "rationale": "one transport is enough",
                 "alternatives": ["long polling", "WebSocket"], "status": "accepted"},
    "retrospective": {"feature": "OAuth", "surprises": "more complex than expected",
                      "new_patterns": ["token refresh queue"], "spike_accuracy": 70.5},
    "spike": {"feature": "LLM streaming", "question": "Can we stream LLM via WebSocket?",
              "approach": "Bidirectional WebSocket", "result": "Viable with Redis", "viable": True,
              "time_spent": 45},
    "pattern": {"name": "outbox", "description": "write events and state in one transaction",
                "when_to_use": "whenever a change must be announced"},
    "estimate": {"feature": "Add OAuth authentication", "estimated_sessions": 3, "actual_sessions": 5,
                 "complexity_score": 7.5, "files_created": 4, "files_modified": 9, "notes": "took longer",
                 "completed_at": 1_790_000_000},
    "pattern_usage": {"pattern_id": "outbox", "pipeline_id": "feat-1707412345678-ab12cd",
                      "file_path": "store/sqlite/uow.py", "compliance_score": 85, "used_at": 1_790_000_000},
    "agent_log": {"agent_name": "builder", "phase": "building", "action": "build", "pipeline_id": "feat-1",
                  "input_summary": "step 3 of 7", "output_summary": "2 files written", "duration_ms": 5400,
                  "success": True, "timestamp": 1_790_000_000},
    "pipeline_state": {"pipeline_id": "feat-1", "feature_request": "Add user authentication",
                       "status": "building", "project_path": "/project/path", "planned_steps": 7,
                       "completed_steps": 3, "state": {"decomposition": {"total_steps": 7}}},
    "docs_cache": {"library": "fastapi", "version": "0.115.0", "source_url": "https://fastapi.tiangolo.com/",
                   "fetched_at": 1_790_000_000, "expires_at": 1_790_604_800},
    "complexity_snapshot": {"file_path": "store/sqlite/uow.py", "lines": 711, "functions": 40,
                            "dependencies": 12, "complexity_score": 31.5, "snapshot_at": 1_790_000_000},
}


class TestLearningRecords:
    def test_every_kind_has_an_example_and_validates(self):
        assert set(EXAMPLES) == set(learning.KINDS)
        for kind, fields in EXAMPLES.items():
            assert learning.validate(kind, fields) == fields

    @pytest.mark.parametrize("kind", list(learning.KINDS))
    def test_each_required_field_is_required(self, kind):
        required = learning.KINDS[kind].required
        for name in required:
            for empty in ({}, {name: None}, {name: ""}, {name: []}):
                fields = {k: v for k, v in EXAMPLES[kind].items() if k != name} | empty
                with pytest.raises(InvalidArgument, match=f"an? {kind} needs .*{name}"):
                    learning.validate(kind, fields)

    @pytest.mark.parametrize("kind", list(learning.KINDS))
    def test_unknown_fields_are_refused_naming_the_allowed_ones(self, kind):
        with pytest.raises(InvalidArgument, match="unknown field.*files_(created|deleted).*allowed: ") as err:
            learning.validate(kind, EXAMPLES[kind] | {"files_created": 3} if kind != "estimate"
                              else EXAMPLES[kind] | {"files_created": 3, "files_deleted": 1})
        for name in learning.KINDS[kind].required:
            assert name in str(err.value)

    @pytest.mark.parametrize("kind, name", [
        ("failure", "cost_minutes"), ("retrospective", "spike_accuracy"), ("spike", "time_spent"),
        ("estimate", "estimated_sessions"), ("estimate", "actual_sessions"), ("estimate", "complexity_score"),
    ])
    @pytest.mark.parametrize("bad", ["3", True, [1], {"n": 1}])
    def test_numeric_fields_take_numbers_only(self, kind, name, bad):
        with pytest.raises(InvalidArgument, match=f"{name} must be a number"):
            learning.validate(kind, EXAMPLES[kind] | {name: bad})
        assert learning.validate(kind, EXAMPLES[kind] | {name: 1})[name] == 1

    def test_viable_is_a_boolean_and_text_fields_are_text(self):
        with pytest.raises(InvalidArgument, match="viable must be true or false"):
            learning.validate("spike", EXAMPLES["spike"] | {"viable": "yes"})
        with pytest.raises(InvalidArgument, match="lesson must be text"):
            learning.validate("failure", EXAMPLES["failure"] | {"lesson": 42})
        with pytest.raises(InvalidArgument, match="alternatives must be text or a list of text"):
            learning.validate("decision", EXAMPLES["decision"] | {"alternatives": ["a", 2]})

    def test_unknown_kind_and_non_mapping_fields(self):
        with pytest.raises(InvalidArgument, match="record kind must be one of failure, decision"):
            learning.validate("lesson", {})
        with pytest.raises(InvalidArgument, match="must be an object"):
            learning.validate("failure", ["feature"])

    def test_optional_none_is_dropped(self):
        assert "error" not in learning.validate("failure", EXAMPLES["failure"] | {"error": None})

    def test_title_and_body(self):
        fields = EXAMPLES["failure"]
        assert learning.title("failure", fields) == "failure: realtime chat"
        assert learning.body("failure", fields).splitlines() == [
            "feature: realtime chat", "approach: Bidirectional WebSocket streaming",
            "why failed: connections dropped under load", "lesson: use Redis pub/sub for fan-out",
            "cost minutes: 90",
        ]
        assert "alternatives: long polling; WebSocket" in learning.body("decision", EXAMPLES["decision"])

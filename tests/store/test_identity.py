"""The canonical form of identities (store/identity.py), without a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmdeck.store import identity
from swarmdeck.store.errors import InvalidArgument

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u034f", "\ufe0f"]
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
        "\u200e", "\u200f", "\u061c"]


@pytest.mark.parametrize("spelling", [
    "alice", "Alice", "ALICE", " alice", "alice ", "\talice\n", "ａｌｉｃｅ", "ALİCE".replace("İ", "I"),
    *[f"al{ch}ice" for ch in ZERO_WIDTH + BIDI], *[f"{ch}alice{ch}" for ch in BIDI],
])
def test_every_spelling_is_one_identity(spelling):
    assert identity.canonical(spelling) == "alice"
    assert identity.same(spelling, "alice")


def test_what_stays_distinct():
    assert identity.key("alice smith") == identity.key("alice   smith") == identity.key("alice\u00a0smith")
    assert identity.key("alice-smith") != identity.key("alice smith") != identity.key("alicesmith")
    assert identity.key("straße") == "strasse" and identity.key("ﬁnn") == "finn"  # casefold, NFKC ligature
    assert not identity.same("", "") and not identity.same("bad\x1b", "bad\x1b")  # nobody is nobody else


@pytest.mark.parametrize("name, why", [
    ("", "is empty"), ("   ", "is empty"), ("\u200b\u200d", "is empty"), ("\u202e", "is empty"),
    ("a\x00b", "control character (U+0000)"), ("a\tb", "control character (U+0009)"),
    ("a\x9bb", "control character (U+009B)"), ("a\ue000", "private-use character"),
    ("x" * 201, "limit 200"),
])
def test_names_that_cannot_be_anyone(name, why):
    with pytest.raises(InvalidArgument) as info:
        identity.canonical(name, "the agent name")
    assert str(info.value).startswith("the agent name ") and why in str(info.value)
    assert identity.key(name) is None


def test_not_text_is_not_a_name():
    with pytest.raises(InvalidArgument, match="must be text, not int"):
        identity.canonical(7)
    assert identity.key(None) is None


@pytest.mark.parametrize("text, shows", [
    ("ok", True), (" x ", True), ("\u0301", True), ("", False), ("   \n\t", False), ("\u200b", False),
    ("\u200b\u200c\u200d\u2060\ufeff\u00ad", False), ("\u202e\u2066\u200f", False), ("\u2800", False),
    ("\x1b\x07", False), (None, False), ("\u3000", False),
])
def test_texts_that_must_say_something(text, shows):
    assert identity.has_content(text) is shows
    if shows:
        assert identity.require_content(text, "a note") == text.strip()
    else:
        with pytest.raises(InvalidArgument, match="a note must say something"):
            identity.require_content(text, "a note")


@given(st.text(max_size=40))
def test_canonical_is_idempotent_and_stable(name):
    key = identity.key(name)
    if key is not None:
        assert identity.key(key) == key
        assert identity.key(f" \u200b{name}\n") == key
        assert identity.has_content(key)

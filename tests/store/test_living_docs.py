"""The living documents (store/living_docs.py): the same records give the same bytes, in time-then-id
order, and what agents wrote renders as the text itself: no link, image, HTML, heading or list from it.

Rendered with markdown-it in its GitHub-like preset (tables, strikethrough, autolinks), as GitHub's
Markdown links what it does: URLs, www. addresses and e-mail addresses (no bare domains)."""

from __future__ import annotations

import html
import json
import random
import re
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from test_search_rules import EXAMPLES

from swarmdeck.store import living_docs
from swarmdeck.store.living_docs import md, md_line
from swarmdeck.store.models import LearningRecord
from swarmdeck.store.text import scrub
from support import EPOCH

STORE_BACKENDS = ("sqlite", "postgres")

EVIL = ("<script>alert(1)</script> **bold** _it_ [link](javascript:alert(1)) ![img](http://x/y.png) "
        "<https://auto.link> https://example.com/a_b www.example.org me@example.com &amp; | cell | `code` ~~s~~")


def renderer() -> MarkdownIt:
    m = MarkdownIt("gfm-like")
    m.linkify.set({"fuzzy_link": False})  # GitHub links no bare domain
    return m


def inline_text(rendered: str) -> str:
    """The text a reader sees in rendered HTML: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


def tags(rendered: str) -> set[str]:
    return set(re.findall(r"<\s*/?\s*([a-zA-Z0-9]+)", rendered))


def rec(kind: str, fields: dict, *, id: int, at: float, agent: str = "builder") -> LearningRecord:
    return LearningRecord(id, kind, "project:x", f"{kind}: t", fields, agent, None, None, None,
                          datetime.fromtimestamp(at, tz=timezone.utc))


# -- escaping ------------------------------------------------------------------------------------------------

MARKUP = list("\\`*_[]()<>|~&!#+-=.:;/@ \t0123456789abcXYZ\"'{}") + [
    "http://", "https://", "www.", "mailto:", "a@b.co", "&amp;", "&#60;", "<b>", "</b>", "1.", "1)", "-->", "é", "\u202e",
    "``", "\r"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(MARKUP), max_size=40).map("".join))
def test_a_line_renders_as_the_text_itself_and_nothing_else(text):
    rendered = renderer().render(md_line(text))
    assert tags(rendered) <= {"p", "code"}, (text, rendered)
    assert inline_text(rendered).strip() == scrub(text).strip(), (text, md_line(text), rendered)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(MARKUP + ["\n", "\n\n", "    ", "\n---\n", "\n# ", "\n> ", "\n```\n"]),
                max_size=40).map("".join))
def test_many_lines_make_no_block_of_their_own(text):
    rendered = renderer().render(md(text))
    assert tags(rendered) <= {"p", "code", "br"}, (text, md(text), rendered)
    seen = re.sub(r"\s+", "", inline_text(rendered))
    lines = text.replace("\r\n", "\n").replace("\r", "\n")  # md takes every line ending as one
    assert seen == re.sub(r"\s+", "", scrub(lines)), (text, md(text), rendered)


def test_evil_text_stays_readable():
    line = md_line(EVIL)
    assert "\\<script\\>" in line and "`https://example.com/a_b`" in line and "`www.example.org`" in line
    rendered = renderer().render(line)
    assert tags(rendered) == {"p", "code"}
    assert inline_text(rendered).strip() == EVIL


def test_a_whole_document_has_only_its_own_structure():
    record = rec("decision", {"decision": EVIL, "rationale": "# heading?\n- list?\n1. list?\n    code?\n> quote?",
                              "alternatives": [EVIL, "---"]}, id=1, at=EPOCH)
    text = living_docs.document("DECISIONS.md", [record])
    rendered = renderer().render(text)
    assert tags(rendered) <= {"h1", "h3", "p", "em", "ul", "li", "strong", "code", "br"}
    assert rendered.count("<h3>") == 1 and rendered.count("<h1>") == 1
    assert rendered.count("<li>") == 4  # rationale, alternatives, and the two alternatives


# -- stable bytes ---------------------------------------------------------------------------------------------


def sample_records() -> list[LearningRecord]:
    out, at = [], EPOCH
    for i, (kind, fields) in enumerate(EXAMPLES.items(), start=1):
        out.append(rec(kind, fields, id=i, at=at))
        at += 60
    out.append(rec("decision", EXAMPLES["decision"] | {"decision": "logged at the same moment"}, id=99, at=EPOCH + 60))
    return out


def test_the_same_records_in_any_order_give_the_same_bytes():
    records = sample_records()
    first = living_docs.export(records)
    for seed in range(5):
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        assert living_docs.export(shuffled) == first
    assert set(first) == {"DECISIONS.md", "FAILURES.md", "PATTERNS.md", "RETROSPECTIVES.md", "ESTIMATES.md",
                          "learning.json"}


def test_records_are_in_time_then_id_order_and_all_are_in_the_snapshot():
    records = sample_records()
    decisions = living_docs.document("DECISIONS.md", records)
    assert decisions.index("keep SSE, cut WebSocket") < decisions.index("logged at the same moment")  # id 2 < 99
    snap = json.loads(living_docs.snapshot(records))
    assert [(r["created_at"], r["id"]) for r in snap["records"]] == sorted((r["created_at"], r["id"])
                                                                          for r in snap["records"])
    assert {r["kind"] for r in snap["records"]} == set(EXAMPLES)


def test_a_new_record_adds_lines_and_changes_none():
    records = sample_records()
    before = living_docs.document("FAILURES.md", records).splitlines()
    later = rec("failure", EXAMPLES["failure"] | {"feature": "later"}, id=200, at=EPOCH + 3600)
    after = living_docs.document("FAILURES.md", [*records, later]).splitlines()
    assert after[: len(before)] == before and len(after) > len(before)


@pytest.mark.parametrize("kinds", [("pattern", "pattern_usage"), ("retrospective", "spike")])
def test_a_document_of_two_kinds_has_a_section_for_each(kinds):
    name = next(n for n, (_, held, _) in living_docs.DOCUMENTS.items() if held == kinds)
    text = living_docs.document(name, [])
    assert text.count("\n## ") == 2 and text.count("records yet.") == 2

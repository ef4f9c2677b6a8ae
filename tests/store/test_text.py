"""Untrusted text made safe to show: the one scrub the CLI, the widgets and the charts share."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from swarmdeck.store.text import scrub

#: Characters that change how the rest of a line is shown, or that cannot be seen at all.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064\U000e0001\U000e0041"


def test_bidi_controls_are_shown_as_visible_escapes():
    assert scrub("invoice\u202efdp.exe") == "invoice\\u202efdp.exe"
    assert scrub("a\u2066b\u2069c\u200fd\u061ce") == "a\\u2066b\\u2069c\\u200fd\\u061ce"
    for ch in BIDI:
        assert scrub(ch) == f"\\u{ord(ch):04x}", hex(ord(ch))


def test_zero_width_and_invisible_characters_are_shown_as_visible_escapes():
    assert scrub("ad\u200bmin") == "ad\\u200bmin"
    assert scrub("soft\xadhyphen") == "soft\\xadhyphen"
    assert scrub("\ufeffbom") == "\\ufeffbom"
    assert scrub("tag\U000e0041") == "tag\\U000e0041"  # tag characters can smuggle hidden ASCII
    for ch in INVISIBLE:
        shown = scrub(ch)
        assert shown.startswith("\\") and shown.isascii() and shown.isprintable(), hex(ord(ch))
    # Hangul fillers are letters by category, yet draw nothing: escaped too.
    assert scrub("a\u3164b\u115fc") == "a\\u3164b\\u115fc"


def test_terminal_controls_are_escaped_as_before():
    assert scrub("\x1b[31mred\x1b[0m \x9b2J \x07\x00\x7f") == "\\x1b[31mred\\x1b[0m \\x9b2J \\x07\\x00\\x7f"
    assert scrub("a\rb\x0bc\x0cd") == "a\\rb\\x0bc\\x0cd"


@pytest.mark.parametrize("text", [
    "plain ascii [bold]markup stays text[/]",
    "line one\nline two\tand a tab",
    "עברית and العربية read right to left by themselves",
    "naïve café, e\u0301 combining, 漢字, emoji 🚀👍🏽",
    "",
])
def test_ordinary_text_newlines_and_tabs_pass_unchanged(text):
    assert scrub(text) == text


def test_every_control_format_surrogate_and_separator_character_is_escaped():
    """Checked against this Python's own Unicode database, so a newer Unicode cannot slip one past."""
    missed = []
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        if ch in "\n\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            shown = scrub(ch)
            if not (shown.startswith("\\") and shown.isascii() and shown.isprintable()):
                missed.append(hex(code))
    assert not missed, missed


def test_scrubbing_twice_changes_nothing_more():
    once = scrub("\x1b[1m\u202eevil\u200b\n")
    assert scrub(once) == once


def test_non_text_values_are_shown_by_their_text():
    assert scrub(42) == "42"
    assert scrub(None) == "None"


def test_the_cli_the_widgets_and_the_charts_share_one_scrub():
    from swarmdeck.app.output import plain
    from swarmdeck.widgets import charts, text

    assert plain is scrub and text.scrub is scrub and charts.scrub is scrub

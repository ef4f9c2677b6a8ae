"""Untrusted text made safe to show, for every interface: the CLI's human output, the dashboard, the charts.

Agents write names, descriptions, evidence, memories... and any of it may hold characters that act on
the terminal or on the reader instead of being read: C0/C1 controls (escape sequences), bidi controls
that reorder what follows (U+202E makes ``invoice‮fdp.exe`` read as ``invoiceexe.pdf``), and invisible
characters (zero-width spaces and joiners, the BOM, soft hyphens, tag characters that smuggle hidden
ASCII). ``scrub`` shows each of them as a visible escape (``\\x1b``, ``\\u202e``) instead. Newline and tab
pass: each caller decides how lines are laid out. Letters of right-to-left scripts are text, not controls,
and pass unchanged.

No UI import here: the widgets and the CLI both use this one function. ``--json`` output and the store
keep the exact text; only what is shown to a person is scrubbed.
"""

from __future__ import annotations

import re

#: Every character to show escaped, as regex ranges. Unicode categories Cc (controls, bar \t and \n),
#: Cf (format: bidi controls, zero-width characters, BOM, soft hyphen, invisible operators, tags...),
#: Cs (lone surrogates, which no terminal can even encode), Zl/Zp (line/paragraph separators), and a
#: few letters and marks that draw nothing (Hangul fillers, the combining grapheme joiner, Khmer
#: inherent vowels). Kept as literal ranges, not computed at import (a scan of every code point costs
#: a fifth of a second per CLI call); tests/store/test_text.py checks it against Python's Unicode
#: database, so a newer Unicode cannot add a format character unnoticed.
_ESCAPED_RANGES = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # Cc
    "\xad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"  # Arabic/Syriac format, Arabic letter mark
    "\u115f\u1160\u17b4\u17b5\u180e"  # Hangul fillers, Khmer inherent vowels, Mongolian vowel separator
    "\u200b-\u200f"  # zero-width space, (non-)joiner, LRM, RLM
    "\u2028-\u202e"  # line/paragraph separators, bidi embeddings and overrides
    "\u2060-\u2064\u2066-\u206f"  # word joiner, invisible operators, bidi isolates, deprecated formats
    "\u3164\ufeff\uffa0\ufff9-\ufffb"  # Hangul filler, BOM / zero-width no-break space, annotations
    "\ud800-\udfff"  # lone surrogates
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"  # language tag, tag characters
)
_ESCAPED = re.compile(f"[{_ESCAPED_RANGES}]")


def escape_char(ch: str) -> str:
    """One character as a visible escape: ``\\x1b``, ``\\r``, ``\\u202e``, ``\\U000e0041``."""
    shown = repr(ch)[1:-1]
    if shown != ch:  # Python spells controls and unprintables itself (\r, \x1b, \u200b)
        return shown
    code = ord(ch)  # a printable filler (U+3164 draws nothing, yet Python calls it printable)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def scrub(value: object) -> str:
    """The text with controls, bidi and invisible characters shown as visible escapes; newline and tab kept."""
    return _ESCAPED.sub(lambda m: escape_char(m.group()), str(value))

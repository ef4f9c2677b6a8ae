"""Who someone is, in one canonical form. Pure: no database, no UI.

Agent and reviewer names (and everything that names one of them: a report's submitter, a decision's
reviewer, who closed a condition or resumed the swarm) are compared, and stored, in one form, so that
``"Builder-1 "``, ``"builder-1"`` and ``"builder\u200b-1"`` are one identity and never two:

1. Unicode NFKC (compatibility forms fold: fullwidth letters, ligatures, no-break spaces),
2. invisible characters removed: every format character (Unicode category Cf: zero-width space,
   joiners, word joiner, BOM, soft hyphen, the bidi embeddings, overrides, isolates and marks, tag
   characters) and the other default-ignorable code points (variation selectors, the Hangul fillers,
   the combining grapheme joiner, ...),
3. case-folded (``str.casefold``, then NFKC again, as Unicode's NFKC_Casefold does),
4. surrounding whitespace stripped (a newline from a shell included) and inner runs of spaces made one.

A name that is empty after that, or still holds a control, surrogate, private-use or unassigned
character, is refused: it could not be shown or compared honestly.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from .errors import InvalidArgument
from .limits import MAX_NAME  # the longest name, in characters of its canonical form

#: Default-ignorable code points that are not format characters (Cf is removed by category).
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong / jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned specials
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE0FFF),  # tags and variation selectors supplement
)

#: Characters that show as blank space without being whitespace to Python: treated as whitespace.
_BLANK = str.maketrans({"\u2800": " "})  # braille pattern blank

#: Categories a name may not hold once invisible characters are gone.
_REFUSED = {"Cc": "a control character", "Cs": "a lone surrogate", "Co": "a private-use character",
            "Cn": "an unassigned character"}


def invisible(ch: str) -> bool:
    """A character that shows nothing (or only steers how others show): dropped from identities."""
    if unicodedata.category(ch) == "Cf":
        return True
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _IGNORABLE_RANGES)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_BLANK)
    text = "".join(ch for ch in text if not invisible(ch))
    return unicodedata.normalize("NFKC", text.casefold()).strip()


@lru_cache(maxsize=4096)
def _canonical(name: str) -> tuple[str | None, str | None]:
    """(canonical form, None) or (None, why it is refused)."""
    key = _fold(name)
    if not key:
        return None, "is empty once spaces and invisible characters are removed"
    for ch in key:  # inside the name, a newline or a tab is a control character too
        what = _REFUSED.get(unicodedata.category(ch))
        if what is not None:
            return None, f"contains {what} (U+{ord(ch):04X})"
    key = " ".join(key.split())
    if len(key) > MAX_NAME:
        return None, f"is {len(key)} characters, limit {MAX_NAME}"
    return key, None


def canonical(name: object, what: str = "name") -> str:
    """The canonical form of an identity, or InvalidArgument saying why ``name`` cannot be one."""
    if not isinstance(name, str):
        raise InvalidArgument(f"{what} must be text, not {type(name).__name__}")
    key, why = _canonical(name)
    if key is None:
        raise InvalidArgument(f"{what} {name!r} {why}")
    return key


def key(name: object) -> str | None:
    """The canonical form, or None if ``name`` cannot be anyone (so it matches nobody)."""
    return _canonical(name)[0] if isinstance(name, str) else None


def same(a: object, b: object) -> bool:
    """Whether two names are one identity (a name that is nobody is nobody else either)."""
    ka = key(a)
    return ka is not None and ka == key(b)


def has_content(text: object) -> bool:
    """Whether a text shows something: not only whitespace, control and invisible characters."""
    if not isinstance(text, str):
        return False
    for ch in unicodedata.normalize("NFKC", text).translate(_BLANK):
        if ch.isspace() or invisible(ch) or unicodedata.category(ch) in _REFUSED:
            continue
        return True
    return False


def require_content(text: object, what: str) -> str:
    """``text`` with surrounding whitespace stripped, or InvalidArgument if it shows nothing."""
    if not has_content(text):
        raise InvalidArgument(f"{what} must say something: it is empty, or only spaces and invisible characters")
    return text.strip()  # type: ignore[union-attr]

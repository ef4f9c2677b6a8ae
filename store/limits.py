"""How big and how deep anything written to the store may be: the limits, and the checks that apply them.

One place for both. The store runs these checks at the top of every public write, so no face (the CLI,
the MCP server, the status bridge, the dashboard, the Python API) can write past them; a face that wants
to refuse earlier (before reading a whole file, say) calls the same functions. Every check takes the
field's name and its value and raises ``InvalidArgument`` with a message that names the field and the
limit (``description: 10485760 characters, limit 65536``), so typed input models can use them as their
validators unchanged.

Readers decode stored JSON with ``decode_stored``: a value written before these limits existed that is
too deep to decode safely is read as a note saying so, instead of breaking every reader of its row.

Pure: no I/O, no SQL, no Textual.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidArgument

#: Containers within containers in one JSON value (``[[1]]`` is 2 deep).
MAX_JSON_DEPTH = 32
#: One JSON value (task input or result, memory value or metadata, session state or payload), as
#: compact UTF-8 JSON.
MAX_JSON_BYTES = 1_000_000
#: Names and identities: agents, agent types, milestones, reviewers, actors, session ids, kinds, colours.
MAX_NAME = 200
#: One line: summaries, memory namespaces and keys, document paths, phases, next milestones.
MAX_LINE = 500
#: Prose: descriptions, errors, reasons, rationales, notes, conditions, blockers, actions, report
#: entries, learning record fields.
MAX_TEXT = 65_536
#: A memory's text value, a document's content.
MAX_DOCUMENT = 1_000_000
#: A whole validation report, as compact UTF-8 JSON.
MAX_REPORT_BYTES = 1_000_000
#: Entries in one list of text (blockers, conditions, deliverables, report criteria...).
MAX_ITEMS = 1_000
#: Stored JSON deeper than this (written before the limits, or around swarmdeck) is read as a note.
READ_JSON_DEPTH = 64


class Unreadable(dict):
    """What a reader gets in place of a stored value too deep to decode safely: ``{"unreadable": why}``,
    a plain JSON object to every consumer, and told apart from real data with ``isinstance``."""

    def __init__(self, what: str) -> None:
        super().__init__(unreadable=f"{what} is nested deeper than {READ_JSON_DEPTH} levels and is not shown "
                                    f"(stored before swarmdeck limited JSON to {MAX_JSON_DEPTH} levels)")


def too_long(what: str, length: int, limit: int, *, more: bool = False) -> InvalidArgument:
    """The error for text past its limit (``more``: at least ``length`` characters; the rest was not read)."""
    return InvalidArgument(f"{what}: {'more than ' if more else ''}{length} characters, limit {limit}")


def too_big(what: str, size: int, limit: int, *, more: bool = False) -> InvalidArgument:
    """The error for JSON past its size limit (``more``: at least ``size`` bytes; the rest was not read)."""
    return InvalidArgument(f"{what}: {'more than ' if more else ''}{size} bytes of JSON, limit {limit}")


def too_deep(what: str, limit: int = MAX_JSON_DEPTH) -> InvalidArgument:
    return InvalidArgument(f"{what}: nested deeper than {limit} levels (limit {limit})")


def check_text(what: str, value: Any, limit: int = MAX_TEXT) -> None:
    """Text of at most ``limit`` characters that SQLite can store (valid UTF-8: no lone surrogates,
    which is what Python makes of argv or file bytes that are not UTF-8). Anything that is not a
    ``str`` is left to the caller's own checks."""
    if not isinstance(value, str):
        return
    if len(value) > limit:
        raise too_long(what, len(value), limit)
    _utf8(what, value)


def check_fields(**fields: tuple[Any, int]) -> None:
    """``check_text`` for each ``name=(text, limit)``: several fields of one call in one line."""
    for what, (value, limit) in fields.items():
        check_text(what, value, limit)


def check_texts(what: str, values: Any, limit: int = MAX_TEXT, *, max_items: int = MAX_ITEMS) -> None:
    """A list of text: at most ``max_items`` entries, each checked as ``check_text`` (named ``what[i]``)."""
    if values is None or isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        return
    items = values if isinstance(values, (list, tuple)) else list(values)
    if len(items) > max_items:
        raise InvalidArgument(f"{what}: {len(items)} entries, limit {max_items}")
    for i, item in enumerate(items):
        check_text(f"{what}[{i}]", item, limit)


def check_json(what: str, value: Any, *, max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH) -> None:
    """A value JSON can hold, at most ``max_depth`` containers deep and ``max_bytes`` long encoded."""
    if value is None:
        return
    if json_depth(value, max_depth) > max_depth:
        if _cyclic(value):
            raise InvalidArgument(f"{what} must be JSON-serialisable (it contains itself)")
        raise too_deep(what, max_depth)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:  # ValueError: NaN or infinity, which other readers refuse
        raise InvalidArgument(f"{what} must be JSON-serialisable ({exc})") from None
    size = len(_utf8(what, text))
    if size > max_bytes:
        raise too_big(what, size, max_bytes)


def json_depth(value: Any, stop_after: int = MAX_JSON_DEPTH) -> int:
    """How many containers deep ``value`` goes, counted without recursion; once past ``stop_after`` the
    walk stops and returns ``stop_after + 1`` (so a cyclic or absurdly deep value costs nothing more)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        depth += 1
        if depth > stop_after:
            return stop_after + 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def _cyclic(value: Any) -> bool:
    """Whether a container holds itself, at any depth (a value JSON can never encode)."""
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, leaving = stack.pop()
        if leaving:
            on_path.discard(id(item))
            continue
        if not isinstance(item, (dict, list, tuple)):
            continue
        if id(item) in on_path:
            return True
        on_path.add(id(item))
        stack.append((item, True))
        stack.extend((child, False) for child in (item.values() if isinstance(item, dict) else item))
    return False


def parse_json(what: str, text: str | bytes, *, max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON text from outside (an argument, a file, stdin) decoded within the limits. Its size is checked
    before it is parsed and its depth before anything uses it; nesting too deep even for Python's parser
    is reported the same way. Syntax errors are ``json.JSONDecodeError``, for the caller to word."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise too_big(what, size, max_bytes)
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep(what, max_depth) from None
    if json_depth(value, max_depth) > max_depth:
        raise too_deep(what, max_depth)
    return value


def decode_stored(text: str | None, what: str) -> Any:
    """A JSON column as readers get it: decoded, unless it is too deep to hand on safely (stored before
    the limits existed), in which case a note saying so stands in for it. Cheap for ordinary values:
    only text with more brackets than the limit allows is looked at closely."""
    if text is None:
        return None
    if text.count("[") + text.count("{") <= READ_JSON_DEPTH:
        return json.loads(text)
    try:
        value = json.loads(text)
    except RecursionError:
        return Unreadable(what)
    if json_depth(value, READ_JSON_DEPTH) > READ_JSON_DEPTH:
        return Unreadable(what)
    return value


def not_utf8(what: str, exc: UnicodeEncodeError) -> InvalidArgument:
    """The error for text that cannot be stored as UTF-8. Python keeps argv and file bytes that are not
    UTF-8 as lone surrogates (U+DC80-U+DCFF for the bytes 0x80-0xFF): name the byte."""
    ch = exc.object[exc.start] if isinstance(exc.object, str) else "?"
    shown = f"the byte \\x{ord(ch) - 0xDC00:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF else f"the lone surrogate {ch!a}"
    return InvalidArgument(f"{what}: not valid UTF-8 text ({shown} at character {exc.start})")


def _utf8(what: str, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise not_utf8(what, exc) from None

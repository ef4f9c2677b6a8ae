"""Agent-written text, made safe to show.

Everything an agent wrote (descriptions, names, evidence, blockers, rationales) is untrusted:
it is shown as plain text. `Text(...)` is never parsed for markup, and control, bidi and invisible
characters are replaced by visible escapes (`scrub`, shared with the CLI) so none can take effect.
Any Textual API that would parse a str as markup (Select and OptionList options, Static, Label,
titles) gets agent text only as one of these `Text` objects; `notify`, which takes only a str, gets
it scrubbed with markup off (the app enforces that for every toast).
"""

from __future__ import annotations

from rich.text import Text

from swarmdeck.store.text import scrub

__all__ = ["Cell", "cell", "highlighted", "safe", "scrub", "sort_key"]


def safe(value: object, style: str = "", *, one_line: bool = False) -> Text:
    """A Rich Text of untrusted content: never markup, never escapes."""
    text = scrub("" if value is None else value)
    if one_line:
        text = text.replace("\n", " ⏎ ").replace("\t", " ")
    return Text(text, style=style, end="")


class Cell(Text):
    """A table cell that sorts by a value of its own (a number, a time) rather than its text.
    One line, never wrapped: too long for its column, it ends with an ellipsis."""

    def __init__(self, text: str, style: str = "", *, sort_value: object = None) -> None:
        super().__init__(text, style=style, end="", no_wrap=True, overflow="ellipsis")
        self.sort_value = text if sort_value is None else sort_value


def cell(value: object, style: str = "", *, sort_value: object = None) -> Cell:
    """An untrusted value as a sortable, markup-free, escape-free cell."""
    text = scrub("" if value is None else value).replace("\n", " ⏎ ")
    return Cell(text, style, sort_value=sort_value)


def sort_key(value: object) -> object:
    """Sort key for LiveTable cells: their own sort value, with None/mixed types kept orderable."""
    v = getattr(value, "sort_value", value)
    if isinstance(v, Text):
        v = v.plain
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


def highlighted(value: str, spans: tuple[tuple[int, int], ...], style: str = "bold reverse") -> Text:
    """Untrusted text with character spans highlighted: styled by span, never by markup.

    Each piece is scrubbed separately so the spans still land on the right characters.
    """
    out = Text(end="")
    cursor = 0
    for start, end in spans:
        if start < cursor or end <= start:
            continue
        out.append(scrub(value[cursor:start]))
        out.append(scrub(value[start:end]), style=style)
        cursor = end
    out.append(scrub(value[cursor:]))
    return out

"""Seed 003's living documents: the learning records as Markdown files (DECISIONS.md, FAILURES.md,
PATTERNS.md, RETROSPECTIVES.md, ESTIMATES.md) and a JSON snapshot of every record. Pure.

Made to be kept in git: the same records give the same bytes (records ordered by the time they were
logged, then id; no clock reading, no machine-dependent text), so a diff shows what was learned.

Text an agent wrote is data: ``md`` renders it so that nothing in it becomes a link, an image, HTML, a
heading, a list or a code block, while it still reads as written (punctuation escaped with a backslash;
bare URLs and e-mail addresses, which Markdown would link, set as code).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import learning
from .text import scrub

if TYPE_CHECKING:
    from .models import LearningRecord

#: Characters escaped wherever they are: emphasis, code, links and images, HTML and autolinks,
#: entities, tables, strikethrough, and the escape itself.
_INLINE = re.compile(r"([\\`*_\[\]<>|~&])")
#: What would start a block at the beginning of a line: a heading, a list item, a setext underline.
_LINE_START = re.compile(r"^([#+\-=])")
_ORDERED = re.compile(r"^(\d{1,9})([.)])")
#: What GitHub's Markdown (GFM's autolink extension) turns into a link without any brackets: URLs,
#: www. addresses, e-mail addresses, mailto: and xmpp: links.
_AUTOLINK = re.compile(r"(?:https?://|ftp://|www\.|mailto:|xmpp:)[^\s]*|[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
                       re.IGNORECASE)


def _code(text: str) -> str:
    """Text as a code span, fenced with one backtick more than its longest run of them."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _trimmed(link: str) -> str:
    """A bare link without the punctuation that ends its sentence (as GitHub leaves it out): trailing
    ``.,:;!?'"`` and a ``)`` that closes nothing inside it."""
    while link:
        if link[-1] in ".,:;!?'\"" or (link[-1] == ")" and link.count(")") > link.count("(")):
            link = link[:-1]
        else:
            break
    return link


def md_line(line: str) -> str:
    """One line of untrusted text as Markdown inline text that renders as the text itself."""
    line = scrub(line).strip()
    parts: list[tuple[bool, str]] = []  # (is a link, text); links side by side are one code span
    last = 0
    for found in _AUTOLINK.finditer(line):
        link = _trimmed(found.group())
        if found.start() > last:
            parts.append((False, line[last:found.start()]))
        if parts and parts[-1][0]:
            parts[-1] = (True, parts[-1][1] + link)
        else:
            parts.append((True, link))
        last = found.start() + len(link)
    if last < len(line):
        parts.append((False, line[last:]))
    text = "".join(_code(part) if is_link else _INLINE.sub(r"\\\1", part) for is_link, part in parts)
    if text.startswith("`"):  # a code span first: nothing to guard
        return text
    text = _LINE_START.sub(r"\\\1", text)
    return _ORDERED.sub(r"\1\\\2", text)


def md(text: Any, indent: str = "") -> str:
    """Untrusted (multi-line) text as Markdown: each line escaped (``md_line``), lines kept apart by hard
    breaks, blank lines as paragraph breaks; every line after the first starts with ``indent``."""
    lines = [md_line(line) for line in str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    out = []
    for i, line in enumerate(lines):
        follows = i + 1 < len(lines) and lines[i + 1] != ""
        out.append((indent if i else "") + line + ("\\" if line and follows else "") if line else "")
    return "\n".join(out)


# -- the documents ------------------------------------------------------------------------------------------------

#: File -> (title, the kinds it holds, what it is for).
DOCUMENTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "DECISIONS.md": ("Decisions", ("decision",), "What was decided, why, and what else was weighed."),
    "FAILURES.md": ("Failures", ("failure",), "What was tried and failed, why, and the lesson: never repeat it."),
    "PATTERNS.md": ("Patterns", ("pattern", "pattern_usage"), "Reusable patterns, and where they were used."),
    "RETROSPECTIVES.md": ("Retrospectives", ("retrospective", "spike"),
                          "What each feature taught, and the spikes that tested feasibility first."),
    "ESTIMATES.md": ("Estimates", ("estimate",), "Estimated against actual effort, feature by feature."),
}
SNAPSHOT = "learning.json"
#: Section titles within a document of more than one kind.
_SECTIONS = {"pattern": "Patterns", "pattern_usage": "Pattern usage", "retrospective": "Retrospectives",
             "spike": "Spikes"}


def ordered(records: Iterable[LearningRecord]) -> list[LearningRecord]:
    """By the time they were logged, then id: the one order every export uses."""
    return sorted(records, key=lambda r: (r.created_at.timestamp(), r.id))


def _meta(r: LearningRecord) -> str:
    parts = [f"#{r.id}", r.created_at.strftime("%Y-%m-%d %H:%M UTC"), f"namespace {md_line(r.namespace)}"]
    if r.agent:
        parts.append(f"by {md_line(r.agent)}")
    if r.milestone_id is not None:
        parts.append(f"milestone {r.milestone_id}")
    if r.task_id is not None:
        parts.append(f"task {r.task_id}")
    if r.session_id:
        parts.append(f"session {md_line(r.session_id)}")
    return "_" + " · ".join(parts) + "_"


def record_markdown(r: LearningRecord) -> str:
    """One record: a heading (its title field), who and when, then every other field, labelled."""
    kind = learning.KINDS.get(r.kind)
    names = [*kind.required, *kind.optional] if kind else []
    names += sorted(set(r.fields) - set(names))
    first = names[0] if names else None
    heading = md_line(" ".join(str(r.fields.get(first, r.title)).split())) if first else md_line(r.title)
    lines = [f"### {heading}", "", _meta(r), ""]
    for name in names[1:]:
        if name not in r.fields:
            continue
        value = r.fields[name]
        label = name.replace("_", " ").capitalize()
        if isinstance(value, list):
            lines.append(f"- **{label}:**")
            lines += [f"  - {md(item, '    ')}" for item in value]
        else:
            lines.append(f"- **{label}:** {md(learning.shown(r.kind, name, value), '  ')}")
    return "\n".join(lines).rstrip() + "\n"


def document(filename: str, records: Sequence[LearningRecord]) -> str:
    """One living document of the records of its kinds (others are left out)."""
    title, kinds, purpose = DOCUMENTS[filename]
    mine = [r for r in ordered(records) if r.kind in kinds]
    out = [f"# {title}", "", purpose, "",
           "_Written by `swarmdeck export markdown` from the swarm's learning records; "
           "log a record to change it, not this file._", ""]
    for kind in kinds:
        these = [r for r in mine if r.kind == kind]
        if len(kinds) > 1:
            out += [f"## {_SECTIONS.get(kind, kind)}", ""]
        if not these:
            out += [f"No {kind.replace('_', ' ')} records yet.", ""]
        for r in these:
            out += [record_markdown(r)]
    return "\n".join(out).rstrip() + "\n"


def record_json(r: LearningRecord) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "namespace": r.namespace, "title": r.title, "fields": r.fields,
            "agent": r.agent, "task_id": r.task_id, "milestone_id": r.milestone_id, "session_id": r.session_id,
            "created_at": r.created_at.isoformat()}


def snapshot(records: Iterable[LearningRecord]) -> str:
    """Every record as JSON, in the export's order, keys sorted: one stable text."""
    body = {"format": 1, "records": [record_json(r) for r in ordered(records)]}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def export(records: Iterable[LearningRecord]) -> dict[str, str]:
    """File name -> its text: every living document and the snapshot."""
    records = list(records)
    files = {name: document(name, records) for name in DOCUMENTS}
    files[SNAPSHOT] = snapshot(records)
    return files


def in_namespace(records: Iterable[LearningRecord], prefix: str | None) -> list[LearningRecord]:
    from .search import namespace_matches

    return [r for r in records if not prefix or namespace_matches(prefix, r.namespace)]


def kinds_exported() -> tuple[str, ...]:
    """Every record kind in the snapshot (all of them)."""
    return tuple(learning.KINDS)


def _check(mapping: Mapping[str, Any]) -> None:  # pragma: no cover - a guard for the table above
    unknown = {k for _, kinds, _ in mapping.values() for k in kinds} - set(learning.KINDS)
    if unknown:
        raise ValueError(f"living documents name unknown kinds: {sorted(unknown)}")


_check(DOCUMENTS)

"""What the memory commands share: their command groups, untrusted text on lines, warnings, values."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from swarmdeck.store.limits import MAX_DOCUMENT, too_long

from ...output import plain
from .._base import Config, parse_json_arg

DEFAULT_NAMESPACE = "swarm"


@click.group("memory")
def memory_group() -> None:
    """Versioned memories (namespace + key), hybrid search over everything remembered, the index."""


@click.group("failure")
def failure_group() -> None:
    """Log what was tried and failed, and the lesson (searchable with the memories)."""


@click.group("decision")
def decision_group() -> None:
    """Log decisions with their rationale (searchable with the memories)."""


@click.group("record")
def record_group() -> None:
    """Learning records of every kind seed 003 defines.

    `record log --help` lists the kinds and their fields."""


@click.group("document")
def document_group() -> None:
    """Index documents in chunks so that search finds them."""


@click.group("session")
def session_group() -> None:
    """Agent sessions: status, events and a state object."""



# -- shared helpers ------------------------------------------------------------------------------------------


def one_line(text: Any, width: int | None = None) -> str:
    """Untrusted text on one line: whitespace runs (newlines too) collapsed, control characters escaped."""
    flat = plain(" ".join(str(text).split()))
    if width is not None and len(flat) > width:
        flat = flat[: width - 1] + "…"
    return flat


def indented(text: str, prefix: str = "  ") -> list[str]:
    """Untrusted multi-line text as indented lines (escaped first, so only real newlines split it)."""
    return [prefix + line for line in plain(text).split("\n")]


def warn(cfg: Config, code: str, message: str) -> None:
    """A one-line warning on stderr (a JSON object with --json); the command still succeeds."""
    if cfg.json:
        click.echo(json.dumps({"warning": {"code": code, "message": message}}, ensure_ascii=False), err=True)
    else:
        click.echo(f"swarmdeck: warning: {plain(message)}", err=True)


def read_text_arg(value: str) -> str:
    """'-' reads standard input (one trailing newline dropped, as `$(...)` would), at most a memory
    value's limit of it; else the text itself."""
    if value != "-":
        return value
    text = sys.stdin.read(MAX_DOCUMENT + 2)
    text = text[:-1] if text.endswith("\n") else text
    if len(text) > MAX_DOCUMENT:
        raise too_long("value", MAX_DOCUMENT, MAX_DOCUMENT, more=True)
    return text


def memory_value(value: str, json_value: bool) -> Any:
    if json_value:
        return parse_json_arg(value, "VALUE")
    return read_text_arg(value)

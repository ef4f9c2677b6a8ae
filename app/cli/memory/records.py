"""`swarmdeck failure|decision|record ...`: learning records, logged and read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import click

from swarmdeck.store import learning
from swarmdeck.store.models import LearningRecord

from ...output import plain, when
from .._base import Config, Store, leaf, milestone_ref_id, table
from .._parse import ID
from ._common import DEFAULT_NAMESPACE, decision_group, failure_group, indented, one_line, record_group

def render_record(r: LearningRecord) -> str:
    links = "".join([
        f"  agent {plain(r.agent)}" if r.agent else "",
        f"  task {r.task_id}" if r.task_id is not None else "",
        f"  milestone {r.milestone_id}" if r.milestone_id is not None else "",
        f"  session {plain(r.session_id)}" if r.session_id else "",
        f"  archived {when(r.archived_at)}" if r.archived_at is not None else "",
    ])
    lines = [f"{r.kind} {r.id}  [{plain(r.namespace)}]  {when(r.created_at)}{links}"]
    known = learning.KINDS.get(r.kind)
    required, optional = (known.required, known.optional) if known else ((), ())
    order = [*required, *optional, *sorted(set(r.fields) - set(required) - set(optional))]
    for name in order:
        if name not in r.fields:
            continue
        first, *rest = indented(learning.shown(r.kind, name, r.fields[name]), "    ")
        lines.append(f"  {name.replace('_', ' ')}: {first.strip()}")
        lines += rest
    return "\n".join(lines)


def render_records(records: list[LearningRecord]) -> str:
    if not records:
        return "no records"
    return table([[r.id, r.kind, r.namespace, r.agent or "-", when(r.created_at), one_line(r.title, 70)]
                  for r in records], ["id", "kind", "namespace", "agent", "at", "title"])


def _record_options(fn):
    for option in reversed([
        click.option("--namespace", default=DEFAULT_NAMESPACE, show_default=True),
        click.option("--agent", help="Who learned it (default: --actor / $SWARMDECK_ACTOR)."),
        click.option("--task", "task_id", type=ID),
        click.option("--milestone", "milestone_id", help="Its milestone: id, name or label (M3)."),
        click.option("--session", "session_id"),
    ]):
        fn = option(fn)
    return fn


async def _log(store: Store, cfg: Config, kind: str, fields: dict[str, Any], *, namespace: str,
               agent: str | None, **links: Any) -> LearningRecord:
    from swarmdeck.store.inputs import parse_record

    record = parse_record(kind, {k: v for k, v in fields.items() if v is not None})
    links["milestone_id"] = await milestone_ref_id(store, links.get("milestone_id"))
    return await store.log_record(kind, record.fields(), namespace=namespace, agent=agent or cfg.actor, **links)


@leaf(failure_group, "log", render_record)
@click.option("--feature", required=True, help="What was being built.")
@click.option("--approach", required=True, help="What was tried.")
@click.option("--why", "why_failed", required=True, help="Why it failed.")
@click.option("--lesson", required=True, help="What to do differently.")
@click.option("--error", help="The error seen, if any.")
@click.option("--cost-minutes", type=click.FloatRange(0), help="Time lost, in minutes.")
@_record_options
async def log_failure(store: Store, cfg: Config, namespace: str, agent: str | None, task_id, milestone_id,
                      session_id, **fields) -> LearningRecord:
    """Record a failed approach and its lesson, so that no agent repeats it."""
    return await _log(store, cfg, "failure", fields, namespace=namespace, agent=agent, task_id=task_id,
                      milestone_id=milestone_id, session_id=session_id)


@leaf(decision_group, "log", render_record)
@click.option("--decision", required=True, help="What was decided.")
@click.option("--rationale", required=True, help="Why.")
@click.option("--alternatives", "alternatives", multiple=True, help="An alternative considered (repeatable).")
@click.option("--consequences")
@click.option("--status", help="e.g. accepted, superseded.")
@_record_options
async def log_decision(store: Store, cfg: Config, namespace: str, agent: str | None, task_id, milestone_id,
                       session_id, alternatives: tuple[str, ...], **fields) -> LearningRecord:
    """Record a decision and its rationale."""
    fields["alternatives"] = list(alternatives) or None
    return await _log(store, cfg, "decision", fields, namespace=namespace, agent=agent, task_id=task_id,
                      milestone_id=milestone_id, session_id=session_id)


_NUMERIC_FIELDS = learning.NUMBER_FIELDS  # the fields a record's model wants as numbers
_BOOLEAN_FIELDS = learning.FLAG_FIELDS
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


def field_value(name: str, text: str) -> Any:
    """Numbers and true/false for the fields that hold them; anything unparseable is left as text for the
    store to refuse with a message naming the field."""
    if name in _NUMERIC_FIELDS or name in learning.TIME_FIELDS:  # a time: epoch seconds, else ISO-8601 text
        for kind in (int, float):
            try:
                number = kind(text)
            except ValueError:
                continue
            return number if math.isfinite(number) else text
        return text
    if name in _BOOLEAN_FIELDS:
        low = text.strip().lower()
        return True if low in _TRUE else False if low in _FALSE else text
    return text


def parse_fields(pairs: Sequence[str]) -> dict[str, Any]:
    """`name=value` pairs; a name given more than once makes a list."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        name, eq, text = pair.partition("=")
        name = name.strip()
        if not eq or not name:
            raise click.BadParameter(f"{pair!r} is not name=value", param_hint="--field")
        value = field_value(name, text)
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields


def _kinds_help(fn):
    fn.__doc__ = "\n".join([
        "Log a learning record of any KIND. The fields each kind takes (* = required; after a colon its",
        "type, else text; a time is ISO-8601 or epoch seconds; repeat a name to give a list):",
        "", "\b", *learning.field_help(),
    ])
    return fn


@leaf(record_group, "log", render_record)
@click.argument("kind")
@click.option("--field", "pairs", multiple=True, metavar="NAME=VALUE",
              help="A field (repeatable; repeating a name makes a list).")
@_record_options
@_kinds_help
async def log_record(store: Store, cfg: Config, kind: str, pairs: tuple[str, ...], namespace: str,
                     agent: str | None, **links) -> LearningRecord:
    return await _log(store, cfg, kind, parse_fields(pairs), namespace=namespace, agent=agent, **links)



@leaf(record_group, "get", render_record)
@click.argument("record_id", type=ID)
async def get_record(store: Store, cfg: Config, record_id: int) -> LearningRecord:
    """Show one learning record."""
    return await store.get_record(record_id)


@leaf(record_group, "list", render_records)
@click.option("--kind", help="Only this kind.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
async def list_records(store: Store, cfg: Config, kind: str | None, limit: int) -> list[LearningRecord]:
    """Learning records, newest first."""
    return await store.list_records(kind=kind, limit=limit)

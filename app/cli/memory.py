"""`swarmdeck memory|failure|decision|record|document|session ...`: the swarm's memory as agents use it."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from swarmdeck.store import learning, rules
from swarmdeck.store.errors import InvalidArgument, StoreError
from swarmdeck.store.limits import MAX_DOCUMENT, too_long
from swarmdeck.store.models import (
    Document,
    IndexStatus,
    LearningRecord,
    MemoryEntry,
    SearchHit,
    SearchMode,
    Session,
    SessionEvent,
)

from ..output import plain, when
from ._base import Config, Store, leaf, parse_json_arg, table
from ._parse import ID, PAST

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
    """Learning records of any kind: failure, decision, retrospective, spike, pattern, estimate."""


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


# -- memory entries ------------------------------------------------------------------------------------------


def value_text(e: MemoryEntry) -> str:
    return json.dumps(e.value, ensure_ascii=False, indent=2) if e.is_json else str(e.value)


def entry_head(e: MemoryEntry) -> str:
    deleted = f"  DELETED by {plain(e.deleted_by)} at {when(e.deleted_at)}" if e.deleted_at else ""
    return (f"{plain(e.namespace)} / {plain(e.key)}  v{e.version}  [{e.memory_type}]  "
            f"by {plain(e.created_by)} at {when(e.created_at)}{deleted}")


def render_entry(e: MemoryEntry) -> str:
    lines = [entry_head(e)]
    links = [f"session {plain(e.session_id)}" if e.session_id else "",
             f"task {e.task_id}" if e.task_id is not None else ""]
    if any(links):
        lines.append("  " + "  ".join(x for x in links if x))
    if e.metadata:
        lines.append("  metadata: " + plain(json.dumps(e.metadata, ensure_ascii=False)))
    lines += indented(value_text(e))
    return "\n".join(lines)


def render_entries(entries: list[MemoryEntry]) -> str:
    if not entries:
        return "no memories match"
    return table(
        [[e.namespace, e.key, f"v{e.version}", e.memory_type, e.created_by, when(e.created_at),
          one_line(value_text(e), 60)] for e in entries],
        ["namespace", "key", "version", "type", "by", "at", "value"],
    )


def render_history(entries: list[MemoryEntry]) -> str:
    return table(
        [[f"v{e.version}", e.memory_type, e.created_by, when(e.created_at),
          "deleted" if e.deleted_at else ("current" if e.is_current else ""), one_line(value_text(e), 60)]
         for e in entries],
        ["version", "type", "by", "at", "state", "value"],
    )


def _memory_options(fn):
    for option in reversed([
        click.option("--type", "memory_type", help="semantic, episodic or procedural."),
        click.option("--by", help="Who writes it (default: --actor, else the OS user)."),
        click.option("--json-value", is_flag=True, help="VALUE is JSON ('@file' or '-' for stdin)."),
        click.option("--meta", help="Metadata as a JSON object."),
    ]):
        fn = option(fn)
    return fn


@leaf(memory_group, "add", render_entry)
@click.argument("namespace")
@click.argument("key")
@click.argument("value")
@_memory_options
@click.option("--session", "session_id", help="The session it came from.")
@click.option("--task", "task_id", type=ID, help="The task it came from.")
async def add(store: Store, cfg: Config, namespace: str, key: str, value: str, memory_type: str | None,
              by: str | None, json_value: bool, meta: str | None, session_id: str | None,
              task_id: int | None) -> MemoryEntry:
    """Remember VALUE under NAMESPACE / KEY (version 1; refused if the key exists). '-' reads stdin.

    NAMESPACE is hierarchical, e.g. project:abathur/agent:builder. --type defaults to semantic.
    """
    return await store.add_memory(
        namespace, key, memory_value(value, json_value), memory_type=memory_type or "semantic",
        created_by=by or cfg.who(), session_id=session_id, task_id=task_id,
        metadata=parse_json_arg(meta, "--meta"),
    )


@leaf(memory_group, "update", render_entry)
@click.argument("namespace")
@click.argument("key")
@click.argument("value")
@_memory_options
async def update(store: Store, cfg: Config, namespace: str, key: str, value: str, memory_type: str | None,
                 by: str | None, json_value: bool, meta: str | None) -> MemoryEntry:
    """Write a new version of a memory (the old one stays in its history). '-' reads stdin."""
    return await store.update_memory(
        namespace, key, memory_value(value, json_value), updated_by=by or cfg.who(), memory_type=memory_type,
        metadata=parse_json_arg(meta, "--meta"),
    )


@leaf(memory_group, "get", render_entry)
@click.argument("namespace")
@click.argument("key")
@click.option("--version", type=ID, help="An earlier version (shown even if the memory is deleted).")
async def get(store: Store, cfg: Config, namespace: str, key: str, version: int | None) -> MemoryEntry:
    """Show a memory's current version (or --version N)."""
    return await store.get_memory(namespace, key, version=version)


@leaf(memory_group, "delete", lambda e: f"deleted {plain(e.namespace)} / {plain(e.key)} (v{e.version}); "
                                        "`swarmdeck memory restore` brings it back")
@click.argument("namespace")
@click.argument("key")
@click.option("--by", help="Who deletes it (default: --actor, else the OS user).")
async def delete(store: Store, cfg: Config, namespace: str, key: str, by: str | None) -> MemoryEntry:
    """Soft-delete a memory: hidden from get, list and search; kept in its history; restorable."""
    return await store.delete_memory(namespace, key, deleted_by=by or cfg.who())


@leaf(memory_group, "restore", render_entry)
@click.argument("namespace")
@click.argument("key")
@click.option("--by", help="Who restores it (default: --actor, else the OS user).")
async def restore(store: Store, cfg: Config, namespace: str, key: str, by: str | None) -> MemoryEntry:
    """Undo a delete."""
    return await store.restore_memory(namespace, key, restored_by=by or cfg.who())


@leaf(memory_group, "history", render_history)
@click.argument("namespace")
@click.argument("key")
async def history(store: Store, cfg: Config, namespace: str, key: str) -> list[MemoryEntry]:
    """Every version of a memory, oldest first (deleted ones too)."""
    return await store.memory_history(namespace, key)


@leaf(memory_group, "list", render_entries)
@click.option("--prefix", "namespace_prefix", help="Only namespaces starting with this.")
@click.option("--type", "memory_type", help="semantic, episodic or procedural.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
async def list_memories(store: Store, cfg: Config, **filters) -> list[MemoryEntry]:
    """Current memories, newest first."""
    return await store.list_memories(**filters)


# -- search and the index --------------------------------------------------------------------------------


def render_hits(hits: list[SearchHit]) -> str:
    if not hits:
        return "no matches"
    return "\n".join(
        f"{h.score:8.4g}  {h.kind:<13} {one_line(h.namespace)}  {one_line(h.title, 80)} — "
        f"{one_line(h.snippet)}"
        for h in hits
    )


@leaf(memory_group, "search", render_hits)
@click.argument("query")
@click.option("--mode", type=click.Choice([m.value for m in SearchMode]), default="hybrid", show_default=True,
              help="hybrid fuses keyword (BM25) and semantic (vector) rankings.")
@click.option("--prefix", "namespace_prefix", help="Only namespaces starting with this.")
@click.option("--kind", "kinds", multiple=True,
              help="memory, document, failure, decision, retrospective, spike, pattern, estimate "
                   "(repeatable).")
@click.option("--type", "memory_type", help="Only memories of this type.")
@click.option("--agent", help="Only what this agent wrote.")
@click.option("--since", type=PAST, help="Only newer than this: ISO time, or how long ago (2h, 1d).")
@click.option("--until", type=PAST, help="Only older than this: ISO time, or how long ago.")
@click.option("--limit", type=click.IntRange(1, 500), default=10, show_default=True)
@click.option("--embedder", "embedder_spec", help="local, ollama[:MODEL][@URL] or hash[:DIM] "
                                                  "(default: $SWARMDECK_EMBEDDER, else local).")
async def search(store: Store, cfg: Config, query: str, mode: str, embedder_spec: str | None, since, until,
                 kinds: tuple[str, ...], **filters) -> list[SearchHit]:
    """Ranked memories, learning records and documents; filters apply before the limit.

    If the embedder cannot be used, keyword results are shown with a warning.
    """
    from swarmdeck.store.embed import embedder_from_config  # httpx and friends: only when searching

    filters = dict(kinds=list(kinds), since=since and since.timestamp(), until=until and until.timestamp(),
                   **filters)
    embedder, unavailable = None, None
    if mode != SearchMode.KEYWORD:
        try:
            embedder = embedder_from_config(embedder_spec)
        except StoreError as exc:
            unavailable = str(exc)
    try:
        answer = await rules.search(store, query, mode=mode, embedder=embedder, unavailable=unavailable,
                                    **filters)
    finally:
        if embedder is not None:
            await embedder.aclose()
    if answer.fallback is not None:
        hint = (" (run `swarmdeck memory index`)"
                if answer.fallback is rules.Fallback.INDEX_EMPTY and not answer.detail else "")
        warn(cfg, answer.fallback.value, f"{answer.reason}{hint}; keyword results only")
    return answer.hits


def render_index_run(r: dict) -> str:
    if not r["embedded"]:
        return f"nothing to embed with {r['model']}: {r['pending']} pending, {r['failed']} failed"
    rate = f"{r['texts_per_second']:.0f} texts/s" if r["texts_per_second"] else "-"
    return (f"embedded {r['embedded']} item(s) with {r['model']} (dim {r['dim']}) in {r['seconds']:.2f} s "
            f"({rate}); {r['pending']} pending, {r['failed']} failed")


@leaf(memory_group, "index", render_index_run)
@click.option("--embedder", "embedder_spec", help="local, ollama[:MODEL][@URL] or hash[:DIM] "
                                                  "(default: $SWARMDECK_EMBEDDER, else local).")
@click.option("--batch", type=click.IntRange(1, 4096), default=32, show_default=True, help="Texts per batch.")
async def index(store: Store, cfg: Config, embedder_spec: str | None, batch: int) -> dict:
    """Embed everything not yet embedded (once, then exit); a failing embedder exits 1."""
    from swarmdeck.store.embed import EmbedderError, embedder_from_config
    from swarmdeck.store.indexer import Indexer

    embedder = embedder_from_config(embedder_spec)
    # retry_after=0: someone running this by hand wants earlier failures retried now.
    indexer = Indexer(store, embedder, batch=batch, retry_after=0)
    started = time.perf_counter()
    try:
        total = await indexer.drain()
    except InvalidArgument:
        raise
    except (EmbedderError, OSError, ValueError) as exc:
        done = f"; {indexer.stats.embedded} item(s) were embedded before it" if indexer.stats.embedded else ""
        raise EmbedderError(f"embedding with {embedder.model} failed: {exc}{done}") from None
    finally:
        await embedder.aclose()
    seconds = time.perf_counter() - started
    status = await store.index_status(embedder.model)
    return {"model": embedder.model, "dim": embedder.dim or status.dim, "embedded": total,
            "seconds": round(seconds, 3),
            "texts_per_second": round(total / seconds, 1) if total and seconds else None,
            "pending": status.pending, "failed": status.failed}


def render_index_status(s: IndexStatus) -> str:
    dim = f" (dim {s.dim})" if s.dim else ""
    lines = [f"{s.entries} entries: {s.embedded} embedded, {s.pending} pending, {s.failed} failed  "
             f"model {plain(s.model or '-')}{dim}"]
    if s.last_error:
        lines.append(f"  last error: {one_line(s.last_error)}")
    return "\n".join(lines)


@leaf(memory_group, "status", render_index_status)
@click.option("--embedder", "embedder_spec", help="local, ollama[:MODEL][@URL] or hash[:DIM] "
                                                  "(default: $SWARMDECK_EMBEDDER, else local).")
async def index_status(store: Store, cfg: Config, embedder_spec: str | None) -> IndexStatus:
    """Index health for the configured embedder: entries, embedded, pending, failed, last error."""
    from swarmdeck.store.embed import embedder_from_config

    return await store.index_status(embedder_from_config(embedder_spec).model)


# -- learning records ----------------------------------------------------------------------------------------


def render_record(r: LearningRecord) -> str:
    links = "".join([
        f"  agent {plain(r.agent)}" if r.agent else "",
        f"  task {r.task_id}" if r.task_id is not None else "",
        f"  milestone {r.milestone_id}" if r.milestone_id is not None else "",
        f"  session {plain(r.session_id)}" if r.session_id else "",
    ])
    lines = [f"{r.kind} {r.id}  [{plain(r.namespace)}]  {when(r.created_at)}{links}"]
    required, optional = learning.KINDS.get(r.kind, ((), ()))
    order = [*required, *optional, *sorted(set(r.fields) - set(required) - set(optional))]
    for name in order:
        if name not in r.fields:
            continue
        value = r.fields[name]
        if isinstance(value, list):
            value = "; ".join(map(str, value))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        first, *rest = indented(str(value), "    ")
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
        click.option("--milestone", "milestone_id", type=ID),
        click.option("--session", "session_id"),
    ]):
        fn = option(fn)
    return fn


async def _log(store: Store, cfg: Config, kind: str, fields: dict[str, Any], *, namespace: str,
               agent: str | None, **links: Any) -> LearningRecord:
    from swarmdeck.store.inputs import parse_record

    record = parse_record(kind, {k: v for k, v in fields.items() if v is not None})
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
    if name in _NUMERIC_FIELDS:
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


@leaf(record_group, "log", render_record)
@click.argument("kind")
@click.option("--field", "pairs", multiple=True, metavar="NAME=VALUE",
              help="A field (repeatable; repeating a name makes a list).")
@_record_options
async def log_record(store: Store, cfg: Config, kind: str, pairs: tuple[str, ...], namespace: str,
                     agent: str | None, **links) -> LearningRecord:
    """Log a learning record of any KIND. The fields each kind takes (* = required):

    \b
    failure        feature* approach* why_failed* lesson* error cost_minutes
    decision       decision* rationale* alternatives consequences status
    retrospective  feature* surprises would_change new_patterns spike_accuracy
    spike          feature* question* approach* result* viable lessons time_spent
    pattern        name* description* example when_to_use anti_patterns
    estimate       feature* estimated_sessions* actual_sessions complexity_score notes
    """
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


# -- documents -----------------------------------------------------------------------------------------------


@leaf(document_group, "index", lambda d: f"indexed {plain(d.path)} in {plain(d.namespace)}: {d.chunk_count} "
                                         f"chunk(s), sha256 {d.content_hash[:12]}")
@click.argument("path")
@click.option("--namespace", default=DEFAULT_NAMESPACE, show_default=True)
@click.option("--as", "file_path", help="The name to index it under (default: PATH; required with '-').")
async def index_document(store: Store, cfg: Config, path: str, namespace: str,
                         file_path: str | None) -> Document:
    """Index a UTF-8 text file ('-' for stdin) for search; unchanged content is left as it is."""
    if path == "-":
        if not file_path:
            raise InvalidArgument("reading a document from stdin needs --as NAME to index it under")
        content = sys.stdin.read(MAX_DOCUMENT + 1)
        if len(content) > MAX_DOCUMENT:
            raise too_long("content", MAX_DOCUMENT, MAX_DOCUMENT, more=True)
    else:
        try:
            with open(path, "rb") as f:  # UTF-8 takes at most 4 bytes a character: read no more than that
                data = f.read(4 * MAX_DOCUMENT + 1)
            if len(data) > 4 * MAX_DOCUMENT:
                raise too_long("content", MAX_DOCUMENT, MAX_DOCUMENT, more=True)
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument(f"{path} is not UTF-8 text") from None
        except OSError as exc:
            raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}") from None
    return await store.index_document(namespace, file_path or path, content, actor=cfg.who())


# -- sessions ------------------------------------------------------------------------------------------------


def render_session(s: Session) -> str:
    return "\n".join([
        f"session {plain(s.id)}  [{s.status}]  agent {plain(s.agent_name or '-')}  "
        f"created {when(s.created_at)}  updated {when(s.updated_at)}",
        *indented("state: " + json.dumps(s.state, ensure_ascii=False, indent=2)),
    ])


def render_event(e: SessionEvent) -> str:
    payload = f" {one_line(json.dumps(e.payload, ensure_ascii=False))}" if e.payload else ""
    return f"event {e.id}  {when(e.ts)}  {plain(e.kind)}{payload}"


@leaf(session_group, "create", render_session)
@click.option("--agent", help="The agent the session belongs to.")
@click.option("--id", "session_id", help="Its id (default: a new random one).")
@click.option("--state", help="Initial state as a JSON object.")
async def create_session(store: Store, cfg: Config, agent: str | None, session_id: str | None,
                         state: str | None) -> Session:
    """Start a session (status created; its first event makes it active)."""
    initial = parse_json_arg(state, "--state")
    if initial is not None and not isinstance(initial, dict):
        raise InvalidArgument("--state must be a JSON object")
    return await store.create_session(agent=agent, session_id=session_id, state=initial, actor=cfg.who(agent))


@leaf(session_group, "get", render_session)
@click.argument("session_id")
async def get_session(store: Store, cfg: Config, session_id: str) -> Session:
    """Show a session and its state."""
    return await store.get_session(session_id)


@leaf(session_group, "event", render_event)
@click.argument("session_id")
@click.option("--kind", required=True, help="What happened, e.g. tool_call, note.")
@click.option("--payload", help="A JSON object ('@file' or '-' for stdin).")
async def session_event(store: Store, cfg: Config, session_id: str, kind: str,
                        payload: str | None) -> SessionEvent:
    """Append an event to a session."""
    body = parse_json_arg(payload, "--payload")
    if body is not None and not isinstance(body, dict):
        raise InvalidArgument("--payload must be a JSON object")
    return await store.append_session_event(session_id, kind=kind, payload=body, actor=cfg.who())


@leaf(session_group, "events", lambda es: "\n".join(map(render_event, es)) or "no events")
@click.argument("session_id")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
async def session_events(store: Store, cfg: Config, session_id: str, limit: int) -> list[SessionEvent]:
    """A session's latest events, oldest first."""
    await store.get_session(session_id)  # an unknown session is "not found", not an empty list
    return await store.session_events(session_id, limit=limit)


@leaf(session_group, "state", render_session)
@click.argument("session_id")
@click.option("--set", "new_state", help="A JSON object merged into the state ('@file' or '-' for stdin).")
@click.option("--replace", is_flag=True, help="With --set: replace the whole state instead of merging.")
async def session_state(store: Store, cfg: Config, session_id: str, new_state: str | None,
                        replace: bool) -> Session:
    """Show a session's state, or change it with --set."""
    if new_state is None:
        if replace:
            raise InvalidArgument("--replace needs --set with the new state")
        return await store.get_session(session_id)
    return await store.set_session_state(session_id, parse_json_arg(new_state, "--set"), merge=not replace,
                                         actor=cfg.who())


@leaf(session_group, "status", render_session)
@click.argument("session_id")
@click.argument("status")
async def session_status(store: Store, cfg: Config, session_id: str, status: str) -> Session:
    """Move a session to STATUS: active, paused, terminated or archived."""
    return await store.set_session_status(session_id, status, actor=cfg.who())


GROUPS = (memory_group, failure_group, decision_group, record_group, document_group, session_group)

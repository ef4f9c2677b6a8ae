"""`swarmdeck memory add|update|get|delete|restore|history|list`: versioned memories."""

from __future__ import annotations

import json

import click

from swarmdeck.store.models import MemoryEntry

from ...output import plain, when
from .._base import Config, Store, leaf, parse_json_arg, table
from .._parse import ID
from ._common import indented, memory_group, memory_value, one_line

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

"""`swarmdeck export markdown DIR`: the living documents (store/living_docs.py), written to a folder.
`swarmdeck export replay FILE`: a self-contained replay file of the swarm's history (store/replay/)."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from swarmdeck.store import insights, living_docs
from swarmdeck.store.errors import InvalidArgument

from ._base import Config, Store, leaf, table


@click.group("export")
def export_group() -> None:
    """Write what the swarm learned to files for git."""


def _render(result: dict[str, Any]) -> str:
    changed = sum(1 for f in result["files"] if f["changed"])
    head = (f"{result['records']} record(s) exported to {result['dir']}: "
            + (f"{changed} file(s) changed" if changed else "nothing changed"))
    return head + "\n" + table([[f["file"], f["bytes"], "changed" if f["changed"] else "same"]
                                for f in result["files"]], ["file", "bytes", ""])


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds exactly that; atomically (a temporary file in
    the same folder, renamed over it), so a reader never sees half a document. True if written."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


@leaf(export_group, "markdown", _render)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--namespace", help="Only records under this namespace prefix (project:a matches project:a/...).")
async def markdown(store: Store, cfg: Config, directory: Path, namespace: str | None) -> dict[str, Any]:
    """The living documents and a JSON snapshot, written to DIRECTORY.

    DECISIONS.md, FAILURES.md, PATTERNS.md, RETROSPECTIVES.md, ESTIMATES.md and learning.json (every
    record), in DIRECTORY (created if missing). The same records always give the same bytes, in the
    order they were logged, so the files diff well in git; a file whose text is unchanged is not touched.
    Agent text is escaped so that it cannot become links, images or HTML."""
    records = []
    for kind in living_docs.kinds_exported():
        records += await insights.records_of(store, kind)
    records = living_docs.in_namespace(records, namespace)
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in living_docs.export(records).items():
        changed = write_if_changed(directory / name, text)
        files.append({"file": name, "bytes": len(text.encode("utf-8")), "changed": changed})
    return {"dir": str(directory), "records": len(records), "files": files}


def history_ref(text: str | None, option: str) -> int | datetime | None:
    """An event id (digits) or a time: ISO-8601 (UTC if no zone is given) or how long ago (30m, 2h, 1d)."""
    if text is None:
        return None
    text = text.strip()
    if text.isdigit():
        if len(text) > 18:  # beyond any event id (a 64-bit integer)
            raise InvalidArgument(f"{option}: {text[:20]}… is no event id: too large")
        return int(text)
    from swarmdeck.store import timeparse

    try:
        return timeparse.past(text)
    except ValueError as exc:
        raise InvalidArgument(f"{option}: {exc}; or give an event id") from None


def _render_replay(result: dict[str, Any]) -> str:
    return (f"replay of events {result['first_id']}..{result['last_id']} written to {result['file']} "
            f"({result['bytes']} bytes): open it with `swarmdeck replay {result['file']}`")


@leaf(export_group, "replay", _render_replay)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "start", metavar="TIME|ID", help="The first event: an id, or a time (ISO-8601, or 2h ago).")
@click.option("--to", "end", metavar="TIME|ID", help="The last event: an id, or a time (the last event at or "
              "before it). Default: the newest.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
async def replay(store: Store, cfg: Config, file: Path, start: str | None, end: str | None,
                 force: bool) -> dict[str, Any]:
    """The swarm's history from --from to --to, written to FILE: a self-contained SQLite file that
    `swarmdeck replay FILE` opens anywhere, with no access to this database (a post-mortem to hand on).

    It holds the state at --from, everything as it stood at --to, and the events between. Written
    under a temporary name and renamed; an existing FILE is refused unless --force."""
    from swarmdeck.store.replay.engine import export_replay

    first, last = await export_replay(cfg.db, file, start=history_ref(start, "--from"),
                                      end=history_ref(end, "--to"), force=force, read_only=cfg.read_only)
    return {"file": str(file), "first_id": first, "last_id": last, "bytes": file.stat().st_size}

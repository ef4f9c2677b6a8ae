"""Memory: sessions, versioned memory entries, learning records and documents (searched through the search
index, store/search_index.py), the same on both backends: each store builds ``Memory`` over its database and
its search index, whose ``sql`` (store/sql_dialect.py) turns these statements into its backend's."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from . import learning, retention, search as rules
from .errors import Conflict, InvalidArgument, InvalidTransition, NotFound
from .events import EventKind
from .limits import (
    MAX_DOCUMENT,
    MAX_LINE,
    MAX_NAME,
    Unreadable,
    check_json,
    check_text,
    decode_stored,
)
from .models import (
    Document,
    LearningRecord,
    MemoryEntry,
    MemoryType,
    Session,
    SessionEvent,
    SessionStatus,
    from_ts,
)
from .rows import dumps, loads
from .search_index import SearchIndex, Tx, parse_memory_type
from .sql_dialect import Sql

_SESSION_FLOW = {
    SessionStatus.CREATED: {SessionStatus.ACTIVE, SessionStatus.TERMINATED},
    SessionStatus.ACTIVE: {SessionStatus.PAUSED, SessionStatus.TERMINATED},
    SessionStatus.PAUSED: {SessionStatus.ACTIVE, SessionStatus.TERMINATED},
    SessionStatus.TERMINATED: {SessionStatus.ARCHIVED},
    SessionStatus.ARCHIVED: set(),
}


def _text(value: Any, what: str, limit: int = MAX_NAME) -> str:
    """Non-empty text, kept exactly as given: a key written is the key read back."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{what} must be non-empty text")
    check_text(what, value, limit)
    return value


def _namespace(value: Any) -> str:
    """Hierarchical namespaces: `project:abathur/agent:builder` — no empty segments."""
    ns = _text(value, "namespace", MAX_LINE)
    if any(not part.strip() for part in ns.split("/")):
        raise InvalidArgument(f"namespace {ns!r} has an empty segment (use e.g. project:x/agent:y)")
    return ns


def _encode_value(value: Any) -> tuple[str, bool]:
    if isinstance(value, str):
        if not value.strip():
            raise InvalidArgument("a memory needs a non-empty value")
        check_text("value", value, MAX_DOCUMENT)
        return value, False
    check_json("value", value)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")), True
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"value must be text or JSON-serialisable ({exc})") from None


def _searchable(value: Any, is_json: bool) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1) if is_json else value


def _entry(row: Any) -> MemoryEntry:
    value = decode_stored(row["value"], "value") if row["is_json"] else row["value"]
    return MemoryEntry(
        id=row["id"], namespace=row["namespace"], key=row["key"], version=row["version"], value=value,
        is_json=bool(row["is_json"]), memory_type=MemoryType(row["memory_type"]), created_by=row["created_by"],
        session_id=row["session_id"], task_id=row["task_id"], metadata=loads(row["metadata"], "metadata") or {},
        created_at=from_ts(row["created_at"]), is_current=bool(row["is_current"]),
        deleted_at=from_ts(row["deleted_at"]), deleted_by=row["deleted_by"],
    )


def _record(row: Any) -> LearningRecord:
    return LearningRecord(
        id=row["id"], kind=row["kind"], namespace=row["namespace"], title=row["title"],
        fields=decode_stored(row["fields"], "fields"), agent=row["agent"], task_id=row["task_id"],
        milestone_id=row["milestone_id"], session_id=row["session_id"], created_at=from_ts(row["created_at"]),
        archived_at=from_ts(row["archived_at"]),
    )


def _session(row: Any) -> Session:
    return Session(row["id"], row["agent_name"], SessionStatus(row["status"]), decode_stored(row["state"], "state"),
                   from_ts(row["created_at"]), from_ts(row["updated_at"]))


class Memory:
    """Sessions, memory entries, learning records and documents; what is searchable goes into the
    search index it is given (``SearchIndex``), in the same transaction."""

    __slots__ = ("db", "index", "sql", "_one", "_all", "_write")

    def __init__(self, db: Any, index: SearchIndex) -> None:
        self.db = db
        self.index = index
        # The backend's SQL, reads and writes: the search index's (its statements are turned into the
        # backend's, and its write transactions take them: store/sql_dialect.py).
        self.sql: Sql = index.sql
        self._one, self._all, self._write = index._one, index._all, index._write

    # -- sessions -------------------------------------------------------------------------------------

    async def create_session(self, *, agent: str | None = None, session_id: str | None = None,
                             state: Mapping[str, Any] | None = None, actor: str | None = None) -> Session:
        for what, name in (("agent", agent), ("session_id", session_id), ("actor", actor)):
            check_text(what, name, MAX_NAME)
        check_json("state", state)
        sid = session_id or uuid.uuid4().hex
        state_json = dumps(dict(state or {}))

        def in_tx(tx: Tx) -> Session:
            if tx.one("SELECT 1 FROM sessions WHERE id = ?", (sid,)):
                raise Conflict(f"session {sid} already exists")
            tx.run("INSERT INTO sessions (id, agent_name, status, state, created_at, updated_at) "
                   "VALUES (?, ?, 'created', ?, ?, ?)", (sid, agent, state_json, tx.now, tx.now))
            tx.event(EventKind.SESSION_CREATED, "session", sid, {"agent": agent})
            return _session(tx.one("SELECT * FROM sessions WHERE id = ?", (sid,)))

        return await self._write(actor or agent or "unknown", in_tx)

    async def get_session(self, session_id: str) -> Session:
        row = await self._one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            raise NotFound(f"session {session_id} does not exist", entity="session", key=session_id)
        return _session(row)

    async def set_session_status(self, session_id: str, status: SessionStatus | str, *,
                                 actor: str = "unknown") -> Session:
        check_text("actor", actor, MAX_NAME)
        try:
            target = SessionStatus(status)
        except ValueError:
            raise InvalidArgument(f"session status must be one of "
                                  f"{', '.join(s.value for s in SessionStatus)}, not {status!r}") from None

        def in_tx(tx: Tx) -> Session:
            row = tx.one("SELECT * FROM sessions WHERE id = ?", (session_id,))
            if row is None:
                raise NotFound(f"session {session_id} does not exist", entity="session", key=session_id)
            current = SessionStatus(row["status"])
            if target not in _SESSION_FLOW[current]:
                raise InvalidTransition(f"session {session_id} is {current}; it cannot become {target}")
            tx.run("UPDATE sessions SET status = ?, updated_at = ? WHERE id = ?",
                   (target.value, tx.now, session_id))
            tx.event(EventKind(f"session.{target.value}"), "session", session_id, {})
            return _session(tx.one("SELECT * FROM sessions WHERE id = ?", (session_id,)))

        return await self._write(actor, in_tx)

    async def append_session_event(self, session_id: str, *, kind: str, payload: Mapping[str, Any] | None = None,
                                   state_delta: Mapping[str, Any] | None = None,
                                   actor: str = "unknown") -> SessionEvent:
        """Append an event; ``state_delta`` (merged into the session's state) lands in the same transaction."""
        kind = _text(kind, "event kind")
        check_text("actor", actor, MAX_NAME)
        if state_delta is not None and not isinstance(state_delta, Mapping):
            raise InvalidArgument("state_delta must be an object")
        check_json("payload", payload)
        check_json("state_delta", state_delta)
        try:
            body = json.dumps(dict(payload or {}), ensure_ascii=False)
            delta = json.dumps(dict(state_delta or {}), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"payload and state_delta must be JSON-serialisable ({exc})") from None

        def in_tx(tx: Tx) -> SessionEvent:
            row = tx.one("SELECT status FROM sessions WHERE id = ?", (session_id,))
            if row is None:
                raise NotFound(f"session {session_id} does not exist", entity="session", key=session_id)
            if row[0] in (SessionStatus.TERMINATED, SessionStatus.ARCHIVED):
                raise InvalidTransition(f"session {session_id} is {row[0]}; it takes no more events")
            event_id = self.sql.insert(tx, "INSERT INTO session_events (session_id, ts, kind, payload) "
                                       "VALUES (?, ?, ?, ?)", (session_id, tx.now, kind, body))
            if row[0] == SessionStatus.CREATED:
                tx.run("UPDATE sessions SET status = 'active' WHERE id = ?", (session_id,))
            tx.run("UPDATE sessions SET updated_at = ? WHERE id = ?", (tx.now, session_id))
            if state_delta:  # a shallow merge, as set_session_state does
                state = (tx.one("SELECT state FROM sessions WHERE id = ?", (session_id,)))[0]
                merged = _merged_state(session_id, state, json.loads(delta))
                tx.run("UPDATE sessions SET state = ? WHERE id = ?", (merged, session_id))
            tx.event(EventKind.SESSION_EVENT, "session", session_id, {"kind": kind})
            return SessionEvent(event_id, session_id, from_ts(tx.now), kind, json.loads(body))

        return await self._write(actor, in_tx)

    async def session_events(self, session_id: str, *, limit: int = 100) -> list[SessionEvent]:
        rows = await self._all("SELECT * FROM session_events WHERE session_id = ? ORDER BY id DESC LIMIT ?",
                               (session_id, limit))
        return [SessionEvent(r["id"], r["session_id"], from_ts(r["ts"]), r["kind"],
                             decode_stored(r["payload"], "payload"))
                for r in reversed(rows)]

    async def set_session_state(self, session_id: str, state: Mapping[str, Any], *, merge: bool = True,
                                actor: str = "unknown") -> Session:
        if not isinstance(state, Mapping):
            raise InvalidArgument("session state must be an object")
        check_text("actor", actor, MAX_NAME)
        check_json("state", state)

        def in_tx(tx: Tx) -> Session:
            row = tx.one("SELECT state FROM sessions WHERE id = ?", (session_id,))
            if row is None:
                raise NotFound(f"session {session_id} does not exist", entity="session", key=session_id)
            if merge:
                text = _merged_state(session_id, row[0], state)
            else:
                try:
                    text = json.dumps(dict(state), ensure_ascii=False)
                except (TypeError, ValueError) as exc:
                    raise InvalidArgument(f"session state must be JSON-serialisable ({exc})") from None
            tx.run("UPDATE sessions SET state = ?, updated_at = ? WHERE id = ?", (text, tx.now, session_id))
            tx.event(EventKind.SESSION_STATE_SET, "session", session_id, {"keys": sorted(state)})
            return _session(tx.one("SELECT * FROM sessions WHERE id = ?", (session_id,)))

        return await self._write(actor, in_tx)

    # -- memory entries ---------------------------------------------------------------------------------

    async def add_memory(self, namespace: str, key: str, value: Any, *, memory_type: MemoryType | str,
                         created_by: str, session_id: str | None = None, task_id: int | None = None,
                         metadata: Mapping[str, Any] | None = None) -> MemoryEntry:
        """A new memory (version 1). Refused if the key exists: update it instead."""
        ns, key, mtype = _namespace(namespace), _text(key, "key", MAX_LINE), parse_memory_type(memory_type)
        created_by = _text(created_by, "created_by")
        check_text("session_id", session_id, MAX_NAME)
        text, is_json = _encode_value(value)
        meta = self._metadata(metadata)

        def in_tx(tx: Tx) -> MemoryEntry:
            existing = tx.one("SELECT * FROM memory_entries WHERE namespace = ? AND key = ? AND is_current = 1",
                              (ns, key))
            if existing is not None:
                state = "deleted (restore it)" if existing["deleted_at"] else "there (update it)"
                raise Conflict(f"memory {ns} / {key} already exists and is {state}")
            entry_id = self.sql.insert(
                tx, "INSERT INTO memory_entries (namespace, key, version, value, is_json, memory_type, created_by, "
                "session_id, task_id, metadata, created_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ns, key, text, int(is_json), mtype.value, created_by, session_id, task_id, meta, tx.now),
            )
            self.index.put_item(tx, "memory", entry_id, ns, key, _searchable(value, is_json),
                           memory_type=mtype.value, agent=created_by, task_id=task_id)
            tx.event(EventKind.MEMORY_ADDED, "memory", entry_id, {"namespace": ns, "key": key, "version": 1})
            return _entry(tx.one("SELECT * FROM memory_entries WHERE id = ?", (entry_id,)))

        return await self._write(created_by, in_tx)

    async def update_memory(self, namespace: str, key: str, value: Any, *, updated_by: str,
                            memory_type: MemoryType | str | None = None,
                            metadata: Mapping[str, Any] | None = None) -> MemoryEntry:
        """Every update is a new version; the previous one stays in the history."""
        ns, key, updated_by = _namespace(namespace), _text(key, "key", MAX_LINE), _text(updated_by, "updated_by")
        text, is_json = _encode_value(value)
        if metadata is not None:
            self._metadata(metadata)  # refused here, before the transaction, like every other input

        def in_tx(tx: Tx) -> MemoryEntry:
            current = self._current(tx, ns, key)
            if current["deleted_at"] is not None:
                raise InvalidTransition(f"memory {ns} / {key} is deleted; restore it before updating")
            mtype = parse_memory_type(memory_type) if memory_type is not None else MemoryType(current["memory_type"])
            meta = self._metadata(metadata) if metadata is not None else current["metadata"]
            tx.run("UPDATE memory_entries SET is_current = 0 WHERE id = ?", (current["id"],))
            entry_id = self.sql.insert(
                tx, "INSERT INTO memory_entries (namespace, key, version, value, is_json, memory_type, created_by, "
                "session_id, task_id, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ns, key, current["version"] + 1, text, int(is_json), mtype.value, updated_by,
                 current["session_id"], current["task_id"], meta, tx.now),
            )
            self.index.move_item(tx, "memory", current["id"], entry_id, title=key, body=_searchable(value, is_json),
                            memory_type=mtype.value, agent=updated_by)
            tx.event(EventKind.MEMORY_UPDATED, "memory", entry_id,
                     {"namespace": ns, "key": key, "version": current["version"] + 1})
            return _entry(tx.one("SELECT * FROM memory_entries WHERE id = ?", (entry_id,)))

        return await self._write(updated_by, in_tx)

    async def delete_memory(self, namespace: str, key: str, *, deleted_by: str) -> MemoryEntry:
        """Soft delete: hidden from get and search, kept in the history, restorable."""
        ns, key, deleted_by = _namespace(namespace), _text(key, "key", MAX_LINE), _text(deleted_by, "deleted_by")

        def in_tx(tx: Tx) -> MemoryEntry:
            current = self._current(tx, ns, key)
            if current["deleted_at"] is not None:
                raise InvalidTransition(f"memory {ns} / {key} is already deleted")
            tx.run("UPDATE memory_entries SET deleted_at = ?, deleted_by = ? WHERE id = ?",
                   (tx.now, deleted_by, current["id"]))
            self.index.drop_item(tx, "memory", current["id"])
            tx.event(EventKind.MEMORY_DELETED, "memory", current["id"], {"namespace": ns, "key": key})
            return _entry(tx.one("SELECT * FROM memory_entries WHERE id = ?", (current["id"],)))

        return await self._write(deleted_by, in_tx)

    async def restore_memory(self, namespace: str, key: str, *, restored_by: str) -> MemoryEntry:
        ns, key, restored_by = _namespace(namespace), _text(key, "key", MAX_LINE), _text(restored_by, "restored_by")

        def in_tx(tx: Tx) -> MemoryEntry:
            current = self._current(tx, ns, key)
            if current["deleted_at"] is None:
                raise InvalidTransition(f"memory {ns} / {key} is not deleted")
            tx.run("UPDATE memory_entries SET deleted_at = NULL, deleted_by = NULL WHERE id = ?",
                   (current["id"],))
            entry = _entry(tx.one("SELECT * FROM memory_entries WHERE id = ?", (current["id"],)))
            self.index.put_item(tx, "memory", entry.id, ns, key, _searchable(entry.value, entry.is_json),
                           memory_type=entry.memory_type.value, agent=entry.created_by, task_id=entry.task_id,
                           created_at=entry.created_at.timestamp())
            tx.event(EventKind.MEMORY_RESTORED, "memory", entry.id, {"namespace": ns, "key": key})
            return entry

        return await self._write(restored_by, in_tx)

    async def get_memory(self, namespace: str, key: str, *, version: int | None = None,
                         include_deleted: bool = False) -> MemoryEntry:
        if version is None:
            row = await self._one("SELECT * FROM memory_entries WHERE namespace = ? AND key = ? AND is_current = 1",
                                  (namespace, key))
        else:
            row = await self._one("SELECT * FROM memory_entries WHERE namespace = ? AND key = ? AND version = ?",
                                  (namespace, key, version))
        if row is None or (row["deleted_at"] is not None and not include_deleted and version is None):
            which = f" version {version}" if version is not None else ""
            raise NotFound(f"no memory {namespace} / {key}{which}")
        return _entry(row)

    async def memory_history(self, namespace: str, key: str) -> list[MemoryEntry]:
        rows = await self._all("SELECT * FROM memory_entries WHERE namespace = ? AND key = ? ORDER BY version",
                               (namespace, key))
        if not rows:
            raise NotFound(f"no memory {namespace} / {key}")
        return [_entry(r) for r in rows]

    async def list_memories(self, *, namespace_prefix: str | None = None, memory_type: str | None = None,
                            include_deleted: bool = False, limit: int = 100) -> list[MemoryEntry]:
        """Current memories under a namespace prefix, newest first; filters apply before the limit.

        ``project:a`` lists project:a and what lies under project:a/, not project:ab; a prefix ending
        in ``/`` or ``:`` matches by plain string prefix (search.namespace_scope).
        """
        if not 1 <= limit <= 10_000:
            raise InvalidArgument("limit must be between 1 and 10000")
        clauses, params = ["is_current = 1"], []
        if namespace_prefix:
            clause, scope = rules.namespace_sql("namespace", namespace_prefix)
            clauses.append(clause)
            params += scope
        if memory_type:
            clauses.append("memory_type = ?")
            params.append(parse_memory_type(memory_type).value)
        if not include_deleted:
            clauses.append("deleted_at IS NULL")
        rows = await self._all(f"SELECT * FROM memory_entries WHERE {' AND '.join(clauses)} "
                               "ORDER BY created_at DESC, id DESC LIMIT ?", (*params, limit))
        return [_entry(r) for r in rows]

    async def get_memory_by_id(self, entry_id: int) -> MemoryEntry:
        row = await self._one("SELECT * FROM memory_entries WHERE id = ?", (entry_id,))
        if row is None:
            raise NotFound(f"memory entry {entry_id} does not exist", entity="memory_entry", key=entry_id)
        return _entry(row)

    def _current(self, tx: Tx, ns: str, key: str) -> Any:
        row = tx.one("SELECT * FROM memory_entries WHERE namespace = ? AND key = ? AND is_current = 1", (ns, key))
        if row is None:
            raise NotFound(f"no memory {ns} / {key}")
        return row

    @staticmethod
    def _metadata(metadata: Mapping[str, Any] | None) -> str:
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidArgument("metadata must be an object")
        check_json("metadata", metadata)
        try:
            return json.dumps(dict(metadata or {}), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"metadata must be JSON-serialisable ({exc})") from None

    # -- learning records ----------------------------------------------------------------------------------

    async def log_record(self, kind: str, fields: Mapping[str, Any], *, namespace: str = "swarm",
                         agent: str | None = None, task_id: int | None = None, milestone_id: int | None = None,
                         session_id: str | None = None) -> LearningRecord:
        """A failure, decision, retrospective, spike, pattern or estimate: searchable with the memories."""
        clean = learning.validate(kind, fields)
        ns = _namespace(namespace)
        check_text("agent", agent, MAX_NAME)
        check_text("session_id", session_id, MAX_NAME)
        title = learning.title(kind, clean)

        def in_tx(tx: Tx) -> LearningRecord:
            if task_id is not None and not tx.one("SELECT 1 FROM tasks WHERE id = ?", (task_id,)):
                raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
            if milestone_id is not None and not tx.one("SELECT 1 FROM milestones WHERE id = ?", (milestone_id,)):
                raise NotFound(f"milestone {milestone_id} does not exist",
                               entity="milestone", key=milestone_id)
            record_id = self.sql.insert(
                tx, "INSERT INTO learning_records (kind, namespace, title, fields, agent, task_id, milestone_id, "
                "session_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, ns, title, json.dumps(clean, ensure_ascii=False), agent, task_id, milestone_id,
                 session_id, tx.now),
            )
            self.index.put_item(tx, kind, record_id, ns, title, learning.body(kind, clean), agent=agent,
                           task_id=task_id, milestone_id=milestone_id)
            tx.event(EventKind.RECORD_LOGGED, "record", record_id, {"kind": kind, "title": title})
            return _record(tx.one("SELECT * FROM learning_records WHERE id = ?", (record_id,)))

        return await self._write(agent or "unknown", in_tx)

    async def get_record(self, record_id: int) -> LearningRecord:
        row = await self._one("SELECT * FROM learning_records WHERE id = ?", (record_id,))
        if row is None:
            raise NotFound(f"learning record {record_id} does not exist",
                           entity="learning_record", key=record_id)
        return _record(row)

    async def list_records(self, *, kind: str | None = None, limit: int = 100) -> list[LearningRecord]:
        if kind is not None and kind not in learning.KINDS:
            raise InvalidArgument(f"record kind must be one of {', '.join(learning.KINDS)}, not {kind!r}")
        if kind is None:
            rows = await self._all("SELECT * FROM learning_records WHERE archived_at IS NULL "
                                   "ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = await self._all("SELECT * FROM learning_records WHERE kind = ? AND archived_at IS NULL "
                                   "ORDER BY id DESC LIMIT ?", (kind, limit))
        return [_record(r) for r in rows]

    # -- retention (store/retention.py) ------------------------------------------------------------------

    async def prune(self, *, dry_run: bool = True, older_than: float | None = None,
                    tasks_older_than: float | None = None, actor: str = "unknown") -> retention.Prune:
        """Apply the retention policy: archive agent logs and pipeline states older than ``older_than``
        seconds (90 days by default), expired docs cache entries, and finished tasks that finished more than
        ``tasks_older_than`` seconds ago (90 days by default) with no unfinished task depending on them, in
        one transaction with one event saying how many; ``dry_run``: only say what would go. Events, the
        gate's records and every other record stay."""
        age = retention.check_age(older_than)
        task_age = retention.check_age(tasks_older_than, "tasks_older_than", retention.DEFAULT_TASK_AGE_S)
        check_text("actor", actor, MAX_NAME)

        def survey(rows: Sequence[Any], events: Any, tasks: Sequence[Any],
                   now: float) -> tuple[list[LearningRecord], list[Any], dict]:
            due = retention.due([_record(r) for r in rows], now=now, age=age)
            archivable = [t for t in tasks if not t[2]]
            return due, archivable, {"events": events[0], "finished tasks": len(tasks) - len(archivable)}

        def report(due: list[LearningRecord], archivable: list[Any], kept: dict, applied: bool) -> retention.Prune:
            return retention.plan(due, age=age, kept=kept, applied=applied, task_age=task_age,
                                  tasks=retention.tasks_group([t[1] for t in archivable], task_age))

        # Only the old rows of the kinds archived by age (the fresh agent logs are most of them); every
        # docs cache entry, whose expiry is in its fields.
        by_age = ", ".join(f"'{k}'" for k in retention.BY_AGE)
        candidates = ("SELECT * FROM learning_records WHERE archived_at IS NULL "
                      f"AND ((kind IN ({by_age}) AND created_at < ?) OR kind = 'docs_cache')")
        old_events = "SELECT count(*) FROM events WHERE ts < ?"
        # The live finished tasks past the age, each with whether an unfinished task depends on it.
        finished = ", ".join(f"'{s}'" for s in retention.FINISHED)
        old_tasks = ("SELECT t.id, t.finished_at, EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks x "
                     f"ON x.id = d.task_id WHERE d.prerequisite_id = t.id AND x.status NOT IN ({finished})) "
                     f"FROM tasks t WHERE t.finished_at < ? AND t.status IN ({finished}) "
                     "AND t.archived_at IS NULL ORDER BY t.id")
        if dry_run:
            now = self.db.clock()
            due, archivable, kept = survey(await self._all(candidates, (now - age,)),
                                           await self._one(old_events, (now - age,)),
                                           await self._all(old_tasks, (now - task_age,)), now)
            return report(due, archivable, kept, False)

        def in_tx(tx: Tx) -> retention.Prune:
            cutoff = (tx.now - age,)
            due, archivable, kept = survey(tx.all(candidates, cutoff), tx.one(old_events, cutoff),
                                           tx.all(old_tasks, (tx.now - task_age,)), tx.now)
            for record in due:
                tx.run("UPDATE learning_records SET archived_at = ? WHERE id = ?", (tx.now, record.id))
                self.index.drop_item(tx, record.kind, record.id)
            for task in archivable:
                tx.run("UPDATE tasks SET archived_at = ? WHERE id = ?", (tx.now, task[0]))
            done = report(due, archivable, kept, True)
            if due or archivable:
                tx.event(EventKind.RECORDS_ARCHIVED, "record", None,
                         {"counts": {g.kind: g.count for g in done.archived if g.count},
                          "tasks": len(archivable)})
            return done

        return await self._write(actor, in_tx)

    async def search_archive(self, query: str, *, kinds: Sequence[str] = (), namespace_prefix: str | None = None,
                             limit: int = 20) -> list[LearningRecord]:
        """Archived learning records whose title or fields hold every word of ``query`` (any case), newest
        first: the archive stays searchable by its words (it is out of the ranked search index)."""
        if not 1 <= limit <= 500:
            raise InvalidArgument("limit must be between 1 and 500")
        unknown = [k for k in kinds if k not in learning.KINDS]
        if unknown:
            raise InvalidArgument(f"unknown record kind(s) {', '.join(unknown)}; use {', '.join(learning.KINDS)}")
        check_text("query", query, MAX_LINE)
        clauses, params = ["archived_at IS NOT NULL"], []
        for word in rules.terms(query) or query.split():
            clauses.append("lower(title || ' ' || CAST(fields AS TEXT)) LIKE ?")
            params.append(f"%{word.lower()}%")
        if kinds:
            clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params += list(kinds)
        if namespace_prefix:
            clause, scope = rules.namespace_sql("namespace", namespace_prefix)
            clauses.append(clause)
            params += scope
        rows = await self._all(f"SELECT * FROM learning_records WHERE {' AND '.join(clauses)} "
                               "ORDER BY id DESC LIMIT ?", (*params, limit))
        return [_record(r) for r in rows]

    # -- documents -------------------------------------------------------------------------------------------

    async def index_document(self, namespace: str, path: str, content: str, *, actor: str = "unknown") -> Document:
        """Index a document's text in chunks; unchanged content (same hash) is left as it is."""
        ns, path = _namespace(namespace), _text(path, "file_path", MAX_LINE)
        if not isinstance(content, str):
            raise InvalidArgument("content must be text")
        check_text("content", content, MAX_DOCUMENT)
        check_text("actor", actor, MAX_NAME)
        digest = hashlib.sha256(content.encode()).hexdigest()
        chunks = rules.chunk_text(content)

        def in_tx(tx: Tx) -> Document:
            row = tx.one("SELECT * FROM documents WHERE namespace = ? AND path = ?", (ns, path))
            if row is not None and row["content_hash"] == digest:
                return _document(row)
            if row is None:
                doc_id = self.sql.insert(
                    tx, "INSERT INTO documents (namespace, path, content_hash, chunk_count, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (ns, path, digest, len(chunks), tx.now, tx.now))
            else:
                doc_id = row["id"]
                for (chunk_id,) in tx.all("SELECT id FROM document_chunks WHERE document_id = ?", (doc_id,)):
                    self.index.drop_item(tx, "document", chunk_id)
                tx.run("DELETE FROM document_chunks WHERE document_id = ?", (doc_id,))
                tx.run("UPDATE documents SET content_hash = ?, chunk_count = ?, updated_at = ? WHERE id = ?",
                       (digest, len(chunks), tx.now, doc_id))
            for position, text in enumerate(chunks):
                chunk_id = self.sql.insert(tx, "INSERT INTO document_chunks (document_id, position, text) "
                                           "VALUES (?, ?, ?)", (doc_id, position, text))
                self.index.put_item(tx, "document", chunk_id, ns, f"{path} #{position + 1}", text, agent=actor)
            tx.event(EventKind.DOCUMENT_INDEXED, "document", doc_id, {"path": path, "chunks": len(chunks)})
            return _document(tx.one("SELECT * FROM documents WHERE id = ?", (doc_id,)))

        return await self._write(actor, in_tx)


def _merged_state(session_id: str, stored: str, changes: Mapping[str, Any]) -> str:
    """A session's stored state with ``changes`` merged in (shallow), as JSON within the limits."""
    current = decode_stored(stored, "state")
    if isinstance(current, Unreadable):
        raise InvalidArgument(f"session {session_id}'s stored state is too deep to merge into; replace it whole")
    merged = {**current, **changes}
    check_json("state", merged)
    try:
        return json.dumps(merged, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"session state must be JSON-serialisable ({exc})") from None


def _document(row: Any) -> Document:
    return Document(row["id"], row["namespace"], row["path"], row["content_hash"], row["chunk_count"],
                    from_ts(row["created_at"]), from_ts(row["updated_at"]))

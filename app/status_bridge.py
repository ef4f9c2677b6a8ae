"""Mirror a seed-002 ``coordination_status.json`` into the store, so that swarm shows on the dashboard.

Seed 002's swarms keep their state in one JSON file their agents rewrite::

    {"phase": "1", "timestamp": "...",
     "agents": {"database_migration": {"status": "in_progress", "current_task": "SQLite schema analysis",
                                       "completion": 25, "blockers": [], "next_milestone": "..."}},
     "quality_gates": {"message_protocol_tests": "pending"}, "critical_issues": []}

The bridge polls the file and applies each new version through the store API:

- each agent is registered if the store does not know it (``agent_type`` from the entry's
  ``agent_type``/``role``/``type``, else ``agent``), then gets one heartbeat with the mapped fields
  when they differ from what the store holds: status (``in_progress`` -> working, ``blocked`` ->
  blocked, ``completed``/``idle`` -> idle, ``failed``/``error`` -> failed; see ``STATUS_MAP``),
  completion, blockers, next_milestone. Fields an entry omits are left as they are.
- ``current_task`` is a task id when it names an existing task; free text (seed 002's usual form)
  clears the agent's task id and is logged as an action (``phase N`` / ``current task: ...``) each
  time it changes, so it shows in the agent's activity.
- an agent that disappears from a later version is marked offline.
- ``phase``, ``quality_gates`` and ``critical_issues`` are kept as versioned memory entries in the
  namespace ``bridge:coordination_status`` (keys ``phase``, ``quality_gates``, ``critical_issues``):
  their history is the history of the swarm's gates and issues, searchable like any memory. They are
  not milestone gates: only a human decides those.

A version is validated whole (``store.inputs.CoordinationStatus``) before anything is written, against
the store's own limits too (a value
nested too deep or a text too long for the store makes the version malformed): a malformed or
half-written file is reported and skipped, and the last good state stays. A path that is not a regular
file (a FIFO, a device, a directory) is reported and skipped without being read.

Writes are one transaction per changed agent (plus a registration for a new one) and one per changed
memory key; a version whose writes fail (the database stayed locked) is retried on the next poll, and
since every write sets absolute values, a retry converges on the file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarmdeck.store import UNSET, AgentStatus, Store
from swarmdeck.store.errors import InvalidArgument, NotFound, StoreError
from swarmdeck.store.limits import parse_json

if TYPE_CHECKING:
    from swarmdeck.store.inputs import AgentStatusEntry

# store.inputs (pydantic) loads when a file is parsed, not when the CLI that offers the bridge starts.

DEFAULT_NAMESPACE = "bridge:coordination_status"
BRIDGE_ACTOR = "status-bridge"
#: File-driven agents report when something changes, not every minute: stale only after 10 minutes.
DEFAULT_STALE_AFTER = 600.0
MAX_FILE_BYTES = 1_000_000

#: Seed 002's free-form statuses, normalised (lowercase, `-`/space -> `_`), to the dashboard's.
STATUS_MAP: dict[str, AgentStatus] = {
    **dict.fromkeys(("in_progress", "active", "working", "running", "busy", "started", "ongoing"),
                    AgentStatus.WORKING),
    **dict.fromkeys(("blocked", "waiting", "stuck", "on_hold"), AgentStatus.BLOCKED),
    **dict.fromkeys(("idle", "pending", "not_started", "ready", "available", "complete", "completed", "done",
                     "finished"), AgentStatus.IDLE),
    **dict.fromkeys(("failed", "error", "errored", "failing"), AgentStatus.FAILED),
    **dict.fromkeys(("offline", "stopped", "inactive", "paused"), AgentStatus.OFFLINE),
}


class InvalidStatusFile(ValueError):
    """The file is not a complete, valid coordination status: nothing of it is applied."""


class NotARegularFile(InvalidStatusFile):
    """The path is a FIFO, a device, a directory...: never read (a FIFO would block the reader)."""


_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """One agent's entry, validated. UNSET marks a field the entry did not give."""

    name: str
    agent_type: str | None
    status: AgentStatus | Any  # UNSET when absent
    raw_status: str | None
    completion: float | Any
    blockers: tuple[str, ...] | Any
    next_milestone: str | None | Any
    current_task: int | str | None | Any  # an id (int), free text (str), None, or UNSET


@dataclass(frozen=True, slots=True)
class StatusFile:
    phase: str | None
    timestamp: str | None
    agents: dict[str, AgentEntry]
    quality_gates: dict[str, Any] | None
    critical_issues: list[Any] | None
    unknown_statuses: tuple[tuple[str, str], ...] = ()


@dataclass
class Applied:
    """What one version changed."""

    updated: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    offline: list[str] = field(default_factory=list)
    memory: list[str] = field(default_factory=list)
    phase: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.updated or self.registered or self.offline or self.memory)


# -- parsing ---------------------------------------------------------------------------------------------


def normalise_status(raw: str) -> str:
    return "_".join(raw.strip().lower().replace("-", " ").split())


def _entry(name: str, body: AgentStatusEntry) -> tuple[AgentEntry, str | None]:
    """An agent's validated entry, its status word mapped to the dashboard's (UNSET: not given)."""
    status, raw, unknown = UNSET, body.status, None
    if raw is not None:
        status = STATUS_MAP.get(normalise_status(raw))
        if status is None:  # an agent's own word: keep it working rather than refuse the whole file
            status, unknown = AgentStatus.WORKING, raw

    def given(field: str) -> Any:
        return getattr(body, field) if body.given(field) else UNSET

    blockers = given("blockers")
    entry = AgentEntry(name, body.kind, status, raw, UNSET if body.completion is None else body.completion,
                       blockers if blockers is UNSET else tuple(blockers), given("next_milestone"),
                       given("current_task"))
    return entry, unknown


def parse_status(text: str | bytes) -> StatusFile:
    """Validate a whole coordination status, or raise InvalidStatusFile saying what is wrong."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidStatusFile(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise InvalidStatusFile("the file is empty (half-written?)")
    try:
        # The whole file within the store's depth limit, so every value taken from it is too.
        doc = parse_json("the file", text, max_bytes=MAX_FILE_BYTES)
    except InvalidArgument as exc:
        raise InvalidStatusFile(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise InvalidStatusFile(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
                                "(half-written?)") from None
    from swarmdeck.store.inputs import CoordinationStatus

    try:
        status = CoordinationStatus.parse(doc)
    except InvalidArgument as exc:
        raise InvalidStatusFile(str(exc)) from None
    agents, unknown = {}, []
    for name, body in status.agents.items():
        agents[name], odd = _entry(name, body)
        if odd is not None:
            unknown.append((name, odd))
    return StatusFile(status.phase, status.timestamp, agents, status.quality_gates, status.critical_issues,
                      tuple(unknown))


# -- applying ------------------------------------------------------------------------------------------


Report = Callable[[str, str], None]  # (kind: "applied" | "skipped" | "warning" | "error", message)


class StatusBridge:
    """Follows one coordination_status.json and mirrors each new valid version into the store."""

    def __init__(self, store: Store, path: Path, *, namespace: str = DEFAULT_NAMESPACE,
                 actor: str = BRIDGE_ACTOR, stale_after: float = DEFAULT_STALE_AFTER,
                 report: Report | None = None) -> None:
        self.store = store
        self.path = Path(path)
        self.namespace = namespace
        self.actor = actor
        self.stale_after = stale_after
        self.report = report if report is not None else (lambda kind, message: None)
        #: The last good version applied (None until one is).
        self.current: StatusFile | None = None
        self._seen: str | None = None  # digest of the last content looked at, applied or skipped
        self._missing_reported = False
        self._warned: set[tuple[str, str]] = set()

    async def poll(self) -> Applied | None:
        """Look at the file once: apply it if it is new and valid. Returns what was applied, if anything."""
        try:
            data = await asyncio.to_thread(self._read)
        except FileNotFoundError:
            if not self._missing_reported:
                self._missing_reported = True
                self.report("skipped", f"{self.path} does not exist (yet); waiting for it")
            return None
        except NotARegularFile as exc:  # reported once, until the path changes
            return self._skip(str(exc), f"not-a-regular-file:{exc}")
        except (OSError, InvalidStatusFile) as exc:
            return self._skip(str(getattr(exc, "strerror", None) or exc), None)
        self._missing_reported = False
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._seen:
            return None
        try:
            status = parse_status(data)
        except InvalidStatusFile as exc:
            return self._skip(str(exc), digest)
        try:
            applied = await self.apply(status)
        except StoreError as exc:
            self._seen = None  # try this version again on the next poll
            self.report("error", f"could not apply {self.path}: {exc}; retrying")
            return None
        self._seen = digest
        if applied.changed:
            self.report("applied", describe(self.path, applied))
        return applied

    def _read(self) -> bytes:
        # Without O_NONBLOCK, opening a FIFO waits for a writer, for ever; nothing but a regular file is read.
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a file")
                raise NotARegularFile(f"{self.path} is not a regular file ({kind})")
        except BaseException:
            os.close(fd)
            raise
        with open(fd, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise InvalidStatusFile(f"the file is larger than {MAX_FILE_BYTES} bytes")
        return data

    def _skip(self, reason: str, digest: str | None) -> None:
        if digest is None or digest != self._seen:
            self.report("skipped", f"skipped {self.path}: {reason}; the last good state stays")
        self._seen = digest
        return None

    async def apply(self, status: StatusFile) -> Applied:
        """Write what differs between ``status`` and the store. Validation is already done."""
        out = Applied(phase=status.phase)
        previous = self.current
        for name, raw in status.unknown_statuses:
            if (name, raw) not in self._warned:
                self._warned.add((name, raw))
                self.report("warning",
                            f"agent {name}: status {raw!r} is not one swarmdeck knows; shown as working")
        known = {a.name: a for a in await self.store.agents_by_names(list(status.agents))}
        task_ids = [e.current_task for e in status.agents.values() if isinstance(e.current_task, int)]
        existing_tasks = {t.id for t in await self.store.tasks_by_ids(task_ids)} if task_ids else set()
        for entry in status.agents.values():
            if entry.name not in known:
                await self.store.register_agent(entry.name, agent_type=entry.agent_type or "agent",
                                                stale_after_seconds=self.stale_after, actor=self.actor)
                out.registered.append(entry.name)
            fields, task_text = self._fields(entry, existing_tasks)
            current = known.get(entry.name)
            if fields and (current is None or _differs(current, fields)):
                await self.store.heartbeat(entry.name, actor=self.actor, **fields)
                out.updated.append(entry.name)
            if task_text is not None and await self._task_changed(entry, previous, task_text):
                from swarmdeck.store.inputs import PHASE, TASK_ACTION

                await self.store.log_action(entry.name, phase=f"{PHASE}{status.phase or '?'}",
                                            action=f"{TASK_ACTION}{task_text}")
        if previous is not None:
            for name in previous.agents.keys() - status.agents.keys():
                try:
                    await self.store.update_agent(name, status=AgentStatus.OFFLINE, actor=self.actor)
                    out.offline.append(name)
                except NotFound:
                    pass  # removed from the store meanwhile: nothing to mark
        for key, value in (("phase", status.phase), ("quality_gates", status.quality_gates),
                           ("critical_issues", status.critical_issues)):
            if value is not None and await self._remember(key, value):
                out.memory.append(key)
        self.current = status
        return out

    async def _task_changed(self, entry: AgentEntry, previous: StatusFile | None, text: str) -> bool:
        """Whether the free-text current task differs from the one last logged for this agent."""
        if previous is not None and entry.name in previous.agents:
            return previous.agents[entry.name].current_task != entry.current_task
        # First sight in this run: the store remembers what an earlier run logged.
        from swarmdeck.store.events import AgentAction, Entity  # the feed's contract: not on every CLI call
        from swarmdeck.store.inputs import TASK_ACTION

        for event in await self.store.events(entity=Entity.AGENT, entity_id=entry.name, limit=50):
            match event.typed():
                case AgentAction(action=str() as action) if action.startswith(TASK_ACTION):
                    return action != f"{TASK_ACTION}{text}"
        return True

    def _fields(self, entry: AgentEntry, existing_tasks: set[int]) -> tuple[dict[str, Any], str | None]:
        fields: dict[str, Any] = {}
        if entry.status is not UNSET:
            fields["status"] = entry.status
        if entry.completion is not UNSET:
            fields["completion"] = entry.completion
        if entry.blockers is not UNSET:
            fields["blockers"] = list(entry.blockers)
        if entry.next_milestone is not UNSET:
            fields["next_milestone"] = entry.next_milestone
        task_text = None
        if entry.current_task is not UNSET:
            if isinstance(entry.current_task, int) and entry.current_task in existing_tasks:
                fields["current_task_id"] = entry.current_task
            else:
                fields["current_task_id"] = None
                if entry.current_task is not None:
                    task_text = str(entry.current_task)
        return fields, task_text

    async def _remember(self, key: str, value: Any) -> bool:
        """Keep ``value`` as the current version of memory ``key``; False when it already is."""
        try:
            entry = await self.store.get_memory(self.namespace, key)
        except NotFound:
            entry = None
        if entry is None:
            try:
                await self.store.add_memory(self.namespace, key, value, memory_type="episodic",
                                            created_by=self.actor, metadata={"source": str(self.path)})
                return True
            except StoreError as exc:  # e.g. deleted by a human: their call, not ours to undo
                self.report("warning", f"memory {self.namespace} / {key} not updated: {exc}")
                return False
        if entry.value == value:
            return False
        await self.store.update_memory(self.namespace, key, value, updated_by=self.actor)
        return True

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            await self.poll()
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass


def _differs(agent: Any, fields: dict[str, Any]) -> bool:
    current = {
        "status": agent.status, "completion": agent.completion, "blockers": list(agent.blockers),
        "next_milestone": agent.next_milestone, "current_task_id": agent.current_task_id,
    }
    return any(current[k] != v for k, v in fields.items())


def describe(path: Path, applied: Applied) -> str:
    parts = []
    if applied.updated:
        parts.append(f"updated {', '.join(applied.updated)}")
    if applied.registered:
        parts.append(f"registered {', '.join(applied.registered)}")
    if applied.offline:
        parts.append(f"offline {', '.join(applied.offline)}")
    if applied.memory:
        parts.append(f"recorded {', '.join(applied.memory)}")
    phase = f" (phase {applied.phase})" if applied.phase else ""
    return f"applied {path}{phase}: {'; '.join(parts)}"


__all__ = ["Applied", "InvalidStatusFile", "STATUS_MAP", "StatusBridge", "StatusFile", "parse_status"]

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
- an agent that disappears from a later version is marked offline, also across runs (``--once``):
  the names the last applied version listed are kept in the memory key ``file_state``, with its
  ``timestamp``.
- ``timestamp`` (ISO 8601) orders versions: a version older than the last one applied (in this run
  or an earlier one) is skipped, saying so. A version without one, or with one that does not parse,
  is applied (with a warning for the latter).
- ``phase``, ``quality_gates`` and ``critical_issues`` are kept as versioned memory entries in the
  namespace ``bridge:coordination_status`` (keys ``phase``, ``quality_gates``, ``critical_issues``):
  their history is the history of the swarm's gates and issues, searchable like any memory. They are
  not milestone gates: only a human decides those.

A version is validated whole (``store.inputs.CoordinationStatus``) before anything is written, against
the store's own limits too (a value
nested too deep or a text too long for the store makes the version malformed): a malformed or
half-written file is reported and skipped, and the last good state stays. A path that is not a regular
file (a FIFO, a device, a directory) is reported and skipped without being read.

The bridge also writes back what the file's agents need from swarmdeck, under the top-level key
``swarmdeck`` that no agent owns (see ``swarmdeck_section``): the swarm paused or running, each gate's
human decisions, and the queue's counts. Only that key is replaced; the rest of the file is kept as
read. The new file is written beside the old one and renamed over it (atomic), and only if the file
did not change since it was read (same content hash): an agent that wrote meanwhile wins, and the
bridge reads again and retries. The window between that check and the rename is a few system calls:
an agent writing exactly then would lose that one version (rewritten on its next save).

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
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
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
#: The file's top-level key the bridge writes back to; the agents own every other key.
SECTION = "swarmdeck"
#: Memory key holding the last applied version's timestamp and agent names (for the next run).
FILE_STATE = "file_state"
#: Tries at writing back when agents keep rewriting the file; the next poll tries again.
WRITE_RETRIES = 5

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


def parse_timestamp(raw: str | None) -> datetime | None:
    """The file's ``timestamp`` as an aware datetime (naive: UTC); None if absent or not ISO 8601."""
    if not raw or not raw.strip():
        return None
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


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
                 report: Report | None = None, write_back: bool = True) -> None:
        self.store = store
        self.write_back = write_back
        self.path = Path(path)
        self.namespace = namespace
        self.actor = actor
        self.stale_after = stale_after
        self.report = report if report is not None else (lambda kind, message: None)
        #: The last good version applied (None until one is).
        self.current: StatusFile | None = None
        self._seen: str | None = None  # digest of the last content looked at, applied or skipped
        self._seen_applied = False  # whether that content was applied (or written back by us)
        self._missing_reported = False
        self._warned: set[tuple[str, str]] = set()
        #: What an earlier version (this run or one before) left: its timestamp and agent names.
        self._last_timestamp: datetime | None = None
        self._last_names: set[str] | None = None
        self._state_loaded = False
        self._section_written: dict[str, Any] | None = None
        self._write_error: str | None = None
        #: Called between the check that the file did not change and the rename (tests race it here).
        self._before_replace: Callable[[], None] | None = None

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
            if self._seen_applied:
                await self._write_back_safely()
            return None
        self._seen_applied = False
        try:
            status = parse_status(data)
        except InvalidStatusFile as exc:
            return self._skip(str(exc), digest)
        try:
            await self._load_state()
            when = parse_timestamp(status.timestamp)
            if status.timestamp and when is None:
                self._warn_once("timestamp", status.timestamp,
                                f"timestamp {status.timestamp!r} is not ISO 8601; versions are not ordered by it")
            if when is not None and self._last_timestamp is not None and when < self._last_timestamp:
                return self._skip(f"its timestamp {status.timestamp} is older than the last version applied "
                                  f"({self._last_timestamp.isoformat()})", digest)
            applied = await self.apply(status)
        except StoreError as exc:
            self._seen = None  # try this version again on the next poll
            self.report("error", f"could not apply {self.path}: {exc}; retrying")
            return None
        self._seen, self._seen_applied = digest, True
        if applied.changed:
            self.report("applied", describe(self.path, applied))
        await self._write_back_safely()
        return applied

    def _warn_once(self, name: str, raw: str, message: str) -> None:
        if (name, raw) not in self._warned:
            self._warned.add((name, raw))
            self.report("warning", message)

    async def _load_state(self) -> None:
        """What the last run applied (timestamp, agent names), once per bridge."""
        if self._state_loaded:
            return
        try:
            value = (await self.store.get_memory(self.namespace, FILE_STATE)).value
        except NotFound:
            value = None
        if isinstance(value, dict):
            when = value.get("timestamp")
            self._last_timestamp = parse_timestamp(when) if isinstance(when, str) else None
            names = value.get("agents")
            if isinstance(names, list):
                self._last_names = {n for n in names if isinstance(n, str)}
        self._state_loaded = True

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
            self._warn_once(name, raw, f"agent {name}: status {raw!r} is not one swarmdeck knows; shown as working")
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
        before = set(previous.agents) if previous is not None else (self._last_names or set())
        for name in sorted(before - status.agents.keys()):
            try:
                if (await self.store.get_agent(name)).status is AgentStatus.OFFLINE:
                    continue
                await self.store.update_agent(name, status=AgentStatus.OFFLINE, actor=self.actor)
                out.offline.append(name)
            except NotFound:
                pass  # removed from the store meanwhile: nothing to mark
        for key, value in (("phase", status.phase), ("quality_gates", status.quality_gates),
                           ("critical_issues", status.critical_issues)):
            if value is not None and await self._remember(key, value):
                out.memory.append(key)
        when = parse_timestamp(status.timestamp)
        state = {"timestamp": status.timestamp if when is not None else None, "agents": sorted(status.agents)}
        if when is None and self._last_timestamp is not None:  # an unordered version keeps the last order
            state["timestamp"] = self._last_timestamp.isoformat()
        await self._remember(FILE_STATE, state)
        if when is not None:
            self._last_timestamp = when
        self._last_names = set(status.agents)
        self.current = status
        return out

    # -- writing back ------------------------------------------------------------------------------------

    async def _write_back_safely(self) -> None:
        if not self.write_back:
            return
        try:
            section = await swarmdeck_section(self.store)
        except StoreError as exc:
            self.report("error", f"could not read what to write back to {self.path}: {exc}; retrying")
            return
        if section == self._section_written:
            return
        try:
            written = await asyncio.to_thread(self._write_section, section)
        except OSError as exc:  # e.g. a folder we may not write to: said once, tried again each look
            message = f"could not write back to {self.path}: {exc.strerror or exc}; retrying"
            if message != self._write_error:
                self._write_error = message
                self.report("error", message)
            return
        self._write_error = None
        if written is not None:
            base, out = written
            self._section_written = section
            if hashlib.sha256(base).hexdigest() == self._seen:  # our own write of the version applied
                self._seen = hashlib.sha256(out).hexdigest()
            # else an agent's newer version, merged with ours: the next poll applies it


    def _write_section(self, section: dict[str, Any]) -> tuple[bytes, bytes] | None:
        """Replace the file's ``swarmdeck`` key, atomically and only over the version read. Returns the
        version read and the bytes now in the file (None: not written: not valid JSON, or the agents
        kept writing, reported)."""
        for _ in range(WRITE_RETRIES):
            try:
                data = self._read()
                doc = json.loads(data)
            except (ValueError, InvalidStatusFile):
                return None  # half-written or malformed meanwhile: the next poll reports it
            if not isinstance(doc, dict):
                return None
            if doc.get(SECTION) == section:
                return data, data
            doc[SECTION] = section
            out = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
            mode = stat.S_IMODE(os.stat(self.path).st_mode)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".swarmdeck.tmp", dir=self.path.parent)
            try:
                with open(fd, "wb") as f:
                    f.write(out)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, mode)
                if self._before_replace is not None:
                    self._before_replace()
                if hashlib.sha256(self._read()).digest() != hashlib.sha256(data).digest():
                    continue  # an agent wrote since we read: theirs stands; read again and merge
                os.replace(tmp, self.path)
                tmp = None
                return data, out
            finally:
                if tmp is not None:
                    try:
                        os.unlink(tmp)
                    except FileNotFoundError:
                        pass
        self.report("warning", f"{self.path} kept changing while swarmdeck wrote back its section; "
                               "trying again on the next look")
        return None

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


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


async def swarmdeck_section(store: Store) -> dict[str, Any]:
    """What the file's agents need from swarmdeck, as written back under its ``swarmdeck`` key:

    - ``swarm``: ``paused`` (no task is handed out until a reviewer resumes), ``reason``, ``paused_by``,
      ``paused_at``;
    - ``gates``: per milestone, its gate ``status`` and the human ``decisions`` on it (newest last:
      decision, reviewer, rationale, report version, when, verified);
    - ``queue``: task counts by status, ``total``, ``oldest_pending``.

    Nothing in it changes unless the store does (no clock), so an unchanged store writes nothing.
    """
    state = await store.swarm_state()
    gates = []
    for milestone in await store.list_milestones():
        gate = await store.gate_status(milestone.id)
        gates.append({
            "milestone": milestone.name, "id": milestone.id, "status": str(milestone.status),
            "report_version": gate.report.version if gate.report is not None else None,
            "approvals": f"{len(gate.approvals)}/{milestone.required_approvals}",
            "decisions": [{"decision": str(d.decision), "reviewer": d.reviewer, "rationale": d.rationale,
                           "report_version": d.report_version, "decided_at": _iso(d.decided_at),
                           "verified": d.verified} for d in gate.decisions],
        })
    queue = await store.queue_status()
    return {
        "swarm": {"paused": state.paused, "reason": state.reason, "paused_by": state.paused_by,
                  "paused_at": _iso(state.paused_at)},
        "gates": gates,
        "queue": {"counts": dict(sorted(queue.counts.items())), "total": queue.total,
                  "oldest_pending": _iso(queue.oldest_pending)},
    }


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


__all__ = ["Applied", "InvalidStatusFile", "SECTION", "STATUS_MAP", "StatusBridge", "StatusFile", "parse_status",
           "parse_timestamp", "swarmdeck_section"]

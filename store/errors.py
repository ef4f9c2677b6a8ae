"""Typed store errors: a machine-readable code, structured fields, and a plain message.

Every message is written for the person who will read it, and says what is wrong, never which command
or tool to use next: the store does not know who is asking. What would lift a refusal is a `Remedy` on
the error; each face words it its own way (the CLI names a command, the MCP server a tool, the dashboard
a key), and the CLI alone owns exit codes (app/cli/_base.py).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any


class Remedy(enum.StrEnum):
    """What would lift a refusal, for the face to word (``fields`` on the error name who and what)."""

    #: Create the database (``path``).
    INIT_DATABASE = "init_database"
    #: Open the database once from a seat that may migrate it (``path``).
    MIGRATE = "migrate"
    #: Register the agent (``key``: its name).
    REGISTER_AGENT = "register_agent"
    #: A person registers as a reviewer, at their own terminal (``who``).
    REGISTER_REVIEWER = "register_reviewer"
    #: A reviewer makes a signing key, at their own terminal (``who``).
    MAKE_KEY = "make_key"
    #: A human resumes the swarm (lifts the escalation).
    RESUME_SWARM = "resume_swarm"


class StoreError(Exception):
    """Base class: anything the store refuses or cannot do.

    ``fields`` are structured facts about the refusal (``entity``, ``key``, ``path``, ``who`` ...);
    ``remedy`` says what would lift it, if anything the caller can do."""

    #: A short machine-readable code, used by `--json` errors and MCP errors.
    code = "store_error"
    remedy: Remedy | None = None

    def __init__(self, message: str = "", *, remedy: Remedy | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = fields
        if remedy is not None:
            self.remedy = remedy


#: How a missing entity is said, when it is not "does not exist".
_MISSING = {"agent": "is not registered"}
_FIND = {"agent": Remedy.REGISTER_AGENT}


class NotFound(StoreError):
    """No such ``entity`` (agent, task, milestone ...) under ``key``."""

    code = "not_found"

    def __init__(self, message: str | None = None, *, entity: str | None = None, key: Any = None,
                 remedy: Remedy | None = None, **fields: Any) -> None:
        if message is None:
            message = f"{entity} {key!r} {_MISSING.get(entity or '', 'does not exist')}"
        super().__init__(message, remedy=remedy or _FIND.get(entity or ""), entity=entity, key=key, **fields)
        self.entity = entity
        self.key = key


class InvalidArgument(StoreError):
    code = "invalid_argument"


class InvalidTransition(StoreError):
    code = "invalid_transition"


class CycleError(StoreError):
    code = "cycle"


class SwarmPaused(StoreError):
    """Claims are refused until a human resumes the swarm (``reason``: why it was paused)."""

    code = "swarm_paused"
    remedy = Remedy.RESUME_SWARM

    def __init__(self, message: str | None = None, *, reason: str | None = None, **fields: Any) -> None:
        super().__init__(message or f"the swarm is paused ({reason})", reason=reason, **fields)
        self.reason = reason


class PermissionDenied(StoreError):
    code = "permission_denied"


class Conflict(StoreError):
    """The state changed under the caller (e.g. a newer report version was submitted)."""

    code = "conflict"


class NotASwarmdeckDatabase(StoreError):
    code = "not_a_swarmdeck_database"


class SchemaTooNew(StoreError):
    code = "schema_too_new"


class DatabaseMissing(StoreError):
    """No swarmdeck database at ``path`` (``empty``: a file is there, with nothing in it)."""

    code = "database_missing"

    def __init__(self, message: str | None = None, *, path: Path | str | None = None, empty: bool = False,
                 **fields: Any) -> None:
        if message is None:
            message = (f"{path} is empty, not a swarmdeck database" if empty
                       else f"no swarmdeck database at {path}")
        super().__init__(message, remedy=Remedy.INIT_DATABASE if path is not None else None, path=path,
                         empty=empty, **fields)
        self.path = path
        self.empty = empty


class Busy(StoreError):
    """The database stayed locked by other writers for longer than the busy timeout."""

    code = "busy"


class SchemaOutdated(StoreError):
    """The database at ``path`` needs a migration (from ``version`` to ``needed``) that a read-only
    seat may not apply."""

    code = "schema_outdated"
    remedy = Remedy.MIGRATE

    def __init__(self, message: str | None = None, *, path: Path | str | None = None, version: int = 0,
                 needed: int = 0, **fields: Any) -> None:
        super().__init__(message or f"{path} has schema {version} and needs migrating to {needed}",
                         path=path, version=version, needed=needed, **fields)
        self.path = path


class StorageError(StoreError):
    """The disk refused the database: a write could not be made, or the file could not be read."""

    code = "storage_error"


class DiskFull(StorageError):
    code = "disk_full"


class ReadOnlyStorage(StorageError):
    """The database file, its folder or its disk cannot be written (not a --read-only seat's refusal)."""

    code = "read_only_storage"


#: Why a read-only seat refuses a change, wherever it is refused.
READ_ONLY_SEAT = "this swarmdeck seat is read-only; nothing can be changed from it"

"""Typed store errors. Every message is written for the person who will read it."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: anything the store refuses or cannot do."""

    #: A short machine-readable code, used by `--json` errors and MCP errors.
    code = "store_error"


class NotFound(StoreError):
    code = "not_found"


class InvalidArgument(StoreError):
    code = "invalid_argument"


class InvalidTransition(StoreError):
    code = "invalid_transition"


class CycleError(StoreError):
    code = "cycle"


class SwarmPaused(StoreError):
    code = "swarm_paused"


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
    code = "database_missing"


class Busy(StoreError):
    """The database stayed locked by other writers for longer than the busy timeout."""

    code = "busy"


class SchemaOutdated(StoreError):
    """The database needs a migration that a read-only seat may not apply."""

    code = "schema_outdated"


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

"""How a backend's store is put together from parts, the same on every backend.

A store (``SQLiteStore``, ``PostgresStore``) holds its parts (``db``, ``tasks``, ``gates`` ...) and
exposes every method of the Store protocol by delegation: ``PROTOCOL_PARTS`` says which part serves
each method (the same part on every backend), and ``delegating`` gives the store class a ``Delegate``
for each. Each backend's package names the class of each part in its ``PART_CLASSES``, as (module of
that package, class name).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, TypeVar

C = TypeVar("C", bound=type)

#: Each method of the Store protocol (but ``close``, the store's own), by the part that serves it.
PROTOCOL_PARTS: dict[str, tuple[str, ...]] = {
    "db": ("schema_version", "latest_event_id", "changes_since", "wait_for_changes", "events",
           "write_latencies"),
    "tasks": ("enqueue_task", "get_task", "list_tasks", "tasks_by_ids", "dependents", "add_dependency",
              "claim_task", "complete_task", "fail_task", "escalate_task", "retry_task", "cancel_task",
              "set_base_priority", "priority_breakdown", "refresh_priorities", "reap_timeouts",
              "queue_status", "execution_plan"),
    "agents": ("register_agent", "heartbeat", "update_agent", "get_agent", "list_agents",
               "agents_by_names", "agent_task_counts", "log_action"),
    "gates": ("add_milestone", "replan_milestone", "list_milestones", "get_milestone", "submit_report",
              "get_report", "decide_gate", "add_evidence", "close_condition", "gate_status",
              "gates_awaiting_review", "milestone_progress", "latest_decision", "swarm_state",
              "resume_swarm"),
    "reviewers": ("add_reviewer", "set_reviewer_key", "remove_reviewer", "list_reviewers", "get_reviewer",
                  "check_reviewer"),
    "memory": ("create_session", "get_session", "set_session_status", "append_session_event",
               "session_events", "set_session_state", "add_memory", "update_memory", "delete_memory",
               "restore_memory", "get_memory", "get_memory_by_id", "memory_history", "list_memories",
               "log_record", "get_record", "list_records", "prune", "search_archive", "index_document"),
    "search_index": ("search", "search_item_body", "recent", "pending_embeddings", "store_embeddings",
                     "record_embedding_failure", "index_status"),
    "chart_queries": ("chart_filters", "chart_window", "charts", "chart_throughput", "chart_queue_depth",
                      "chart_durations", "chart_estimates", "chart_burndown", "chart_gate_latency"),
    "audit": ("audit_head", "verify_events"),
}


def part_class(store_class: type, part: str) -> type:
    """The class of a store's part, from its backend package's ``PART_CLASSES`` (imported now)."""
    package = store_class.__module__
    module, name = sys.modules[package].PART_CLASSES[part]
    return getattr(importlib.import_module(f"{package}.{module}"), name)


class Delegate:
    """A store method that is a part's method of the same name: ``claim_task = Delegate("tasks")``.

    On the class it is the part's function (its signature, its docstring, a coroutine function if
    that is); on a store it is the part's bound method, which it also keeps in the store's
    ``__dict__``: a non-data descriptor, it is never consulted again for that store."""

    __slots__ = ("part", "name")

    def __init__(self, part: str) -> None:
        self.part = part
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, store: Any, owner: type | None = None) -> Any:
        if store is None:
            return getattr(part_class(owner, self.part), self.name)
        method = getattr(getattr(store, self.part), self.name)
        store.__dict__[self.name] = method
        return method

    def __repr__(self) -> str:
        return f"Delegate({self.part!r}) for {self.name}"


def delegating(cls: C) -> C:
    """The store class, given a ``Delegate`` for each method of ``PROTOCOL_PARTS`` (in its own
    ``__dict__``: it inherits nothing)."""
    for part, names in PROTOCOL_PARTS.items():
        for name in names:
            delegate = Delegate(part)
            delegate.__set_name__(cls, name)
            setattr(cls, name, delegate)
    return cls

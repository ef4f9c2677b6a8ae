"""Learning-record tools: log every kind of seed 003's records (one tool per kind, its fields as its
parameters, from store/learning.py's KINDS and store/inputs/records.py's models), read them, and search
everything the swarm knows (memories, records, documents) with the CLI's filters."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from pydantic import Field
from swarmdeck.app.output import jsonable
from swarmdeck.store import learning, timeparse
from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.inputs import RECORD_MODELS
from swarmdeck.store.models import SearchMode
from swarmdeck.store.search_index import ITEM_KINDS

from .params import MemoryTypeName, MilestoneRef, TaskId, field_of, whole
from .search import relevance
from .server import READ, WRITE, Tools

#: What each kind is for, in the tool's description (the fields come from KINDS).
PURPOSE = {
    "failure": "an approach that failed and its lesson, so that no agent repeats it",
    "decision": "a decision and its rationale (alternatives, consequences)",
    "retrospective": "what a finished feature taught: surprises, what you would change, new patterns",
    "spike": "a time-boxed experiment: the question, the approach, the result and whether it is viable",
    "pattern": "a reusable pattern: what it is, an example, when to use it",
    "estimate": "an estimate in sessions, and later the actual sessions and files touched",
    "pattern_usage": "a use of a pattern (pattern_id), with its compliance score",
    "agent_log": "one action of an agent in a pipeline phase, with its duration and outcome",
    "pipeline_state": "where a pipeline is: its status and its planned and completed steps",
    "docs_cache": "library documentation fetched (it expires after 7 days unless expires_at says)",
    "complexity_snapshot": "a file's size and complexity at a moment, for the complexity trend",
}

#: The parameters every record tool takes besides the kind's fields: where it belongs and what it is about.
LINKS = ("namespace", "agent", "task_id", "milestone", "session_id")

_TIME = "epoch seconds or an ISO-8601 time (UTC when it names no zone)"


def _field_parameters(kind: str) -> list[inspect.Parameter]:
    model, (required, optional, types) = RECORD_MODELS[kind], learning.KINDS[kind]
    params = []
    for name in required + optional:
        typed = types.get(name)
        extra: dict[str, Any] = {}
        if typed is not None and typed.type == "time":
            extra["description"] = _TIME
        elif typed is not None and typed.type in ("number", "count"):
            # The bounds are checked by the record's model; the schema shows them to the client too.
            bounds = {"minimum": typed.ge, "exclusiveMinimum": typed.gt, "maximum": typed.le}
            extra["description"] = f"{'a whole number' if typed.type == 'count' else 'a number'} {typed.bounds()}"
            extra["json_schema_extra"] = {k: v for k, v in bounds.items() if v is not None}
        params.append(inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=field_of(model, name, **extra),
            default=inspect.Parameter.empty if name in required else None))
    return params


def _link_parameters(default_namespace: str) -> list[inspect.Parameter]:
    def p(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)

    return [
        p("namespace", Annotated[str, Field(min_length=1, description="Where it belongs, e.g. project:abathur.")],
          default_namespace),
        p("agent", Annotated[str | None, Field(description="Who learned it: your agent name (default: the "
                                                             "server's actor).")]),
        p("task_id", Annotated[TaskId | None, Field(description="The task it came from.")]),
        p("milestone", MilestoneRef | None),
        p("session_id", str | None),
    ]


def _description(kind: str) -> str:
    required, optional, _ = learning.KINDS[kind]
    return (f"Log a {kind} learning record: {PURPOSE.get(kind, kind.replace('_', ' '))}. Every agent finds it "
            f"at once with search (and task_claim brings failures and decisions to the tasks they concern). "
            f"Needs {', '.join(required)}; optional: {', '.join(optional) or 'none'}. Returns record_id and the "
            "record.")


def register(t: Tools) -> None:
    store, actor = t.store, t.actor

    def log_tool(kind: str) -> None:
        async def log(**given: Any) -> dict[str, Any]:
            links = {name: given.pop(name, None) for name in LINKS}
            milestone = links.pop("milestone")
            milestone_id = None if milestone is None else (await store.get_milestone(milestone)).id
            record = await store.log_record(kind, given, namespace=links["namespace"] or "swarm",
                                            agent=links["agent"] or actor, task_id=links["task_id"],
                                            milestone_id=milestone_id, session_id=links["session_id"])
            return {"record_id": record.id, "record": jsonable(record)}

        log.__name__ = f"record_{kind}"
        log.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [*_field_parameters(kind), *_link_parameters("swarm")], return_annotation=dict[str, Any])
        t.mcp.add_tool(log, name=log.__name__, description=_description(kind), annotations=WRITE)

    for kind in learning.KINDS:
        log_tool(kind)

    @t.tool(READ)
    async def record_get(record_id: TaskId) -> dict[str, Any]:
        """One learning record with all its fields, its namespace, agent and links (task, milestone)."""
        return jsonable(await store.get_record(record_id))

    @t.tool(READ)
    async def record_list(
        kind: Annotated[str | None, Field(description=f"Only this kind: {', '.join(learning.KINDS)}.")] = None,
        limit: whole(1, 500) = 50,
    ) -> dict[str, Any]:
        """Learning records, newest first. Returns {records, count}."""
        records = await store.list_records(kind=kind, limit=limit)
        return {"records": [jsonable(r) for r in records], "count": len(records)}

    @t.tool(READ)
    async def search(
        query: Annotated[str, Field(min_length=1, description="What you are looking for, in plain words.")],
        mode: Annotated[str, Field(
            description="hybrid fuses keyword (BM25) and semantic (vector) rankings; or keyword, semantic.")
        ] = SearchMode.HYBRID.value,
        namespace_prefix: Annotated[str, Field(
            description="project:a matches project:a and project:a/...; \"\" matches all.")] = "",
        kinds: Annotated[list[str], Field(description=f"Only these: {', '.join(ITEM_KINDS)}.")] = [],  # noqa: B006
        memory_type: MemoryTypeName | None = None,
        agent: Annotated[str | None, Field(description="Only what this agent wrote.")] = None,
        since: Annotated[str | None, Field(
            description="Only newer than this: an ISO-8601 time or how long ago (2h, 1d).")] = None,
        until: Annotated[str | None, Field(description="Only older than this: ISO-8601 or how long ago.")] = None,
        limit: whole(1, 500) = 10,
        include_less_relevant: Annotated[bool, Field(
            description="Also the hits under the relevance cut-off, which are left out by default.")] = False,
    ) -> dict[str, Any]:
        """Search everything the swarm knows: memories, learning records (failures, decisions, patterns,
        ...) and documents, ranked, filters applied before the limit (as `swarmdeck memory search`).
        Each hit has kind, ref_id (the memory, record or document chunk), namespace, title, snippet,
        relevance (0-100) and relevance_label; less relevant hits are left out (hidden says how many).
        Read a record in full with record_get, a memory with memory_get."""
        if not query.strip():
            raise InvalidArgument("query must not be blank")
        hits, used, note, hidden = await t.search(
            query, mode=mode, kinds=kinds, namespace_prefix=namespace_prefix, memory_type=memory_type,
            agent=agent, since=_moment("since", since), until=_moment("until", until), limit=limit,
            everything=include_less_relevant)
        results = [{"kind": h.kind, "ref_id": h.ref_id, "namespace": h.namespace, "title": h.title,
                    "snippet": h.snippet, "agent": h.agent, "task_id": h.task_id, "milestone_id": h.milestone_id,
                    "created_at": h.created_at.isoformat(), **relevance(h)} for h in hits]
        out: dict[str, Any] = {"results": results, "count": len(results), "mode": used, "hidden": hidden}
        if note:
            out["note"] = note
        return out


def _moment(name: str, text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return timeparse.past(text).timestamp()
    except ValueError as exc:
        raise InvalidArgument(f"{name}: {exc}") from None

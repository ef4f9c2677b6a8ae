"""The server object: an MCPServer whose tools refuse unknown parameters and explain bad ones in a
sentence, and what every domain module registers its tools through (`Tools`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import ToolAnnotations
from pydantic import ValidationError
from swarmdeck.store import Store, rules
from swarmdeck.store.errors import Remedy, StoreError
from swarmdeck.store.inputs import error_lines

INSTRUCTIONS = """\
swarmdeck coordinates a swarm of coding agents through one shared database; humans watch it on a
dashboard and decide milestone gates. A worker agent's loop: agent_register once; then repeatedly
task_claim (the highest-priority ready task for your agent_type, with context.lessons: the past
failures and decisions that concern it, read them first; or claimed=false when there is none: wait
and try again), agent_heartbeat while you work (status, completion, blockers), then
task_complete with a result, or task_fail with the reason (it is retried while retries remain), or
task_handoff to a debugging agent when an error stops you (your task resumes once it is fixed).
A planner uses task_enqueue with prerequisites, task_execution_plan and task_queue_status. Memory
tools keep what the swarm learns (memory_*, session_*, document_*); record_failure, record_decision
and the other record_* tools log seed 003's learning records, and search finds everything. Errors read "<code>: <what is
wrong>"; swarm_paused means a human escalated a gate: claims resume when a human resumes the swarm.
You cannot decide gates: submit a report with gate_submit_report and poll gate_status."""

READ = ToolAnnotations(read_only_hint=True)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True)

def hint(exc: StoreError) -> str | None:
    """What the model should do about a store refusal: the tool to call, or what to wait for."""
    who = exc.fields.get("who") or exc.fields.get("key")
    if exc.remedy is Remedy.REGISTER_AGENT:
        return "call agent_register first"
    if exc.remedy is Remedy.RESUME_SWARM:
        return "claims resume when a human resumes the swarm: back off and retry later"
    if exc.remedy is Remedy.REGISTER_REVIEWER:
        return f"a person registers as a reviewer at their own terminal, never through a tool ({who})"
    if exc.remedy is Remedy.MAKE_KEY:
        return f"{who} makes a signing key at their own terminal, never through a tool"
    if exc.remedy in (Remedy.INIT_DATABASE, Remedy.MIGRATE):
        return "a person sets up the server's database; no tool does it"
    return None


def _error_text(exc: StoreError) -> str:
    """A store error as the model should read it: its code, the store's own message, then what to do."""
    advice = hint(exc)
    return f"{exc.code}: {exc}" + (f"; {advice}" if advice else "")


def _dotted(loc: Any) -> str:
    """A parameter's path as a JSON client writes it: criteria.0.status."""
    return ".".join(str(p) for p in loc)


def _validation_text(exc: ValidationError) -> str:
    """Arguments that did not validate, in the store's one error format (store.inputs.error_lines)."""
    return "invalid_argument: " + "; ".join(error_lines(exc, where=_dotted))


class SwarmdeckMCP(MCPServer):
    """MCPServer whose tools refuse unknown parameters and explain bad ones in a sentence."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parameters: dict[str, set[str]] | None = None

    async def _known_parameters(self, name: str) -> set[str] | None:
        if self._parameters is None:
            self._parameters = {
                t.name: set((t.input_schema or {}).get("properties", {})) for t in await self.list_tools()
            }
        return self._parameters.get(name)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        known = await self._known_parameters(name)
        if known is not None:
            unknown = sorted(set(arguments) - known)
            if unknown:
                accepted = ", ".join(sorted(known)) or "none"
                raise ToolError(
                    f"Error executing tool {name}: invalid_argument: unknown parameter(s) "
                    f"{', '.join(unknown)}; {name} takes: {accepted}"
                )
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            cause = exc.__cause__
            refused = cause if isinstance(cause, StoreError) else rules.driver_refusal(cause)
            if refused is not None:  # a store refusal, or a number the database cannot hold
                raise ToolError(f"Error executing tool {name}: {_error_text(refused)}") from cause
            if isinstance(cause, UnicodeEncodeError):  # "\udcff" in a JSON string: no text SQLite can hold
                raise ToolError(
                    f"Error executing tool {name}: invalid_argument: a parameter is not valid UTF-8 text"
                ) from cause
            raise
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                cause = exc.__cause__
                raise ToolError(f"Error executing tool {name}: {_validation_text(cause)}") from cause
            raise


def package_version() -> str:
    try:
        return version("swarmdeck")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


@dataclass
class Tools:
    """What a domain module registers its tools with: the server, the store they call, who acts for
    writes that name no agent (--actor), and the embedder semantic search uses (None: keyword only)."""

    mcp: SwarmdeckMCP
    store: Store
    actor: str
    embedder: Any = None

    def tool(self, annotations: ToolAnnotations) -> Callable[[Callable], Callable]:
        """Register a tool; its docstring, dedented, is the description the model reads."""

        def deco(fn: Callable) -> Callable:
            self.mcp.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations)
            return fn

        return deco

    async def search(self, query: str, **params: Any) -> tuple[list[Any], str, str | None, int]:
        """Search with the shared rule (app/mcp/search.py): the hits, the mode, the note, how many hidden."""
        from .search import search

        return await search(self.store, self.embedder, query, **params)

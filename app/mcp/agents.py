"""Agent tools: register, heartbeat, and log the steps an agent takes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from swarmdeck.app.output import jsonable
from swarmdeck.store import rules
from swarmdeck.store.inputs import TodoItem

from .params import AgentName, AgentStatusName, TaskId, number
from .server import WRITE, Tools


def register(t: Tools) -> None:
    store, tool = t.store, t.tool

    @tool(WRITE)
    async def agent_register(
        name: AgentName,
        agent_type: Annotated[str, Field(
            min_length=1, description="Your role, e.g. implementation, testing.")],
        colour: Annotated[str | None, Field(description="How the dashboard colours you, e.g. green.")] = None,
        model: Annotated[str | None, Field(description="The model behind you, e.g. opus.")] = None,
        stale_after_seconds: Annotated[number(gt=0), Field(
            description="Heartbeat age after which you show as stale.")] = 60.0,
        requeue_after_seconds: Annotated[number(ge=0), Field(
            description="How long you may stay stale before the tasks you claimed go back to the "
                        "queue for others.")] = 300.0,
    ) -> dict[str, Any]:
        """Register yourself (or update your registration) so you can claim tasks and send heartbeats.
        Returns the agent."""
        agent = await store.register_agent(name, agent_type=agent_type, colour=colour, model=model,
                                           stale_after_seconds=stale_after_seconds,
                                           requeue_after_seconds=requeue_after_seconds, actor=name)
        return jsonable(agent)

    @tool(WRITE)
    async def agent_heartbeat(
        agent: AgentName,
        status: Annotated[AgentStatusName | None, Field(description="Omit to leave it as it is.")] = None,
        current_task: Annotated[TaskId | None, Field(
            description="Id of the task you are on (a number). Omit to leave it.")] = None,
        clear_current_task: Annotated[bool, Field(description="true: you are on no task now.")] = False,
        completion: Annotated[number(ge=0, le=100) | None, Field(
            description="Percent done of the current work.")] = None,
        blockers: Annotated[list[str] | None, Field(
            description="What blocks you; [] clears them. Omit to leave them.")] = None,
        next_milestone: Annotated[str | None, Field(
            description="What you reach next; \"\" clears it.")] = None,
        todos: Annotated[list[TodoItem] | None, Field(
            description="Your todo list as seed 001 keeps it: [{content, status: pending | in_progress | "
                        "completed, activeForm}]. It gives completion (the share completed) and status (working "
                        "while one is in_progress) unless you give them, and the in_progress item's activeForm "
                        "shows as what you are doing.")] = None,
    ) -> dict[str, Any]:
        """Tell the dashboard you are alive, with any status you report (fields you omit stay as they
        are). Send one every minute or so while working: an agent whose heartbeat is older than its
        stale_after_seconds shows as stale. Returns the agent."""
        fields = rules.agent_fields(status=status, current_task=current_task, clear_task=clear_current_task,
                                    completion=completion, blockers=blockers, next_milestone=next_milestone)
        if todos is not None:
            fields["todos"] = [t.model_dump(by_alias=True) for t in todos]
        return jsonable(await store.heartbeat(agent, actor=agent, **fields))

    @tool(WRITE)
    async def log_action(
        agent: AgentName,
        phase: Annotated[str, Field(
            min_length=1, description="Where you are, e.g. implement, test, review.")],
        action: Annotated[str, Field(min_length=1, description="What you did, in a few words.")],
        duration_ms: number(ge=0) | None = None,
        success: bool = True,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Record one step you took, with its duration and outcome: it shows in your activity on the
        dashboard and in its charts."""
        await store.log_action(agent, phase=phase, action=action, duration_ms=duration_ms, success=success,
                               error_message=error_message)
        return {"logged": True}

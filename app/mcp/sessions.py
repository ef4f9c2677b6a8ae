"""Session tools: a state object and an event history for one agent's run."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from swarmdeck.app.output import jsonable

from .params import whole
from .server import READ, WRITE, Tools


def register(t: Tools) -> None:
    store, actor, tool = t.store, t.actor, t.tool

    @tool(WRITE)
    async def session_create(
        session_id: Annotated[str | None, Field(
            description="Your own id for it; omit to get a new one.")] = None,
        agent: Annotated[str | None, Field(description="The agent the session belongs to.")] = None,
        initial_state: dict[str, Any] | None = None,
        app_name: Annotated[str | None, Field(description="Kept in the state as app_name.")] = None,
        user_id: Annotated[str | None, Field(description="Used as the agent when agent is omitted.")] = None,
        project_id: Annotated[str | None, Field(description="Kept in the state as project_id.")] = None,
    ) -> dict[str, Any]:
        """Start a session: a state object and an event history for one agent's run. Returns it."""
        state = dict(initial_state or {})
        for name, given in (("app_name", app_name), ("project_id", project_id)):
            if given is not None:
                state.setdefault(name, given)
        session = await store.create_session(agent=agent or user_id, session_id=session_id, state=state,
                                             actor=agent or user_id or actor)
        return {**jsonable(session), "session_id": session.id}

    @tool(READ)
    async def session_get(
        session_id: Annotated[str, Field(min_length=1)],
        events_limit: Annotated[whole(0, 500), Field(description="How many recent events to include.")] = 20,
    ) -> dict[str, Any]:
        """A session: its status, state and most recent events (oldest first)."""
        session = await store.get_session(session_id)
        events = await store.session_events(session_id, limit=events_limit) if events_limit else []
        return {**jsonable(session), "events": jsonable(events)}

    @tool(WRITE)
    async def session_append_event(
        session_id: Annotated[str, Field(min_length=1)],
        event: Annotated[dict[str, Any], Field(description="The event; its event_type (or kind) names it.")],
        state_delta: Annotated[dict[str, Any] | None, Field(
            description="Keys to merge into the state, atomically with the event.")] = None,
    ) -> dict[str, Any]:
        """Append an event to a session's history (and merge state_delta into its state in the same
        write). A terminated session takes no more events."""
        kind = next((event[k] for k in ("event_type", "kind", "type")
                     if isinstance(event.get(k), str) and event[k].strip()), "event")
        appended = await store.append_session_event(session_id, kind=kind, payload=event, state_delta=state_delta,
                                                    actor=actor)
        return {"status": "event_appended", "event": jsonable(appended)}

    @tool(READ)
    async def session_get_state(
        session_id: Annotated[str, Field(min_length=1)],
        key: Annotated[str | None, Field(description="One key; omit for the whole state.")] = None,
    ) -> dict[str, Any]:
        """A session's state: one key's value ({value, present}) or the whole state object."""
        session = await store.get_session(session_id)
        if key is None:
            return {"session_id": session.id, "state": session.state}
        return {"session_id": session.id, "key": key, "present": key in session.state,
                "value": session.state.get(key)}

    @tool(WRITE)
    async def session_set_state(
        session_id: Annotated[str, Field(min_length=1)],
        key: Annotated[str, Field(min_length=1)],
        value: Annotated[Any, Field(description="Any JSON value.")],
    ) -> dict[str, Any]:
        """Set one key of a session's state (the other keys stay). Returns the whole state."""
        session = await store.set_session_state(session_id, {key: value}, merge=True, actor=actor)
        return {"status": "state_updated", "session_id": session.id, "state": session.state}

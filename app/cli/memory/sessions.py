"""`swarmdeck session ...`: agent sessions, their events and state."""

from __future__ import annotations

import json

import click

from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.models import Session, SessionEvent

from ...output import plain, when
from .._base import Config, Store, leaf, parse_json_arg
from ._common import indented, one_line, session_group

def render_session(s: Session) -> str:
    return "\n".join([
        f"session {plain(s.id)}  [{s.status}]  agent {plain(s.agent_name or '-')}  "
        f"created {when(s.created_at)}  updated {when(s.updated_at)}",
        *indented("state: " + json.dumps(s.state, ensure_ascii=False, indent=2)),
    ])


def render_event(e: SessionEvent) -> str:
    payload = f" {one_line(json.dumps(e.payload, ensure_ascii=False))}" if e.payload else ""
    return f"event {e.id}  {when(e.ts)}  {plain(e.kind)}{payload}"


@leaf(session_group, "create", render_session)
@click.option("--agent", help="The agent the session belongs to.")
@click.option("--id", "session_id", help="Its id (default: a new random one).")
@click.option("--state", help="Initial state as a JSON object.")
async def create_session(store: Store, cfg: Config, agent: str | None, session_id: str | None,
                         state: str | None) -> Session:
    """Start a session (status created; its first event makes it active)."""
    initial = parse_json_arg(state, "--state")
    if initial is not None and not isinstance(initial, dict):
        raise InvalidArgument("--state must be a JSON object")
    return await store.create_session(agent=agent, session_id=session_id, state=initial, actor=cfg.who(agent))


@leaf(session_group, "get", render_session)
@click.argument("session_id")
async def get_session(store: Store, cfg: Config, session_id: str) -> Session:
    """Show a session and its state."""
    return await store.get_session(session_id)


@leaf(session_group, "event", render_event)
@click.argument("session_id")
@click.option("--kind", required=True, help="What happened, e.g. tool_call, note.")
@click.option("--payload", help="A JSON object ('@file' or '-' for stdin).")
async def session_event(store: Store, cfg: Config, session_id: str, kind: str,
                        payload: str | None) -> SessionEvent:
    """Append an event to a session."""
    body = parse_json_arg(payload, "--payload")
    if body is not None and not isinstance(body, dict):
        raise InvalidArgument("--payload must be a JSON object")
    return await store.append_session_event(session_id, kind=kind, payload=body, actor=cfg.who())


@leaf(session_group, "events", lambda es: "\n".join(map(render_event, es)) or "no events")
@click.argument("session_id")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
async def session_events(store: Store, cfg: Config, session_id: str, limit: int) -> list[SessionEvent]:
    """A session's latest events, oldest first."""
    await store.get_session(session_id)  # an unknown session is "not found", not an empty list
    return await store.session_events(session_id, limit=limit)


@leaf(session_group, "state", render_session)
@click.argument("session_id")
@click.option("--set", "new_state", help="A JSON object merged into the state ('@file' or '-' for stdin).")
@click.option("--replace", is_flag=True, help="With --set: replace the whole state instead of merging.")
async def session_state(store: Store, cfg: Config, session_id: str, new_state: str | None,
                        replace: bool) -> Session:
    """Show a session's state, or change it with --set."""
    if new_state is None:
        if replace:
            raise InvalidArgument("--replace needs --set with the new state")
        return await store.get_session(session_id)
    return await store.set_session_state(session_id, parse_json_arg(new_state, "--set"), merge=not replace,
                                         actor=cfg.who())


@leaf(session_group, "status", render_session)
@click.argument("session_id")
@click.argument("status")
async def session_status(store: Store, cfg: Config, session_id: str, status: str) -> Session:
    """Move a session to STATUS: active, paused, terminated or archived."""
    return await store.set_session_status(session_id, status, actor=cfg.who())

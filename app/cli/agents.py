"""`swarmdeck agent ...`: registration, heartbeats and status fields."""

from __future__ import annotations

import click

from swarmdeck.store import Agent, AgentStatus, rules
from swarmdeck.store.models import STATUS_ALIASES

from ..output import ago, plain
from ._base import Config, Store, leaf, parse_json_arg, table
from ._parse import DURATION, ID


@click.group("agent")
def agent_group() -> None:
    """Register agents, send heartbeats, report status."""


def render_agent(a: Agent) -> str:
    state = "STALE" if a.stale else a.status.value
    lines = [
        f"{plain(a.name)}  [{state}]  type {plain(a.agent_type)}  heartbeat {ago(a.heartbeat_age_seconds)} ago",
        f"  task: {a.current_task_id or '-'}  completion: {a.completion:.0f}%  "
        f"next milestone: {plain(a.next_milestone or '-')}",
    ]
    if a.blockers:
        lines.append("  blockers: " + "; ".join(plain(b) for b in a.blockers))
    return "\n".join(lines)


def render_agents(agents: list[Agent]) -> str:
    if not agents:
        return "no agents registered"
    return table(
        [[a.name, "STALE" if a.stale else a.status, a.agent_type, a.current_task_id or "-",
          f"{a.completion:.0f}%", ago(a.heartbeat_age_seconds)] for a in agents],
        ["name", "status", "type", "task", "done", "heartbeat"],
    )


@leaf(agent_group, "register", render_agent)
@click.argument("name")
@click.option("--type", "agent_type", required=True, help="The agent's role / agent type.")
@click.option("--colour", "--color", "colour")
@click.option("--model")
@click.option("--stale-after", "stale_after_seconds", type=DURATION, default=60, show_default=True,
              help="Heartbeat age after which the agent is shown stale.")
@click.option("--requeue-after", "requeue_after_seconds", type=DURATION, default=300, show_default=True,
              help="How long the agent may stay stale before the tasks it claimed go back to the queue.")
async def register(store: Store, cfg: Config, name: str, **fields) -> Agent:
    """Register an agent (or update its registration)."""
    return await store.register_agent(name, actor=cfg.who(name), **fields)


def _status_options(fn):
    for option in reversed([
        click.option("--status", type=click.Choice([*(s.value for s in AgentStatus), *STATUS_ALIASES[AgentStatus]]),
                     help="in_progress (seed 001's todo word) is working."),
        click.option("--task", "current_task_id", type=ID, help="Current task id."),
        click.option("--no-task", is_flag=True, help="Clear the current task."),
        click.option("--completion", type=click.FloatRange(0, 100), help="Percent complete."),
        click.option("--blocker", "blockers", multiple=True, help="A blocker (repeatable)."),
        click.option("--clear-blockers", is_flag=True),
        click.option("--next-milestone"),
        click.option("--todos", help="Your todo list, seed 001's JSON: [{content, status (pending, in_progress, "
                                     "completed), activeForm}] ('@file' or '-' for stdin): gives completion, "
                                     "status and what you are doing."),
    ]):
        fn = option(fn)
    return fn


def _fields(status, current_task_id, no_task, completion, blockers, clear_blockers, next_milestone,
            todos=None) -> dict:
    """The options given, as the store's fields (rules.agent_fields), parsed into an AgentUpdate; a todo
    list as it was given (the store maps it)."""
    fields = rules.agent_fields(status=status, current_task=current_task_id, clear_task=no_task,
                                completion=completion, blockers=list(blockers) or None,
                                clear_blockers=clear_blockers, next_milestone=next_milestone)
    listed = {} if todos is None else {"todos": parse_json_arg(todos, "--todos")}
    if not fields:
        return listed  # a bare heartbeat: nothing to parse, and no model to load
    from swarmdeck.store.inputs import AgentUpdate

    return {**AgentUpdate.parse(fields).changes(), **listed}


@leaf(agent_group, "heartbeat", render_agent)
@click.argument("name")
@_status_options
async def heartbeat(store: Store, cfg: Config, name: str, **options) -> Agent:
    """Record that the agent is alive, with any status it reports."""
    return await store.heartbeat(name, actor=cfg.who(name), **_fields(**options))


@leaf(agent_group, "update", render_agent)
@click.argument("name")
@_status_options
async def update(store: Store, cfg: Config, name: str, **options) -> Agent:
    """Change an agent's status fields without counting as a heartbeat."""
    return await store.update_agent(name, actor=cfg.who(name), **_fields(**options))


@leaf(agent_group, "get", render_agent)
@click.argument("name")
async def get(store: Store, cfg: Config, name: str) -> Agent:
    """Show one agent."""
    return await store.get_agent(name)


@leaf(agent_group, "list", render_agents)
async def list_(store: Store, cfg: Config) -> list[Agent]:
    """Every agent with its status and heartbeat age."""
    return await store.list_agents()


@leaf(agent_group, "log", lambda _: "logged")
@click.argument("name")
@click.option("--phase", required=True)
@click.option("--action", required=True)
@click.option("--duration-ms", type=click.FloatRange(0))
@click.option("--failed", is_flag=True)
@click.option("--error", "error_message")
async def log(store: Store, cfg: Config, name: str, phase: str, action: str, duration_ms, failed, error_message):
    """Log one action an agent took, with its duration."""
    await store.log_action(name, phase=phase, action=action, duration_ms=duration_ms,
                           success=not failed, error_message=error_message)
    return {"logged": True}


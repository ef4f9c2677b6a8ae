"""`swarmdeck learn ...`: seed 003's named questions over the learning records and the agents' logged
actions (the answers are computed in store/insights.py, from the store's public reads)."""

from __future__ import annotations

from typing import Any

import click

from swarmdeck.store import insights

from ..output import ago, when
from ._base import Config, Store, leaf, table


@click.group("learn")
def learn_group() -> None:
    """Seed 003's questions, answered from the records.

    How far estimates are off, which pipelines crept past their plan, which cached docs are stale,
    which agents are slow, which files grow too complex."""


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _render_correction(c: insights.Correction) -> str:
    if c.factor is None:
        return (f"no completed estimate since {when(c.since)} (the last {c.days:g} days): log estimates with "
                "actual_sessions to learn a correction factor")
    return "\n".join([
        f"correction factor {c.factor:.2f}: multiply new estimates by it "
        f"(mean of actual / estimated sessions over {c.samples} estimate(s) completed in the last {c.days:g} days)",
        f"median {c.median:.2f}; {c.overruns} of {c.samples} took longer than estimated",
    ])


@leaf(learn_group, "correction", _render_correction)
@click.option("--days", metavar="DAYS", type=click.FloatRange(min=0, min_open=True), default=insights.CORRECTION_DAYS,
              show_default=True, help="How far back completed estimates count.")
async def correction(store: Store, cfg: Config, days: float) -> insights.Correction:
    """How far estimates are off: multiply new ones by this factor.

    The mean of actual / estimated sessions over the estimate records completed (completed_at, else
    when logged) within the window."""
    return await insights.read_correction(store, days=days)


def _render_scope(rows: list[insights.PipelineScope]) -> str:
    if not rows:
        return "no pipeline states logged (record log pipeline_state ...)"
    crept = sum(1 for r in rows if r.crept)
    head = f"{crept} of {len(rows)} pipeline(s) crept past their plan" if crept else \
        f"no scope creep in {len(rows)} pipeline(s)"
    return head + "\n" + table(
        [[r.pipeline_id, r.status, "-" if r.planned is None else r.planned, "-" if r.actual is None else r.actual,
          _num(r.ratio), "CREPT" if r.crept else "", r.feature_request] for r in rows],
        ["pipeline", "status", "planned", "done", "ratio", "", "feature"])


@leaf(learn_group, "scope-creep", _render_scope)
@click.option("--ratio", metavar="RATIO", type=click.FloatRange(min=1), default=insights.SCOPE_CREEP_RATIO, show_default=True,
              help="Steps done over steps planned beyond which a pipeline has crept.")
async def scope_creep(store: Store, cfg: Config, ratio: float) -> list[insights.PipelineScope]:
    """Pipelines whose completed steps outgrew their plan.

    From each pipeline's latest pipeline_state record: planned_steps and completed_steps, else the
    seed's state JSON (decomposition.total_steps, completed_steps)."""
    return await insights.read_scope_creep(store, ratio=ratio)


def _render_docs(result: dict[str, Any]) -> str:
    docs, now = result["docs"], result["now"]
    if not docs:
        return "no stale documentation" if result["stale_only"] else "no docs cache records"
    return table([[d.library, d.version, when(d.fetched_at),
                   f"expired {ago(now - d.expires_at.timestamp())} ago" if d.stale
                   else f"in {ago(d.expires_at.timestamp() - now)}", d.source_url or "-"] for d in docs],
                 ["library", "version", "fetched", "expires", "source"])


@leaf(learn_group, "stale-docs", _render_docs)
@click.option("--all", "show_all", is_flag=True, help="Every library version cached, not only the stale.")
async def stale_docs(store: Store, cfg: Config, show_all: bool) -> dict[str, Any]:
    """Cached library docs past their expiry: re-fetch them.

    From the latest docs_cache record of each library version: expired at expires_at, else 7 days
    after fetched_at; oldest fetch first."""
    now = store.clock()
    docs = await insights.read_docs(store, now=now, stale_only=not show_all)
    return {"docs": docs, "now": now, "stale_only": not show_all}


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}s" if value >= 1000 else f"{value:.0f}ms"


def _render_agents(rows: list[insights.AgentSpeed]) -> str:
    if not rows:
        return "no logged actions in that window"
    return table([[a.agent, a.actions, a.timed, _ms(a.mean_ms), _ms(a.median_ms), _ms(a.max_ms), a.failures]
                  for a in rows], ["agent", "actions", "timed", "mean", "median", "max", "failed"])


@leaf(learn_group, "slow-agents", _render_agents)
@click.option("--days", metavar="DAYS", type=click.FloatRange(min=0, min_open=True), default=insights.CORRECTION_DAYS,
              show_default=True, help="How far back logged actions count.")
@click.option("--all", "all_time", is_flag=True, help="Every logged action, however old.")
async def slow_agents(store: Store, cfg: Config, days: float, all_time: bool) -> list[insights.AgentSpeed]:
    """Agents by mean action duration, slowest first.

    From the actions logged with `agent log` (or the MCP server) and from agent_log records."""
    return await insights.read_slow_agents(store, days=None if all_time else days)


def _render_complexity(rows: list[insights.FileTrend]) -> str:
    if not rows:
        return "no complexity snapshots with a complexity_score"
    growing = sum(1 for r in rows if r.growing)
    head = f"{growing} file(s) growing too fast" if growing else f"no file growing too fast ({len(rows)} tracked)"
    return head + "\n" + table(
        [[r.file_path, _num(r.trend), "GROWING" if r.growing else "", " > ".join(f"{s:g}" for s in r.scores),
          when(r.last_at)] for r in rows],
        ["file", "trend", "", "scores (oldest first)", "last snapshot"])


@leaf(learn_group, "complexity", _render_complexity)
@click.option("--last", metavar="N", type=click.IntRange(2, 1000), default=insights.COMPLEXITY_SNAPSHOTS, show_default=True,
              help="How many of each file's latest snapshots the trend spans.")
@click.option("--growth", metavar="RATIO", type=click.FloatRange(min=1), default=insights.COMPLEXITY_GROWTH, show_default=True,
              help="Newest over oldest score beyond which a file grows too fast.")
async def complexity(store: Store, cfg: Config, last: int, growth: float) -> list[insights.FileTrend]:
    """Files whose complexity grows too fast, fastest first.

    The trend is a file's newest complexity_score over the oldest of its latest snapshots."""
    return await insights.read_complexity(store, last=last, growth=growth)

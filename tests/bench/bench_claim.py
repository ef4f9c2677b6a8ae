"""Claim-path benchmark: one agent, one process, N claim + complete loops on a gated project.

The project has four milestones: M1 approved (2-of-2, by signed decisions when the store signs),
M2 open with the ready work, M3 and M4 locked, and a history of decisions (revisions, an
escalation a reviewer lifted) on the gates, so whatever the claim path checks about the gates
it checks against a realistic history. Reported: the median and p99 microseconds of
``claim_task`` alone (the completion is not timed). This is a benchmark, not a test: it prints
figures and passes/fails nothing.

    python tests/bench/bench_claim.py                  # 2,000 loops
    python tests/bench/bench_claim.py --loops 500 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import statistics
import tempfile
import time
from pathlib import Path

from swarmdeck.store import open_store

PASSPHRASE = "bench"

REPORT = dict(summary="done", criteria=[{"name": "tests pass", "status": "met", "evidence": "ci"}],
              proposed_decision="APPROVE")


def _signs(store) -> bool:
    return "signature" in inspect.signature(store.decide_gate).parameters


async def _act(store, method: str, **kwargs):
    """A reviewer's act, signed when this version of the store verifies signatures."""
    if not _signs(store):
        return await getattr(store, method)(**kwargs)
    from swarmdeck.store import signing

    if method == "decide_gate":
        who = kwargs["reviewer"]
        gate = await store.gate_status(kwargs["milestone"])
        message = signing.decision_message(
            milestone_id=gate.milestone.id, report_hash=gate.report.content_hash, decision=kwargs["decision"],
            rationale=kwargs["rationale"], conditions=kwargs.get("conditions", ()), reviewer=who)
    else:
        who = kwargs["by"]
        state = await store.swarm_state()
        message = signing.resume_message(escalation_id=state.escalation_id, note=kwargs["note"], reviewer=who)
    signature = signing.load_key(who, PASSPHRASE).sign(message)
    return await getattr(store, method)(signature=signature, **kwargs)


async def build(path: Path, n_tasks: int) -> None:
    store = await open_store(path, create=True)
    try:
        await store.register_agent("worker", agent_type="coder")
        await store.register_agent("validator", agent_type="validation")
        for name in ("alice", "bob"):
            if _signs(store):
                from swarmdeck.store import signing

                key = signing.create_key(name, PASSPHRASE).public_key
                await store.add_reviewer(name, by="alice", public_key=key)
            else:
                await store.add_reviewer(name, by="alice")
        for name, approvals in (("M1", 2), ("M2", 1), ("M3", 1), ("M4", 1)):
            await store.add_milestone(name, required_approvals=approvals)
        # M1's history: a revision, an escalation lifted, then two approvals.
        await store.submit_report("M1", submitted_by="validator", **REPORT)
        await _act(store, "decide_gate", milestone="M1", decision="REVISE", rationale="docs", reviewer="bob")
        await store.submit_report("M1", submitted_by="validator", **REPORT)
        await _act(store, "decide_gate", milestone="M1", decision="ESCALATE", rationale="host", reviewer="alice")
        await _act(store, "resume_swarm", by="bob", note="host booked")
        for who in ("alice", "bob"):
            await _act(store, "decide_gate", milestone="M1", decision="APPROVE", rationale="ok", reviewer=who)
        for i in range(n_tasks):
            await store.enqueue_task(description=f"task {i}", agent_type="coder", milestone="M2" if i % 4 else None,
                                     base_priority=i % 10)
        for i in range(200):
            await store.enqueue_task(description=f"later {i}", agent_type="coder", milestone=("M3", "M4")[i % 2])
    finally:
        await store.close()


async def loop(path: Path, loops: int) -> list[float]:
    store = await open_store(path)
    claims = []
    try:
        for _ in range(loops):
            started = time.perf_counter()
            task = await store.claim_task(agent="worker")
            claims.append((time.perf_counter() - started) * 1e6)
            assert task is not None and task.milestone_id in (None, 2), task
            await store.complete_task(task.id, agent="worker")
    finally:
        await store.close()
    return claims


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=2000, help="claim + complete loops per run (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh database (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="swarmdeck-bench-claim-") as tmp:
        os.environ["SWARMDECK_KEYS"] = str(Path(tmp) / "keys")
        medians, p99s = [], []
        for run in range(args.repeat):
            path = Path(tmp) / f"run{run}.db"
            asyncio.run(build(path, args.loops + 100))
            claims = asyncio.run(loop(path, args.loops))
            claims.sort()
            medians.append(statistics.median(claims))
            p99s.append(claims[int(len(claims) * 0.99) - 1])
            print(f"run {run + 1}: {args.loops} claims, median {medians[-1]:.0f} µs, p99 {p99s[-1]:.0f} µs")
            (Path(tmp) / "keys").exists() and [p.unlink() for p in (Path(tmp) / "keys").iterdir()]
        print(f"claim_task: median of medians {statistics.median(medians):.0f} µs, "
              f"median p99 {statistics.median(p99s):.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

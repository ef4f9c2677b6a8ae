"""The last gate ends the project: PROJECT COMPLETE once every milestone's gate has passed by verified
approvals (store.rules.project_complete), on both backends."""

from __future__ import annotations

from swarmdeck.store import rules

from signing_support import decide
from store_support import raw, submit

STORE_BACKENDS = ("sqlite", "postgres")


async def test_the_project_is_complete_when_the_last_gate_passes(gated):
    store = gated
    assert not await rules.project_complete(store)
    await submit(store, "M1")
    await decide(store, "M1", decision="CONDITIONAL", rationale="ok", reviewer="alice", conditions=["docs"])
    assert not await rules.project_complete(store)  # M2 is still to pass
    await submit(store, "M2")
    assert not await rules.project_complete(store)  # in review
    await decide(store, "M2", decision="REVISE", rationale="not yet", reviewer="alice")
    assert not await rules.project_complete(store)
    await submit(store, "M2")
    await decide(store, "M2", decision="APPROVE", rationale="ok", reviewer="alice")
    assert await rules.project_complete(store)
    await store.add_milestone("M3")  # more work: the project is open again
    assert not await rules.project_complete(store)


async def test_no_milestones_is_no_project_and_a_forged_status_completes_nothing(store, where):
    assert not await rules.project_complete(store)
    await store.add_milestone("M1")
    with raw(where) as conn:  # a row written around swarmdeck: no verified approval behind it
        conn.execute("UPDATE milestones SET status = 'approved'")
        if hasattr(conn, "commit"):
            conn.commit()
    assert (await store.list_milestones())[0].status.passed
    assert not await rules.project_complete(store)

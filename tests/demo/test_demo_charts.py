"""`swarmdeck demo` fills every chart of the charts screen within its first minute."""

from __future__ import annotations

import random

from swarmdeck.app.demo import Swarm, seed

STORE_BACKENDS = ("sqlite", "postgres")

TICK = 0.5


async def test_every_chart_has_data_a_minute_into_the_demo(store, clock):
    await seed(store, now=clock.now, history=True)
    before = await store.charts("1h")
    # the backfilled history alone: finished work, durations, estimates, queue samples, milestones
    assert sum(before.throughput.completed) > 0 and not before.queue.empty
    assert before.durations.agents and before.estimates.points and before.estimates.correction_factor
    assert [m.name[:2] for m in before.burndown.milestones] == ["M1", "M2", "M3", "M4"]
    swarm = Swarm(store, rng=random.Random(1))
    for _ in range(int(60 / TICK)):
        clock.advance(TICK)
        await swarm.step()
    charts = await store.charts("15m")
    assert not any(c.empty for c in (charts.throughput, charts.queue, charts.durations, charts.estimates,
                                     charts.burndown, charts.gates))
    # M1's report went to review: the gate chart shows how long it has waited (humans decide)
    assert [w.milestone[:2] for w in charts.gates.awaiting] == ["M1"] and charts.gates.awaiting[0].seconds > 0
    m1 = charts.burndown.milestones[0]
    assert m1.remaining[-1] == 0 < max(m1.remaining) and m1.hours_spent > 0  # M1 burned down in the minute
    assert len(await store.write_latencies()) > 100

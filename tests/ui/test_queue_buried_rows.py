"""A task whose input was stored nested ~970 deep (before inputs were bounded) no longer breaks the queue
screen for everyone: the queue lists every task and the task's detail shows a note in place of its input."""

from __future__ import annotations

from contextlib import closing

import sqlean
from test_screens import ACTIVE, SIZE, detail_text, open_queue, select
from ui_support import make_app, rows


async def test_the_queue_lists_and_details_a_task_too_deep_to_decode(seeded):
    buried = seeded.tasks["service"]
    with closing(sqlean.connect(str(seeded.path), isolation_level=None)) as conn:
        conn.execute("UPDATE tasks SET input_data = ?, result_data = ? WHERE id = ?",
                     ("[" * 970 + "]" * 970, '{"x": ' + "[" * 970 + "]" * 970 + "}", buried))
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        assert set(rows(screen.table)) == {str(seeded.tasks[k]) for k in ACTIVE}
        await select(pilot, buried)
        detail = detail_text(screen)
        assert "input_data is nested deeper than 64 levels and is not shown" in detail
        assert "result_data is nested deeper than 64 levels" in detail

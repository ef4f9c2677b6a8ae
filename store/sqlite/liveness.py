"""SQL shared by the task queue's statements. What reaping and holding do is decided in
store/domain/liveness.py; their statements are the liveness section of store/sqlite/uow.py."""

from __future__ import annotations

import json
from collections.abc import Iterable

# store/sqlite/tasks.py takes it from here.
from ..unit_base import UNFINISHED_SQL  # noqa: F401


def ids_json(ids: Iterable[int]) -> str:
    """Ids as one JSON parameter, for ``IN (SELECT value FROM json_each(?))``."""
    return json.dumps(list(ids))

"""SQL shared by SQLite's task queue statements. What reaping and holding do is decided in
store/domain/liveness.py; their statements are the liveness sections of store/unit_base.py and
store/sqlite/uow.py."""

from __future__ import annotations

import json
from collections.abc import Iterable


def ids_json(ids: Iterable[int]) -> str:
    """Ids as one JSON parameter, for ``IN (SELECT value FROM json_each(?))``."""
    return json.dumps(list(ids))

"""`swarmdeck memory|failure|decision|record|document|session ...`: the swarm's memory as agents use it.

One module per noun: entries (memory add/get/...), search, index (memory index/status), records
(failure, decision, record), docs (document), sessions. Importing them registers their commands.
"""

from __future__ import annotations

from . import docs, entries, index, records, search, sessions  # noqa: F401  (they register their commands)
from ._common import decision_group, document_group, failure_group, memory_group, record_group, session_group

GROUPS = (memory_group, failure_group, decision_group, record_group, document_group, session_group)

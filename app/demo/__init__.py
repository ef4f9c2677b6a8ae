"""`swarmdeck demo`: a fresh database with seed 000's project, worked by a simulated swarm.

- ``project``: the seeds' project as data (the roster, the milestones and their tasks, the words the
  swarm speaks);
- ``seeding``: ``seed(store)`` fills a fresh store with that project and a few hours of past work, and the demo
  reviewer's signing key;
- ``swarm``: ``Swarm(store)``, the fake agents that work the project through the public ``Store``.

No Textual import here: the CLI seeds the store and hands ``Swarm`` to the dashboard.
"""

from __future__ import annotations

from .seeding import DEMO_PASSPHRASE, backfill, demo_key_folder, demo_signer, seed
from .swarm import Swarm

__all__ = ["DEMO_PASSPHRASE", "Swarm", "backfill", "demo_key_folder", "demo_signer", "seed"]

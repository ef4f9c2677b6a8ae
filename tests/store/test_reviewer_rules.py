"""Reviewer registration (add, give a key, remove) is a rule of store/domain/reviewers.py over the unit
of work: the same script of acts, run over the store (SQLite and PostgreSQL) and over a unit of dicts,
gives the same reviewers, the same refusals and the same change-feed events."""

from __future__ import annotations

import copy
import json
from typing import Any

from swarmdeck.store.domain import reviewers
from swarmdeck.store.models import Reviewer, from_ts

STORE_BACKENDS = ("sqlite", "postgres")

KEYS = [bytes([n]) * 32 for n in range(3)]

#: (act, name, by, key index or None, dry run)
SCRIPT = [
    ("add", "alice", "alice", 0, False),   # the first reviewer adds themself
    ("add", "bob", "mallory", None, False),  # not a reviewer
    ("add", "a1", "alice", None, False),    # an agent's name
    ("add", "bob", "a1", None, False),      # an agent registrar
    ("add", "alice", "alice", None, False),  # already registered
    ("add", "bob", "alice", None, True),    # dry run: nobody registered
    ("add", "bob", "alice", None, False),
    ("key", "bob", "a1", 1, False),         # an agent gives nobody a key
    ("key", "bob", "bob", 1, True),
    ("key", "bob", "bob", 1, False),
    ("key", "bob", "bob", 2, False),        # a key never changes
    ("key", "bob", "bob", 1, False),        # the key they have: nothing to do
    ("key", "nobody", "alice", 1, False),
    ("remove", "bob", "mallory", None, False),
    ("remove", "bob", "alice", None, True),
    ("remove", "bob", "alice", None, False),
    ("remove", "bob", "alice", None, False),  # already removed
    ("key", "bob", "bob", 1, False),          # removed: no key
    ("add", "bob", "alice", 2, False),        # registered again with another key: refused
    ("add", "bob", "alice", None, False),     # registered again: keeps the key they had
    ("remove", "alice", "bob", None, False),
    ("add", "carol", "carol", None, False),   # there is a reviewer: only they add another
]


class DictUnit:
    """The reviewer operations of ``store.domain.uow.Unit`` over dicts."""

    def __init__(self, db: dict[str, Any], now: float, actor: str) -> None:
        self.db, self.now, self.actor = db, now, actor

    def event(self, kind: str, entity: str, entity_id: Any = None, payload: dict[str, Any] | None = None) -> None:
        self.db["events"].append((str(kind), entity, entity_id, json.loads(json.dumps(payload or {}))))

    def agent_exists(self, name: str) -> bool:
        return name in self.db["agents"]

    def reviewer(self, name: str) -> Reviewer | None:
        row = self.db["reviewers"].get(name)
        return None if row is None else Reviewer(
            id=row["id"], name=name, added_at=from_ts(row["added_at"]), added_by=row["added_by"],
            removed_at=from_ts(row["removed_at"]), removed_by=row["removed_by"], public_key=row["public_key"])

    def any_active_reviewer(self) -> bool:
        return any(r["removed_at"] is None for r in self.db["reviewers"].values())

    def insert_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None:
        self.db["reviewers"][name] = dict(id=len(self.db["reviewers"]) + 1, added_at=self.now, added_by=by,
                                          removed_at=None, removed_by=None, public_key=public_key)

    def readmit_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None:
        row = self.db["reviewers"][name]
        row.update(added_at=self.now, added_by=by, removed_at=None, removed_by=None,
                   public_key=row["public_key"] if row["public_key"] is not None else public_key)

    def set_reviewer_key(self, name: str, public_key: bytes) -> None:
        self.db["reviewers"][name]["public_key"] = public_key

    def remove_reviewer(self, name: str, *, by: str) -> None:
        self.db["reviewers"][name].update(removed_at=self.now, removed_by=by)


def _seen(reviewer: Reviewer | None) -> Any:
    if reviewer is None:
        return None
    return (reviewer.name, reviewer.added_by, reviewer.active, reviewer.removed_by, reviewer.public_key)


def _outcome(act: Any) -> Any:
    try:
        return _seen(act())
    except Exception as exc:  # a refusal: the same error, in the same words
        return type(exc).__name__, str(exc)


async def test_registration_gives_the_same_results_over_the_store_and_over_dicts(store, clock):
    db: dict[str, Any] = {"agents": {"a1"}, "reviewers": {}, "events": []}

    def over_dicts(act: str, name: str, by: str, key: bytes | None, dry_run: bool) -> Any:
        snapshot = copy.deepcopy((db["reviewers"], db["events"]))
        u = DictUnit(db, clock(), by)
        try:
            if act == "add":
                return reviewers.add(u, name, by=by, key=key, dry_run=dry_run)
            if act == "key":
                return reviewers.set_key(u, name, name, by=by, key=key, dry_run=dry_run)
            return reviewers.remove(u, name, name, by=by, dry_run=dry_run)
        except BaseException:
            db["reviewers"], db["events"] = snapshot
            raise

    await store.register_agent("a1", agent_type="coder")
    for act, name, by, index, dry_run in SCRIPT:
        key = None if index is None else KEYS[index]
        if act == "add":
            call = store.add_reviewer(name, by=by, public_key=key, dry_run=dry_run)
        elif act == "key":
            call = store.set_reviewer_key(name, public_key=key, by=by, dry_run=dry_run)
        else:
            call = store.remove_reviewer(name, by=by, dry_run=dry_run)
        try:
            got = _seen(await call)
        except Exception as exc:
            got = type(exc).__name__, str(exc)
        want = _outcome(lambda: over_dicts(act, name, by, key, dry_run))
        assert got == want, (act, name, by, index, dry_run)
    events = [(e.kind, e.entity, e.entity_id, e.payload) for e in reversed(await store.events(entity="reviewer"))]
    assert events == db["events"]
    assert len(events) == 6  # alice, bob, bob's key, bob removed, bob again, alice removed

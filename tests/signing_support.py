"""Reviewers' keys and signed acts for the tests: every reviewer's key lives in the test's key folder
($SWARMDECK_KEYS, set by tests/conftest.py) under one passphrase, and ``decide``, ``resume`` and
``close`` make a person's act as a seat does: they sign what the store will record, then call it."""

from __future__ import annotations

from typing import Any

from swarmdeck.store import identity, signing
from swarmdeck.store.signing import Signer

PASSPHRASE = "correct horse battery staple"


def signer(name: str) -> Signer:
    """``name``'s unlocked key, made on first use."""
    who = identity.key(name) or name
    if signing.has_key(who):
        return signing.load_key(who, PASSPHRASE)
    return signing.create_key(who, PASSPHRASE)


def key(name: str) -> bytes:
    """``name``'s public key, for ``add_reviewer(..., public_key=key(name))``."""
    return signer(name).public_key


async def register(store, name: str, *, by: str | None = None):
    """Register a reviewer with their key (the first registers themself)."""
    return await store.add_reviewer(name, by=by or name, public_key=key(name))


def _sign(who: Any, message) -> bytes | None:
    if identity.key(who) is None:
        return None  # no name, no key: the store says what is wrong with the call
    try:
        return signer(who).sign(message())
    except Exception:  # e.g. a milestone with no report: the store refuses the act itself
        return None


async def decide(store, milestone, *, reviewer: str, decision: Any, rationale: str, conditions=(),
                 report_hash: str | None = None, **kwargs: Any):
    """``store.decide_gate``, signed by ``reviewer`` over the current report (or ``report_hash``)."""
    gate = None
    try:
        gate = await store.gate_status(milestone)
    except Exception:
        pass

    def message() -> bytes:
        assert gate is not None and gate.report is not None
        return signing.decision_message(
            milestone_id=gate.milestone.id, report_hash=report_hash or gate.report.content_hash,
            decision=decision, rationale=rationale, conditions=conditions, reviewer=reviewer,
            accept_unmet=kwargs.get("accept_unmet", ()))

    kwargs.setdefault("signature", _sign(reviewer, message))
    return await store.decide_gate(milestone, decision=decision, rationale=rationale, reviewer=reviewer,
                                   conditions=conditions, report_hash=report_hash, **kwargs)


async def resume(store, *, by: str, note: str | None = None, **kwargs: Any):
    """``store.resume_swarm``, signed by ``by`` over the escalation it lifts."""
    state = await store.swarm_state()
    kwargs.setdefault("signature", _sign(by, lambda: signing.resume_message(
        escalation_id=state.escalation_id, note=note, reviewer=by)))
    return await store.resume_swarm(by=by, note=note, **kwargs)


async def close(store, condition_id: int, *, closed_by: str, note: str | None = None, **kwargs: Any):
    """``store.close_condition``, signed by ``closed_by``."""
    kwargs.setdefault("signature", _sign(closed_by, lambda: signing.close_message(
        condition_id=condition_id, note=note, reviewer=closed_by)))
    return await store.close_condition(condition_id, closed_by=closed_by, note=note, **kwargs)

"""Who may act as a reviewer, the signature every act of theirs carries, and the registration of
reviewers (add, give a key, remove) over a unit of work (store/domain/uow.py).

Agents and reviewers are two disjoint sets of canonical names (store/identity.py): a name is never
both, whichever was registered first. The checks here are the store's, so every interface (Python API,
CLI, MCP server, dashboard) meets the same ones. ``check_reviewer`` and the checks beside it are pure:
the reviewer and whether the name is an agent's are looked up by the caller (a unit of work, or a
reader)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument, NotFound, PermissionDenied, Remedy
from ..events import EventKind
from ..models import Reviewer

if TYPE_CHECKING:
    from .uow import Unit


def check_reviewer(who: str, act: str, reviewer: Reviewer | None, *, keyed: bool = True) -> Reviewer:
    """``reviewer`` (the one registered as ``who``, or None), if they may ``act``: registered, active,
    and (``keyed``) with a signing key; else PermissionDenied saying why not."""
    if reviewer is None:
        raise PermissionDenied(f"{who} is not a registered reviewer, so cannot {act}",
                               remedy=Remedy.REGISTER_REVIEWER, who=who)
    if not reviewer.active:
        raise PermissionDenied(f"{who} is no longer a reviewer (removed by {reviewer.removed_by}), so cannot {act}")
    if keyed:
        require_key(reviewer, act)
    return reviewer


def agent_refused(who: str, act: str) -> PermissionDenied:
    """An agent never acts as a reviewer."""
    return PermissionDenied(f"{who} is a registered agent; agents never {act}: a person does, as a "
                            "registered reviewer")


def require_key(reviewer: Reviewer, act: str) -> bytes:
    """The reviewer's public key, or PermissionDenied: a reviewer without one cannot sign, so cannot act."""
    if reviewer.public_key is None:
        who = reviewer.name
        raise PermissionDenied(f"{who} has no signing key yet, so cannot {act}: every decision, resume and "
                               "condition closure is signed by its reviewer", remedy=Remedy.MAKE_KEY, who=who)
    return reviewer.public_key


def require_signature(reviewer: Reviewer, message: bytes, signature: bytes | None, act: str) -> None:
    """PermissionDenied unless ``signature`` is ``reviewer``'s registered key's over exactly ``message``:
    every decision, resume and closure is signed by the person who makes it."""
    from .. import signing

    who = reviewer.name
    require_key(reviewer, act)
    if not signature:
        raise PermissionDenied(f"to {act}, {who} signs it with their key, unlocked with their passphrase at "
                               "a human seat (the dashboard, or the CLI at a terminal); "
                               "nothing was signed here",
                               remedy=Remedy.MAKE_KEY, who=who)
    if not signing.verify(reviewer.public_key, message, signature):
        raise PermissionDenied(f"the signature is not {who}'s over this act, so cannot {act}: it must be made "
                               f"with {who}'s registered key ({signing.fingerprint(reviewer.public_key)}) over "
                               "exactly what is recorded (the report may have changed: read it again)",
                               remedy=Remedy.MAKE_KEY, who=who)


# -- registration -----------------------------------------------------------------------------------


def check_public_key(public_key: Any) -> bytes:
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
        raise InvalidArgument("a reviewer's public key is the 32 raw bytes of an ed25519 key")
    return bytes(public_key)


def check_registrar(u: Unit, who: str, verb: str) -> None:
    """PermissionDenied unless ``who`` may ``verb`` a reviewer: an active reviewer, never an agent
    (the first reviewer of a swarm has nobody to be added by)."""
    if u.agent_exists(who):
        raise PermissionDenied(f"{who} is a registered agent; agents never add or remove reviewers: a person "
                               "does, as a registered reviewer")
    if verb == "add" and not u.any_active_reviewer():
        return
    registrar = u.reviewer(who)
    if registrar is None or not registrar.active:
        raise PermissionDenied(f"only a registered reviewer can {verb} a reviewer; {who} is not one "
                               "(run it as a reviewer: --by NAME)")


def add(u: Unit, who: str, *, by: str, key: bytes | None, dry_run: bool) -> Reviewer | None:
    """Register ``who`` (canonical), or again after removal, keeping the key they had; None if ``dry_run``."""
    from .. import signing

    if u.agent_exists(who):
        raise PermissionDenied(f"{who} is a registered agent; a reviewer can never be an agent "
                               "(a person registers under their own name)")
    check_registrar(u, by, "add")
    existing = u.reviewer(who)
    if existing is not None and existing.active:
        raise InvalidArgument(f"{who} is already a registered reviewer")
    had = None if existing is None else existing.public_key
    if had is not None and key is not None and bytes(had) != key:
        raise PermissionDenied(f"{who} was registered with another signing key "
                               f"({signing.fingerprint(had)}); a reviewer's key never changes: register "
                               "them again with that key")
    if dry_run:
        return None
    if existing is None:
        u.insert_reviewer(who, public_key=key, by=by)
    else:
        u.readmit_reviewer(who, public_key=key, by=by)
    final = had if had is not None else key
    u.event(EventKind.REVIEWER_ADDED, "reviewer", who, {
        "name": who, "by": by, "key": None if final is None else signing.fingerprint(final)})
    return u.reviewer(who)


def set_key(u: Unit, who: str | None, name: str, *, by: str | None, key: bytes, dry_run: bool) -> Reviewer:
    """Give the reviewer ``who`` (canonical; None if ``name`` is nobody's) their key, once; ``by``: who
    does it (the reviewer themself, or a registrar)."""
    from .. import signing

    existing = None if who is None else u.reviewer(who)
    if existing is None:
        raise NotFound(f"{name!r} is not a registered reviewer", entity="reviewer", key=name,
                       remedy=Remedy.REGISTER_REVIEWER, who=name)
    if not existing.active:
        raise InvalidArgument(f"{who} is not an active reviewer (removed by {existing.removed_by})")
    if existing.public_key is not None:
        if bytes(existing.public_key) == key:
            return existing  # the key they have: nothing to do
        raise PermissionDenied(f"{who} already has a signing key ({signing.fingerprint(existing.public_key)});"
                               " a reviewer's key never changes")
    if by != who:
        check_registrar(u, by, "give a key to")
    if dry_run:
        return existing
    u.set_reviewer_key(who, key)
    u.event(EventKind.REVIEWER_KEY, "reviewer", who, {"name": who, "by": by, "key": signing.fingerprint(key)})
    return u.reviewer(who)


def remove(u: Unit, who: str | None, name: str, *, by: str, dry_run: bool) -> Reviewer:
    """Take the seat of the reviewer ``who`` (canonical; None if ``name`` is nobody's); the row stays."""
    check_registrar(u, by, "remove")
    existing = None if who is None else u.reviewer(who)
    if existing is None:
        raise NotFound(f"{name!r} is not a registered reviewer")
    if not existing.active:
        raise InvalidArgument(f"{who} is not an active reviewer (already removed)")
    if dry_run:
        return existing
    u.remove_reviewer(who, by=by)
    u.event(EventKind.REVIEWER_REMOVED, "reviewer", who, {"name": who, "by": by})
    return u.reviewer(who)

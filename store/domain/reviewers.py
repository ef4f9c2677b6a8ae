"""Who may act as a reviewer, and the signature every act of theirs carries. Pure: the reviewer
and whether the name is an agent's are looked up by the caller (a unit of work, or a reader)."""

from __future__ import annotations

from .. import signing
from ..errors import PermissionDenied, Remedy
from ..models import Reviewer

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

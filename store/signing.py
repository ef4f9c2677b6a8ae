"""Acts a person signed: each reviewer's ed25519 key pair, and what their signatures cover.

A reviewer's private key lives in their own config folder (``$SWARMDECK_KEYS``, else
``$XDG_CONFIG_HOME/swarmdeck/keys``, else ``~/.config/swarmdeck/keys``: each function takes the folder,
which swarmdeck's seats take from their settings), encrypted with a passphrase
only they know (PKCS#8 with the best encryption ``cryptography`` offers); the database holds only the
public half. A decision, a resume and a condition closure are signed over their content, so a row
written around swarmdeck (raw SQL on a file every agent can write) carries no valid signature and is
flagged, and opens nothing. Pure: no database, no UI.

cryptography is imported where a key is made, unlocked or checked, not with this module: the CLI's
most frequent calls (claims, heartbeats) never sign.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import identity
from .errors import Remedy, StoreError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEYS_ENV = "SWARMDECK_KEYS"
#: Every signed payload names what it is, so a signature for one act can never stand for another.
DECISION, RESUME, CLOSE_CONDITION = "gate_decision", "swarm_resume", "condition_closure"


class SigningError(StoreError):
    """No key, a wrong passphrase, or a key that is not this reviewer's."""

    code = "signing"


def default_key_dir(config_home: str | Path | None = None) -> Path:
    """The key folder in a config folder (``config_home``, else ``~/.config``): ``swarmdeck/keys``."""
    return Path(config_home or os.path.join(os.path.expanduser("~"), ".config")) / "swarmdeck" / "keys"


def key_dir() -> Path:
    """The key folder when a caller names none: $SWARMDECK_KEYS, else the default in $XDG_CONFIG_HOME.
    The Python API's fallback (store/__init__.py lists the store's fallbacks); swarmdeck's own seats
    pass the folder from their settings."""
    return Path(os.environ.get(KEYS_ENV) or default_key_dir(os.environ.get("XDG_CONFIG_HOME")))


def key_path(reviewer: str, folder: Path | None = None) -> Path:
    """Where ``reviewer``'s (canonical name) private key lives."""
    # Canonical names can still hold characters a file name cannot: keep it to a safe spelling.
    safe = "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):x}" for c in reviewer)
    return (folder or key_dir()) / f"{safe}.pem"


def payload(kind: str, **fields: Any) -> bytes:
    """The exact bytes a signature covers: canonical JSON of the act's kind and fields."""
    return json.dumps({"kind": kind, **fields}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def decision_payload(*, milestone_id: int, report_hash: str, decision: str, rationale: str,
                     conditions: list[str] | tuple[str, ...], reviewer: str,
                     accepted_unmet: Iterable[str] = ()) -> bytes:
    """A decision's bytes. The acceptance criteria the reviewer accepted unmet are covered when there
    are any (sorted: the same set signs the same); a decision without them signs as it always did, so
    decisions recorded before they existed still verify."""
    accepted = sorted(set(accepted_unmet))
    extra = {"accepted_unmet": accepted} if accepted else {}
    return payload(DECISION, milestone_id=milestone_id, report_hash=report_hash, decision=decision,
                   rationale=rationale, conditions=list(conditions), reviewer=reviewer, **extra)


def resume_payload(*, escalation_id: int, note: str, reviewer: str) -> bytes:
    """A resume lifts one escalation (its decision's id), so it cannot be replayed on a later one."""
    return payload(RESUME, escalation_id=escalation_id, note=note, reviewer=reviewer)


def close_payload(*, condition_id: int, note: str, reviewer: str) -> bytes:
    return payload(CLOSE_CONDITION, condition_id=condition_id, note=note, reviewer=reviewer)


# What a seat signs: the payloads above over what it is about to send, in the form the store records
# it (and rebuilds the payload from). The store normalises its input with the same functions.


def clean_conditions(conditions: Iterable[str]) -> list[str]:
    """A decision's conditions as recorded: stripped, and those that show nothing dropped."""
    return [c.strip() for c in conditions if identity.has_content(c)]


def decision_message(*, milestone_id: int, report_hash: str, decision: Any, rationale: str,
                     conditions: Iterable[str], reviewer: str, accept_unmet: Iterable[str] = ()) -> bytes:
    """A decision as a seat sends it (any spelling of the decision and the reviewer's name)."""
    return decision_payload(milestone_id=milestone_id, report_hash=report_hash,
                            decision=str(getattr(decision, "value", decision)).upper(),
                            rationale=rationale.strip(), conditions=clean_conditions(conditions),
                            reviewer=identity.key(reviewer) or reviewer, accepted_unmet=accept_unmet)


def resume_message(*, escalation_id: int | None, note: str, reviewer: str) -> bytes:
    """A resume of the swarm; ``escalation_id`` is ``SwarmState.escalation_id`` (None: no signed
    escalation is outstanding, only the pause flag is set)."""
    return resume_payload(escalation_id=escalation_id or 0, note=note.strip(),
                          reviewer=identity.key(reviewer) or reviewer)


def close_message(*, condition_id: int, note: str, reviewer: str) -> bytes:
    return close_payload(condition_id=condition_id, note=note.strip(), reviewer=identity.key(reviewer) or reviewer)


def fingerprint(public_key: bytes) -> str:
    """A short name for a public key, for people to compare: ``SHA256:`` and 16 hex digits."""
    return "SHA256:" + hashlib.sha256(bytes(public_key)).hexdigest()[:16]


def unverified(who: str | None) -> str:
    """What every seat says of a signed act whose signature does not check out."""
    return f"UNVERIFIED: not signed by {who or 'a reviewer'}'s key — written around swarmdeck?"


@dataclass(frozen=True)
class Signer:
    """An unlocked private key: kept in memory for one command, or one dashboard session."""

    reviewer: str
    _key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def verify(public_key: bytes | None, message: bytes, signature: bytes | None) -> bool:
    """Whether ``signature`` is ``public_key``'s over exactly ``message``."""
    if not isinstance(public_key, (bytes, bytearray, memoryview)) or not isinstance(
            signature, (bytes, bytearray, memoryview)) or not public_key or not signature:
        return False  # a column written around swarmdeck may hold anything: text, a number
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(bytes(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def create_key(reviewer: str, passphrase: str, *, folder: Path | None = None) -> Signer:
    """A new key pair for ``reviewer``, its private half written encrypted (mode 0600); never
    replaces a key that exists."""
    if not passphrase:
        raise SigningError("a signing key needs a passphrase")
    path = key_path(reviewer, folder)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase.encode()))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningError(f"{path} already holds a key for {reviewer}; unlock it instead") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return Signer(reviewer, key)


def has_key(reviewer: str, *, folder: Path | None = None) -> bool:
    return key_path(reviewer, folder).is_file()


def load_key(reviewer: str, passphrase: str, *, folder: Path | None = None) -> Signer:
    """Unlock ``reviewer``'s private key with their passphrase."""
    path = key_path(reviewer, folder)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise SigningError(
            f"no signing key for {reviewer} at {path}", remedy=Remedy.MAKE_KEY, who=reviewer
        ) from None
    except OSError as exc:
        raise SigningError(f"cannot read {path}: {exc.strerror}") from None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode())
    except (ValueError, TypeError):
        raise SigningError(f"wrong passphrase for {reviewer}'s signing key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path} is not an ed25519 signing key")
    return Signer(reviewer, key)

"""Reviewers' keys and signatures, without a database."""

from __future__ import annotations

import stat

import pytest

from swarmdeck.store import signing
from swarmdeck.store.signing import SigningError


def test_a_key_is_created_encrypted_and_unlocked_only_with_its_passphrase(tmp_path):
    signer = signing.create_key("alice", "correct horse", folder=tmp_path)
    path = signing.key_path("alice", tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert signing.load_key("alice", "correct horse", folder=tmp_path).public_key == signer.public_key
    with pytest.raises(SigningError, match="wrong passphrase for alice"):
        signing.load_key("alice", "wrong", folder=tmp_path)
    with pytest.raises(SigningError, match="already holds a key for alice"):
        signing.create_key("alice", "another", folder=tmp_path)
    with pytest.raises(SigningError, match="no signing key for bob"):
        signing.load_key("bob", "x", folder=tmp_path)
    with pytest.raises(SigningError, match="needs a passphrase"):
        signing.create_key("carol", "", folder=tmp_path)


def test_a_signature_covers_exactly_its_act(tmp_path):
    signer = signing.create_key("alice", "pw", folder=tmp_path)
    fields = dict(milestone_id=2, report_hash="ab" * 32, decision="APPROVE", rationale="all met",
                  conditions=[], reviewer="alice")
    message = signing.decision_payload(**fields)
    sig = signer.sign(message)
    assert signing.verify(signer.public_key, message, sig)
    for change in ({"decision": "REVISE"}, {"report_hash": "cd" * 32}, {"rationale": "all met!"},
                   {"reviewer": "mallory"}, {"milestone_id": 3}, {"conditions": ["x"]}):
        assert not signing.verify(signer.public_key, signing.decision_payload(**{**fields, **change}), sig)
    other = signing.create_key("bob", "pw", folder=tmp_path)
    assert not signing.verify(other.public_key, message, sig)
    assert not signing.verify(None, message, sig) and not signing.verify(signer.public_key, message, None)
    assert not signing.verify(b"short", message, sig)
    # A resume's signature never stands for a closure with the same numbers, nor for another escalation.
    resume = signer.sign(signing.resume_payload(escalation_id=7, note="fixed", reviewer="alice"))
    assert not signing.verify(signer.public_key, signing.close_payload(condition_id=7, note="fixed",
                                                                       reviewer="alice"), resume)
    assert not signing.verify(signer.public_key, signing.resume_payload(escalation_id=8, note="fixed",
                                                                        reviewer="alice"), resume)


def test_keys_live_in_the_users_config_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(signing.KEYS_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert signing.key_dir() == tmp_path / "swarmdeck" / "keys"
    monkeypatch.setenv(signing.KEYS_ENV, str(tmp_path / "k"))
    assert signing.key_path("al/ice") == tmp_path / "k" / "al%2fice.pem"

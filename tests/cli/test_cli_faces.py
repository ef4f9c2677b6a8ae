"""How the CLI words what the store's rules decide: exit codes, hints after store errors."""

from __future__ import annotations

from swarmdeck.app.cli.gates import WAIT_EXIT_CODES
from swarmdeck.store import Decision


def test_wait_exit_codes_are_distinct():
    assert set(WAIT_EXIT_CODES) == set(Decision)
    assert WAIT_EXIT_CODES[Decision.APPROVE] == 0
    assert len(set(WAIT_EXIT_CODES.values())) == 4

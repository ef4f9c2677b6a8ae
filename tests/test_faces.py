"""Each face words the store's structured refusals its own way: the CLI names a command (and owns the
exit codes), the MCP server names a tool, the dashboard gives no command-line advice for what it does."""

from __future__ import annotations

import pytest

from swarmdeck.app.cli import _base as cli
from swarmdeck.app.cli.gates import WAIT_EXIT_CODES
from swarmdeck.app.format import refusal
from swarmdeck.app.mcp.server import _error_text
from swarmdeck.store import Decision
from swarmdeck.store.errors import (
    Busy,
    DatabaseMissing,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Remedy,
    SchemaOutdated,
    SwarmPaused,
)

UNREGISTERED = NotFound(entity="agent", key="ghost")
PAUSED = SwarmPaused(reason="security review")
REVIEWER = PermissionDenied("zed is not a registered reviewer, so cannot decide a gate",
                            remedy=Remedy.REGISTER_REVIEWER, who="zed")


def test_wait_exit_codes_are_distinct():
    assert set(WAIT_EXIT_CODES) == set(Decision)
    assert WAIT_EXIT_CODES[Decision.APPROVE] == 0
    assert len(set(WAIT_EXIT_CODES.values())) == 4


@pytest.mark.parametrize(("error", "said", "exit_code"), [
    (UNREGISTERED, "agent 'ghost' is not registered; run `swarmdeck agent register ghost --type TYPE`", 3),
    (PAUSED, "the swarm is paused (security review); claims resume when a human runs `swarmdeck gate resume`", 4),
    (DatabaseMissing(path="/x.db"), "no swarmdeck database at /x.db; create one with `swarmdeck init`", 1),
    (DatabaseMissing(path="/x.db", empty=True),
     "/x.db is empty, not a swarmdeck database; create one there with `swarmdeck init`", 1),
    (SchemaOutdated(path="/x.db", version=1, needed=6),
     "/x.db has schema 1 and needs migrating to 6; open it once without --read-only (or run `swarmdeck init`)", 1),
    (REVIEWER, "zed is not a registered reviewer, so cannot decide a gate; a person registers once, from their "
               "own terminal: `swarmdeck reviewer add zed`", 1),
    (Busy("the database stayed locked"), "the database stayed locked", 5),
    (InvalidArgument("bad"), "bad", 1),
])
def test_the_cli_names_the_command_and_owns_the_exit_code(error, said, exit_code):
    assert cli.message(error) == said
    assert cli.exit_code_for(error) == exit_code


def test_the_mcp_server_names_the_tool():
    assert _error_text(UNREGISTERED) == "not_found: agent 'ghost' is not registered; call agent_register first"
    assert _error_text(PAUSED).startswith("swarm_paused: the swarm is paused (security review); claims resume")
    assert "`swarmdeck" not in _error_text(PAUSED) + _error_text(UNREGISTERED)
    assert _error_text(InvalidArgument("bad")) == "invalid_argument: bad"


def test_the_dashboard_gives_no_command_line_advice_for_what_it_does_itself():
    assert refusal(UNREGISTERED) == "agent 'ghost' is not registered"
    assert refusal(PAUSED) == "the swarm is paused (security review); a human resumes it from the milestones screen (R)"
    # A reviewer registers only at their own terminal: that is the dashboard's honest answer too.
    assert "swarmdeck reviewer add zed" in refusal(REVIEWER)

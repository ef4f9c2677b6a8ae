"""A human seat at the command line: an interactive terminal, and a person who confirms on it.

Agents run `swarmdeck` from scripts and tool calls, without a terminal; a person deciding a gate has
one. The acts that are a person's (deciding, resuming the swarm, closing a condition, adding or
removing a reviewer) refuse to run unless standard input and output are both terminals, show what
they act on, and ask for a confirmation read from that terminal.

This is a floor, not a wall: a process can open a pseudo-terminal. What it stops is an agent acting
for a person through swarmdeck by accident or by habit, and `SWARMDECK_ACTOR=alice swarmdeck ...`
from a tool call; signed decisions are what make a forgery detectable. Each act is signed here, with
the reviewer's key unlocked by the passphrase typed on this terminal, after it was shown.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from swarmdeck.store import Reviewer, signing
from swarmdeck.store.errors import PermissionDenied, StoreError
from swarmdeck.store.signing import Signer, SigningError

if TYPE_CHECKING:
    from ._base import Config

HOW = "run this from your own terminal, or use the dashboard"


class NotAHumanSeat(PermissionDenied):
    """A person's act was asked for without an interactive terminal."""

    code = "not_a_human_seat"


class NotConfirmed(StoreError):
    """The person at the terminal did not confirm: nothing was done."""

    code = "not_confirmed"


def _tty(stream) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, ValueError, OSError):  # no file descriptor (closed, or an in-memory stream)
        return False


def is_human_seat() -> bool:
    """Whether a person can be at this command: standard input and output are both terminals."""
    return _tty(sys.stdin) and _tty(sys.stdout)


def missing_terminal() -> str | None:
    """Why the dashboard cannot run in this process (which of its streams is not a terminal), or None.
    Textual's terminal driver reads keys on standard input and draws on standard error (standard output,
    redirected, is not its business); under another driver ($TEXTUAL_DRIVER: textual-serve's, for the
    browser seat's tabs) it needs no terminal. Looked up on the module at each call, so that a test which
    runs the dashboards itself (headless) can say it needs none."""
    from ..settings import textual_driver  # the one place that reads the environment

    if textual_driver() is not None:
        return None
    missing = [name for name, stream in (("standard input", sys.stdin), ("standard error", sys.stderr))
               if not _tty(stream)]
    if not missing:
        return None
    return f"{' and '.join(missing)} {'is not a terminal' if len(missing) == 1 else 'are not terminals'}"


def refusal(command: str) -> str:
    return (f"`swarmdeck {command}` is a person's act and needs an interactive terminal (standard input "
            f"and output), which agents' scripts and tool calls do not have: {HOW}")


def require_human_seat(command: str) -> None:
    """NotAHumanSeat unless a person can be at this command. Looked up on the module at each call, so
    a test can stand in for a terminal by replacing ``is_human_seat``."""
    if not is_human_seat():
        raise NotAHumanSeat(refusal(command))


def acting_reviewer(cfg: Config, given: str | None) -> str:
    """Who acts at this seat: --by / --reviewer, else $SWARMDECK_REVIEWER (the settings), else --actor
    ($SWARMDECK_ACTOR), else the OS user."""
    return given or cfg.settings.reviewer or cfg.who()


def show(lines: list[str]) -> None:
    """What is being acted on, on the terminal (stderr: stdout stays the result, JSON with --json)."""
    for line in lines:
        click.echo(line, err=True)


def confirm(question: str) -> None:
    """Ask on the terminal; NotConfirmed unless the person says yes."""
    if not click.confirm(question, default=False, err=True):
        raise NotConfirmed("not confirmed: nothing was recorded")


def ask(prompt: str) -> str:
    """A line of text typed on the terminal (a note, a reason)."""
    return click.prompt(prompt, err=True)


# -- the reviewer's signing key ----------------------------------------------------------------------


def unlock(reviewer: Reviewer, folder: Path) -> Signer:
    """The reviewer's key, from this seat's key ``folder`` (the settings' ``key_folder``), unlocked with
    the passphrase typed on the terminal (never echoed); a wrong passphrase, or a key that is not the
    one registered for them, is one line and nothing done."""
    path = signing.key_path(reviewer.name, folder)
    if not signing.has_key(reviewer.name, folder=folder):
        raise SigningError(f"no signing key for {reviewer.name} at {path}: sign at the seat that holds it (the "
                           f"reviewer's own terminal), or point ${signing.KEYS_ENV} at its folder")
    passphrase = click.prompt(f"Passphrase of {reviewer.name}'s signing key ({path})", hide_input=True,
                              err=True, default="", show_default=False)
    signer = signing.load_key(reviewer.name, passphrase, folder=folder)
    check_registered(signer, reviewer, folder)
    return signer


def check_registered(signer: Signer, reviewer: Reviewer, folder: Path) -> None:
    if reviewer.public_key is not None and signer.public_key != reviewer.public_key:
        raise SigningError(f"the key at {signing.key_path(reviewer.name, folder)} "
                           f"({signing.fingerprint(signer.public_key)}) "
                           f"is not the one registered for {reviewer.name} ({signing.fingerprint(reviewer.public_key)})")


def key_for(name: str, folder: Path) -> Signer:
    """``name``'s key pair for registering: the key file they have in this seat's key ``folder``
    (unlocked, which proves it is theirs), else a new one, its private half encrypted with a passphrase
    asked twice."""
    path = signing.key_path(name, folder)
    if signing.has_key(name, folder=folder):
        show([f"{name}'s signing key is at {path}: unlock it to register its public half."])
        passphrase = click.prompt(f"Passphrase of {name}'s signing key", hide_input=True, err=True,
                                  default="", show_default=False)
        return signing.load_key(name, passphrase, folder=folder)
    show([f"Making {name}'s signing key (ed25519): the private half stays at {path}, encrypted with a passphrase",
          "only they know; every decision, resume and closure of theirs is signed with it."])
    passphrase = click.prompt(f"New passphrase for {name}'s signing key", hide_input=True, err=True,
                              confirmation_prompt=True, default="", show_default=False)
    return signing.create_key(name, passphrase, folder=folder)

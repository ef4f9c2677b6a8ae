"""A human seat at the command line: an interactive terminal, and a person who confirms on it.

Agents run `swarmdeck` from scripts and tool calls, without a terminal; a person deciding a gate has
one. The acts that are a person's (deciding, resuming the swarm, closing a condition, adding or
removing a reviewer) refuse to run unless standard input and output are both terminals, show what
they act on, and ask for a confirmation read from that terminal.

This is a floor, not a wall: a process can open a pseudo-terminal. What it stops is an agent acting
for a person through swarmdeck by accident or by habit, and `SWARMDECK_ACTOR=alice swarmdeck ...`
from a tool call; signed decisions are what make a forgery detectable.
"""

from __future__ import annotations

import os
import sys

import click

from swarmdeck.store.errors import PermissionDenied, StoreError

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


def refusal(command: str) -> str:
    return (f"`swarmdeck {command}` is a person's act and needs an interactive terminal (standard input "
            f"and output), which agents' scripts and tool calls do not have: {HOW}")


def require_human_seat(command: str) -> None:
    """NotAHumanSeat unless a person can be at this command. Looked up on the module at each call, so
    a test can stand in for a terminal by replacing ``is_human_seat``."""
    if not is_human_seat():
        raise NotAHumanSeat(refusal(command))


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

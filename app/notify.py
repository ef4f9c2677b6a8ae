"""Telling a person: the terminal's bell, desktop notifications through the terminal (OSC 9, OSC 777 or
OSC 99, chosen by terminal and wrapped for tmux), and a webhook. No Textual here: the dashboard and
`swarmdeck watch` use the same sequences.

Agent-written text goes into every one of these, so it is made plain first: no control character
(C0, C1, DEL: no escape sequence can start or end inside a notification), one line, bounded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

#: Longest text put in a notification (terminals and notification daemons cut long ones anyway).
MAX_NOTIFICATION = 240

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
ESC, BEL, ST = "\x1b", "\x07", "\x1b\\"


def plain_line(text: str, limit: int = MAX_NOTIFICATION) -> str:
    """``text`` as one line of printable characters: control characters (escape sequences' ESC, BEL,
    C1) become spaces, as do the Unicode format characters that reorder or hide text."""
    text = _CONTROL.sub(" ", text)
    text = "".join(" " if unicodedata.category(c) == "Cf" else c for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def protocol_for(env: Mapping[str, str] | None = None) -> str:
    """Which desktop-notification sequence this terminal understands: "osc99" (kitty), "osc777"
    (VTE terminals such as GNOME Terminal, foot, urxvt's notify extension) or "osc9" (iTerm2,
    WezTerm, Windows Terminal, ghostty and the default)."""
    env = _terminal_env() if env is None else env
    term, program = env.get("TERM", ""), env.get("TERM_PROGRAM", "")
    if "kitty" in term or env.get("KITTY_WINDOW_ID"):
        return "osc99"
    if env.get("VTE_VERSION") or term.startswith(("foot", "rxvt")):
        return "osc777"
    del program  # iTerm.app, WezTerm, ghostty, vscode: OSC 9
    return "osc9"


def desktop_sequence(title: str, body: str, env: Mapping[str, str] | None = None) -> str:
    """The escape sequence that asks the terminal for a desktop notification, wrapped in tmux's
    passthrough when ``$TMUX`` is set (tmux swallows a bare OSC; it must also allow passthrough:
    ``set -g allow-passthrough on``)."""
    env = _terminal_env() if env is None else env
    title, body = plain_line(title, 80), plain_line(body)
    protocol = protocol_for(env)
    if protocol == "osc99":
        sequence = f"{ESC}]99;;{title}: {body}{ST}"
    elif protocol == "osc777":
        # ';' separates OSC 777's fields: none may hold one.
        sequence = f"{ESC}]777;notify;{title.replace(';', ',')};{body.replace(';', ',')}{BEL}"
    else:
        sequence = f"{ESC}]9;{title}: {body}{BEL}"
    return tmux_passthrough(sequence) if env.get("TMUX") else sequence


def _terminal_env() -> Mapping[str, str]:
    from .settings import terminal_env  # the one place that reads the environment

    return terminal_env()


def tmux_passthrough(sequence: str) -> str:
    """``sequence`` wrapped for tmux to pass to the terminal outside it (every ESC doubled)."""
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ST}"


def webhook_body(item: Mapping[str, object], style: str = "json") -> dict[str, object]:
    """The JSON body a webhook receives for one attention item: the item's fields ("json"), or a
    message Slack's and Teams' incoming webhooks show as it is ("slack": a ``text`` field)."""
    if style == "slack":
        urgency = str(item.get("urgency", "")).upper()
        return {"text": plain_line(f"[swarmdeck {urgency}] {item.get('title', '')}", 1000)}
    return dict(item)

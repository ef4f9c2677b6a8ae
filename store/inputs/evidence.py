"""Evidence for one acceptance criterion (``EvidenceInput``): the command an agent ran, its exit code, the
SHA-256 of its output and when it ran; ``evidence_input`` checks who attaches it as well."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from ..errors import InvalidArgument
from ..limits import MAX_NAME, MAX_TEXT, check_fields
from .fields import StoreInput, filled, time_or_epoch
from .problems import problem, shown


def _digest(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
        raise problem(f"must be a SHA-256 digest: 64 hexadecimal digits, not {shown(value)}")
    return value.strip().lower()


def _whole(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2 ** 31) <= value < 2 ** 31:
        raise problem(f"must be a whole number, not {shown(value)}")
    return value


class EvidenceInput(StoreInput):
    """A command run as evidence for one acceptance criterion, and what it gave (an agent's claim)."""

    criterion: Annotated[int, Field(ge=1, le=10_000, description="The acceptance criterion's number.")]
    command: filled(MAX_TEXT, "command") = Field(description="The command as it was run, e.g. pytest -q.")
    exit_code: Annotated[int, BeforeValidator(_whole)] = Field(description="Its exit code (0: it passed).")
    output_sha256: Annotated[str, BeforeValidator(_digest)] = Field(
        description="SHA-256 (hex) of its output, stdout then stderr as captured.")
    ran_at: Annotated[datetime | float | None, BeforeValidator(time_or_epoch)] = Field(
        None, description="When it ran (ISO 8601 with a timezone, or epoch seconds); default now.")

    def ran_at_seconds(self) -> float | None:
        """Epoch seconds, or None: now, by the store's clock."""
        if self.ran_at is None:
            return None
        return self.ran_at.timestamp() if isinstance(self.ran_at, datetime) else float(self.ran_at)


def evidence_input(recorded_by: Any, **fields: Any) -> tuple[str, dict[str, Any]]:
    """Who attaches evidence (canonical) and its fields as the store records them, or InvalidArgument."""
    from .. import identity

    check_fields(recorded_by=(recorded_by, MAX_NAME))
    if not identity.has_content(recorded_by):
        raise InvalidArgument("say who attaches the evidence (recorded_by)")
    who = identity.canonical(recorded_by, "the name of who attaches the evidence")
    given = EvidenceInput.parse(**fields)
    return who, {"criterion": given.criterion, "command": given.command, "exit_code": given.exit_code,
                 "output_sha256": given.output_sha256, "ran_at": given.ran_at_seconds()}

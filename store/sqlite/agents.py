"""Agents on SQLite. The rules and the statements are both backends' (store/agent_area.py's ``Agents``); this
store builds the part over a ``SqliteUnit`` of one transaction per write, and SQLite's SQL as written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..agent_area import Agents
from ..sql_dialect import SQLITE
from .uow import SqliteUnit

if TYPE_CHECKING:
    from .base import Database

__all__ = ["Agents", "agents_part"]  # the part's class, and how this store builds it


def agents_part(db: Database) -> Agents:
    return Agents(db, unit=SqliteUnit, sql=SQLITE)

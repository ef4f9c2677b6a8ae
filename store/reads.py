"""Checks and lookups written once for the write transaction and the reader, on either backend.

A ``Reads`` generator yields the reads it needs (``One``/``All``) and is sent their rows, so one body
serves a synchronous transaction (``Tx.read``, through ``run_reads``) and an asynchronous reader
(``Database._read``). Nested ones are called with ``yield from``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


class One(NamedTuple):
    """A read that wants the first row (or None): what a ``Reads`` generator yields."""

    sql: str
    params: tuple[Any, ...] = ()


class All(NamedTuple):
    """A read that wants every row: what a ``Reads`` generator yields."""

    sql: str
    params: tuple[Any, ...] = ()


#: A check or lookup that runs both inside a write transaction and on the reader (the module
#: docstring), in the SQL of the backend it runs on.
Reads = Generator[One | All, Any, T]


def run_reads(one: Callable[..., Any], all_: Callable[..., Any], reads: Reads[T]) -> T:
    """Drive a ``Reads`` generator with synchronous ``one``/``all``."""
    try:
        want = next(reads)
        while True:
            run = one if isinstance(want, One) else all_
            want = reads.send(run(want.sql, want.params))
    except StopIteration as done:
        return done.value

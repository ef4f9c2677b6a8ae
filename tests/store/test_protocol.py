"""The SQLite store implements the whole Store protocol, with the same keyword arguments."""

from __future__ import annotations

import inspect

from swarmdeck.store import SQLiteStore, Store


def protocol_methods() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(Store).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }


def test_every_protocol_method_exists_and_is_async():
    methods = protocol_methods()
    assert len(methods) > 60  # tasks, agents, gates, memory, search
    for name in methods:
        implementation = getattr(SQLiteStore, name, None)
        assert implementation is not None, f"SQLiteStore lacks {name}"
        assert inspect.iscoroutinefunction(implementation), f"SQLiteStore.{name} is not async"


def test_protocol_keywords_are_accepted_by_the_implementation():
    for name, signature in protocol_methods().items():
        implementation = inspect.signature(getattr(SQLiteStore, name))
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in implementation.parameters.values())
        for parameter in signature.parameters.values():
            if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD) and parameter.name != "self":
                assert accepts_any or parameter.name in implementation.parameters, (
                    f"SQLiteStore.{name} does not take {parameter.name!r}"
                )

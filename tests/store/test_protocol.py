"""The SQLite store implements the whole Store protocol, with the same keyword arguments; the protocol
module knows its backends only by a lazy registry."""

from __future__ import annotations

import enum
import inspect
import subprocess
import sys
import typing

import pytest

import swarmdeck.store
from swarmdeck.store import Store, open_store
from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.sqlite import SQLiteStore


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


def test_the_protocol_names_the_clock_and_the_schema_version():
    assert "clock" in typing.get_type_hints(Store)
    assert inspect.iscoroutinefunction(Store.schema_version)


async def test_an_open_store_is_a_store(store, clock):
    assert isinstance(store, Store)
    assert store.clock is clock
    assert await store.schema_version() >= 1


def test_parameters_that_take_an_enum_say_so():
    """Where a value is one of an enum's, the protocol names the enum (a string is still accepted)."""
    for name, parameter in [("list_tasks", "status"), ("list_tasks", "source"), ("update_agent", "status"),
                            ("set_session_status", "status"), ("add_memory", "memory_type"),
                            ("update_memory", "memory_type"), ("list_memories", "memory_type"),
                            ("search", "mode"), ("search", "memory_type")]:
        hint = inspect.signature(getattr(Store, name)).parameters[parameter].annotation
        assert "Any" not in hint, (name, parameter, hint)
        exported = {n: getattr(swarmdeck.store, n) for n in swarmdeck.store.__all__ if n != "SQLiteStore"}
        named = [n for n, v in exported.items() if isinstance(v, type) and issubclass(v, enum.Enum) and n in hint]
        assert named and "str" in hint, (name, parameter, hint)


@pytest.mark.parametrize("url", ["mongodb://localhost/swarm", "mysql://db/x", "HTTP://example.com/swarm.db"])
async def test_an_unknown_scheme_is_refused_and_never_taken_for_a_path(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument, match="known schemes are postgres://, postgresql://, sqlite://") as refused:
        await open_store(url, create=True)
    assert "unsupported database URL scheme" in str(refused.value)
    assert list(tmp_path.iterdir()) == []  # nothing was created under a name made of the URL


async def test_sqlite_urls_and_plain_paths_open_the_sqlite_store(tmp_path, clock):
    for url in (tmp_path / "a.db", str(tmp_path / "b.db"), f"sqlite:///{tmp_path / 'c.db'}"):
        s = await open_store(url, create=True, clock=clock)
        try:
            assert isinstance(s, SQLiteStore)
        finally:
            await s.close()


def test_the_registry_names_each_backend_lazily():
    assert swarmdeck.store.BACKENDS["sqlite"] == "swarmdeck.store.sqlite:open_url"
    assert swarmdeck.store.BACKENDS["postgresql"] == swarmdeck.store.BACKENDS["postgres"] == (
        "swarmdeck.store.postgres:open_url")
    assert swarmdeck.store.SQLiteStore is SQLiteStore  # still importable from here, when asked for


def _fresh(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_importing_the_protocol_imports_no_backend():
    _fresh("import sys, swarmdeck.store\n"
           "assert not [m for m in sys.modules if m.startswith('swarmdeck.store.sqlite')], 'a backend'\n"
           "assert not [m for m in sys.modules if m.startswith('swarmdeck.store.postgres')], 'a backend'\n"
           "assert 'aiosqlite' not in sys.modules and 'sqlean' not in sys.modules and 'psycopg' not in sys.modules")


def test_importing_the_cli_does_not_import_numpy():
    _fresh("import swarmdeck.app.cli, sys; assert 'numpy' not in sys.modules")


def test_opening_a_store_without_using_vectors_does_not_import_numpy(tmp_path):
    _fresh("import asyncio, sys\n"
           "from swarmdeck.store import open_store\n"
           "async def main():\n"
           f"    s = await open_store({str(tmp_path / 'n.db')!r}, create=True)\n"
           "    await s.register_agent('a1', agent_type='coder')\n"
           "    await s.enqueue_task(description='t')\n"
           "    await s.claim_task(agent='a1')\n"
           "    await s.close()\n"
           "asyncio.run(main())\n"
           "assert 'numpy' not in sys.modules")


async def test_a_backend_registered_by_scheme_is_imported_on_first_use_and_given_the_url(monkeypatch):
    """What a second backend does to be found: one registry entry, "module:callable"."""
    import types

    opened = []

    async def open_fake(url, **options):
        opened.append((url, options["create"], options["read_only"]))
        return "a fake store"

    module = types.ModuleType("swarmdeck_fake_backend")
    module.open_fake = open_fake
    monkeypatch.setitem(sys.modules, "swarmdeck_fake_backend", module)
    monkeypatch.setitem(swarmdeck.store.BACKENDS, "fake", "swarmdeck_fake_backend:open_fake")
    assert await open_store("fake://host/db", create=True) == "a fake store"
    assert opened == [("fake://host/db", True, False)]
    with pytest.raises(InvalidArgument, match="known schemes are fake://, postgres://, postgresql://, sqlite://"):
        await open_store("nope://x")


# -- the store is put together from parts -----------------------------------------------------------

from swarmdeck.store.parts import Delegate  # noqa: E402
from swarmdeck.store.parts import part_class as store_part_class  # noqa: E402


def part_class(part: str) -> type:
    return store_part_class(SQLiteStore, part)


PARTS = ("db", "tasks", "gates", "agents", "reviewers", "search_index", "memory", "chart_queries", "audit")
#: The parts built on first use, and the modules only they import.
LAZY_PARTS = ("search_index", "memory", "chart_queries", "audit")
LAZY_MODULES = tuple(f"swarmdeck.store.sqlite.{m}" for m in ("memory", "search_index", "vectors", "vss", "matrix",
                                                              "charts"))


def test_each_protocol_method_resolves_to_a_parts_method_with_the_same_signature():
    for name in protocol_methods():
        if name == "close":  # the store's own: it closes what was built, then the database
            assert "close" in vars(SQLiteStore)
            continue
        delegate = vars(SQLiteStore).get(name)
        assert isinstance(delegate, Delegate), f"SQLiteStore.{name} is not delegated to a part"
        assert delegate.part in PARTS
        function = vars(part_class(delegate.part)).get(name)
        assert function is not None, f"the {delegate.part} part has no {name}"
        assert getattr(SQLiteStore, name) is function
        assert inspect.signature(getattr(SQLiteStore, name)) == inspect.signature(function)


def test_no_part_inherits_another_part_or_the_database():
    classes = {part: part_class(part) for part in PARTS}
    for part, cls in classes.items():
        assert cls.__mro__ == (cls, object), f"the {part} part inherits {cls.__mro__[1:-1]}"
    assert SQLiteStore.__mro__ == (SQLiteStore, object)


async def test_a_store_method_is_its_parts_bound_method_kept_after_the_first_lookup(store):
    claim = store.claim_task
    assert claim.__self__ is store.tasks and claim.__func__ is part_class("tasks").claim_task
    assert vars(store)["claim_task"] is claim and store.claim_task is claim  # no descriptor from now on
    assert inspect.signature(claim) == inspect.signature(store.tasks.claim_task)
    assert store.get_milestone.__self__ is store.gates and store.schema_version.__self__ is store.db
    # the parts share one database, and what tests reach into is the database's
    assert {getattr(store, part).db for part in PARTS if part != "db"} == {store.db}
    assert store._writer is store.db._writer and store.clock is store.db.clock
    store.busy_timeout_ms = 1234
    assert store.db.busy_timeout_ms == 1234


async def test_the_parts_a_claim_does_not_need_are_built_on_first_use(store):
    await store.register_agent("a1", agent_type="coder")
    await store.enqueue_task(description="t")
    await store.claim_task(agent="a1")
    assert not [part for part in (*LAZY_PARTS, "_vectors") if part in vars(store)]
    await store.add_memory("ns", "k", "v", memory_type="semantic", created_by="a1")
    assert "memory" in vars(store) and "search_index" in vars(store) and "_vectors" in vars(store)
    assert store.memory.index is store.search_index and store.search_index.ranking._vectors is store._vectors
    assert "chart_queries" not in vars(store) and "audit" not in vars(store)


async def test_closing_closes_only_the_parts_that_were_built(db_path, clock, monkeypatch):
    from swarmdeck.store.sqlite import vectors

    closed = []

    async def close(index):
        closed.append(index)

    monkeypatch.setattr(vectors.VectorIndex, "close", close)
    unused = await open_store(db_path, create=True, clock=clock)
    await unused.close()
    assert closed == [] and "_vectors" not in vars(unused) and unused._writer is None
    used = await open_store(db_path, clock=clock)
    await used.search("anything")
    await used.close()
    assert closed == [used._vectors] and used._writer is None


def test_claiming_imports_none_of_the_memory_search_vector_or_chart_modules(tmp_path):
    _fresh("import asyncio, sys\n"
           "from swarmdeck.store import open_store\n"
           "async def main():\n"
           f"    s = await open_store({str(tmp_path / 'c.db')!r}, create=True)\n"
           "    await s.register_agent('a1', agent_type='coder')\n"
           "    await s.enqueue_task(description='t')\n"
           "    task = await s.claim_task(agent='a1')\n"
           "    await s.heartbeat('a1', status='working')\n"
           "    await s.complete_task(task.id, agent='a1')\n"
           "    await s.close()\n"
           "asyncio.run(main())\n"
           f"loaded = [m for m in {LAZY_MODULES!r} if m in sys.modules]\n"
           "assert not loaded, loaded")


def test_the_postgresql_store_delegates_every_method_with_sqlites_parameters():
    """The PostgreSQL store exposes every protocol method as a part's method, as SQLite's does, taking
    the same parameters with the same defaults; its parts inherit nothing."""
    import importlib

    from swarmdeck.store import postgres

    def pg_part_class(part: str) -> type:
        module, name = postgres.PART_CLASSES[part]
        return getattr(importlib.import_module(f"swarmdeck.store.postgres.{module}"), name)

    def parameters(function) -> list[tuple]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    have = [name for name in protocol_methods() if name != "close" and name in vars(postgres.PostgresStore)]
    assert set(have) == set(protocol_methods()) - {"close"}
    assert inspect.iscoroutinefunction(vars(postgres.PostgresStore)["close"])
    for name in have:
        delegate = vars(postgres.PostgresStore)[name]
        assert isinstance(delegate, Delegate), f"PostgresStore.{name} is not delegated to a part"
        function = vars(pg_part_class(delegate.part)).get(name)
        assert function is not None, f"the {delegate.part} part has no {name}"
        assert getattr(postgres.PostgresStore, name) is function
        assert parameters(function) == parameters(getattr(SQLiteStore, name)), name
    for part in postgres.PART_CLASSES:
        cls = pg_part_class(part)
        assert cls.__mro__ == (cls, object), f"the {part} part inherits {cls.__mro__[1:-1]}"

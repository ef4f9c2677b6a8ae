"""Seed 003's learning records, every kind: fields typed and bounded by the one table of kinds
(store/learning.py), refused with the field named and nothing written, stored and searched.

The memory area (records included) is SQLite's alone for now: these run on SQLite (the default)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_search_rules import EXAMPLES

from swarmdeck.store import learning, memory, open_store
from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.sqlite import schema

STORE_BACKENDS = ("sqlite", "postgres")

#: Every bounded number or count: (kind, field, spec).
BOUNDED = [(kind, name, spec) for kind, k in learning.KINDS.items() for name, spec in k.types.items()
           if spec.type in ("number", "count")]


def test_every_kind_the_seed_defines_is_there_with_its_fields():
    seed = {  # seed 003's tables and columns (ids and the record's own logged time left out)
        "estimate": {"feature", "estimated_sessions", "actual_sessions", "complexity_score", "files_created",
                     "files_modified", "notes", "completed_at"},
        "retrospective": {"feature", "surprises", "would_change", "new_patterns", "spike_accuracy"},
        "spike": {"feature", "question", "approach", "result", "viable", "lessons", "time_spent"},
        "failure": {"feature", "approach", "why_failed", "lesson"},
        "docs_cache": {"library", "version", "content", "source_url", "fetched_at", "expires_at"},
        "complexity_snapshot": {"file_path", "lines", "functions", "dependencies", "complexity_score",
                                "snapshot_at"},
        "agent_log": {"pipeline_id", "agent_name", "phase", "action", "input_summary", "output_summary",
                      "duration_ms", "success", "error_message", "timestamp"},
        "pattern_usage": {"pattern_id", "pipeline_id", "file_path", "compliance_score", "used_at"},
        "pipeline_state": {"pipeline_id", "feature_request", "status", "project_path"},
        "decision": {"decision", "rationale"},
        "pattern": {"name", "description"},
    }
    for kind, fields in seed.items():
        k = learning.KINDS[kind]
        assert fields <= {*k.required, *k.optional}, kind
        assert set(k.types) <= {*k.required, *k.optional}, kind


@pytest.mark.parametrize("kind, name, spec", BOUNDED, ids=[f"{k}.{n}" for k, n, _ in BOUNDED])
@settings(max_examples=40, deadline=None)
@given(value=st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False)))
def test_numbers_within_their_bounds_pass_and_others_are_refused_naming_the_field(kind, name, spec, value):
    whole_ok = spec.type != "count" or float(value).is_integer()
    inside = whole_ok and (spec.ge is None or value >= spec.ge) and (spec.gt is None or value > spec.gt) \
        and (spec.le is None or value <= spec.le)
    fields = EXAMPLES[kind] | {name: value}
    if inside:
        assert learning.validate(kind, fields)[name] == value
    else:
        with pytest.raises(InvalidArgument, match=f"^{name} must be a {'whole ' if spec.type == 'count' else ''}"
                                                  f"number {spec.bounds()}, not "):
            learning.validate(kind, fields)


@pytest.mark.parametrize("kind, name, value, message", [
    ("retrospective", "spike_accuracy", 100.5, "spike_accuracy must be a number from 0 to 100, not 100.5"),
    ("retrospective", "spike_accuracy", -1, "spike_accuracy must be a number from 0 to 100, not -1"),
    ("estimate", "estimated_sessions", 0, "estimated_sessions must be a number greater than 0, not 0"),
    ("estimate", "complexity_score", 11, "complexity_score must be a number from 1 to 10, not 11"),
    ("estimate", "files_created", 2.5, "files_created must be a whole number of at least 0, not 2.5"),
    ("estimate", "files_modified", "3", "files_modified must be a whole number of at least 0, not '3'"),
    ("estimate", "completed_at", "yesterday", "completed_at must be epoch seconds or an ISO 8601 time"),
    ("estimate", "completed_at", True, "completed_at must be epoch seconds or an ISO 8601 time"),
    ("estimate", "completed_at", math.inf, "completed_at must be epoch seconds or an ISO 8601 time"),
    ("pattern_usage", "compliance_score", 101, "compliance_score must be a number from 0 to 100"),
    ("agent_log", "success", "yes", "success must be true or false, not 'yes'"),
    ("agent_log", "duration_ms", -5, "duration_ms must be a number of at least 0, not -5"),
    ("pipeline_state", "state", "not json", "state must be a JSON object"),
    ("pipeline_state", "state", [1, 2], "state must be a JSON object, not a list"),
    ("pipeline_state", "completed_steps", -1, "completed_steps must be a whole number of at least 0"),
    ("docs_cache", "source_url", "javascript:alert(1)", "source_url must be an http or https URL"),
    ("docs_cache", "source_url", "https://", "source_url must be an http or https URL"),
    ("docs_cache", "expires_at", 1_700_000_000, "expires_at (2023-11-14T22:13:20Z) must not be before fetched_at"),
    ("complexity_snapshot", "lines", 1.5, "lines must be a whole number of at least 0, not 1.5"),
    ("retrospective", "new_patterns", ["a", 2], "new_patterns must be a list of text ([1] is a number)"),
    ("retrospective", "new_patterns", {"a": 1}, "new_patterns must be a list of text, not an object"),
])
def test_each_bad_value_is_refused_with_its_field_named(kind, name, value, message):
    with pytest.raises(InvalidArgument) as err:
        learning.validate(kind, EXAMPLES[kind] | {name: value})
    assert str(err.value).startswith(message), str(err.value)


def test_new_patterns_is_a_real_list_whatever_it_is_given_as():
    base = EXAMPLES["retrospective"]
    assert learning.validate("retrospective", base | {"new_patterns": "outbox"})["new_patterns"] == ["outbox"]
    assert learning.validate("retrospective", base | {"new_patterns": '["outbox", "saga"]'})["new_patterns"] == [
        "outbox", "saga"]
    assert learning.validate("retrospective", base | {"new_patterns": "[not json"})["new_patterns"] == ["[not json"]


def test_times_are_epoch_seconds_from_numbers_iso_text_or_datetimes():
    base = EXAMPLES["estimate"]
    moment = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc).timestamp()
    for given_as in ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00", "2026-12-01T11:00:00+01:00", moment,
                     datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)):
        assert learning.validate("estimate", base | {"completed_at": given_as})["completed_at"] == moment
    assert learning.body("estimate", base | {"completed_at": moment}).endswith("completed at: 2026-12-01T10:00:00Z")


def test_state_json_text_becomes_an_object_and_counts_keep_whole_numbers():
    fields = learning.validate("pipeline_state", EXAMPLES["pipeline_state"] | {
        "state": '{"decomposition": {"total_steps": 7}}', "planned_steps": 7.0})
    assert fields["state"] == {"decomposition": {"total_steps": 7}}
    assert fields["planned_steps"] == 7 and isinstance(fields["planned_steps"], int)


async def test_every_kind_is_stored_read_back_and_searchable(store):
    for kind, fields in EXAMPLES.items():
        record = await store.log_record(kind, fields, agent="builder")
        assert (record.kind, record.fields) == (kind, fields)
        assert (await store.get_record(record.id)).fields == fields
    assert {r.kind for r in await store.list_records(limit=100)} == set(learning.KINDS)
    hits = await store.search("fastapi", mode="keyword", kinds=["docs_cache"])
    assert [h.kind for h in hits] == ["docs_cache"]
    hits = await store.search("uow", mode="keyword", kinds=["complexity_snapshot", "pattern_usage"])
    assert {h.kind for h in hits} == {"complexity_snapshot", "pattern_usage"}


async def test_a_bad_record_writes_nothing(store):
    last = await store.latest_event_id()
    for kind, name, bad in [("estimate", "files_created", -1), ("docs_cache", "source_url", "ftp://x"),
                            ("agent_log", "timestamp", "soon"), ("retrospective", "spike_accuracy", 250)]:
        with pytest.raises(InvalidArgument, match=f"^{name} "):
            await store.log_record(kind, EXAMPLES[kind] | {name: bad})
    with pytest.raises(InvalidArgument, match="^an agent_log needs agent_name, action"):
        await store.log_record("agent_log", {"phase": "building"})
    assert await store.latest_event_id() == last
    assert await store.list_records() == []


async def test_the_kinds_migration_keeps_every_record_and_opens_the_new_kinds(db_path, clock, monkeypatch):
    learning_kinds = next(i for i, (name, _) in enumerate(schema.MIGRATIONS) if name.startswith("learning:"))
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:learning_kinds])
    # today's code reading a table without the later migrations' columns (retention's archived_at)
    read = memory._record
    monkeypatch.setattr(memory, "_record", lambda row: read({"archived_at": None, **{k: row[k] for k in row.keys()}}))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    before = await open_store(db_path, create=True, clock=clock)
    try:
        old = [await before.log_record(kind, EXAMPLES[kind], agent="builder")
               for kind in ("failure", "decision", "estimate")]
        with pytest.raises(Exception, match="CHECK constraint failed"):  # what the old schema refused
            await before.log_record("docs_cache", EXAMPLES["docs_cache"])
    finally:
        await before.close()
    monkeypatch.undo()

    after = await open_store(db_path, clock=clock)
    try:
        assert await after.schema_version() == len(schema.MIGRATIONS)
        assert [await after.get_record(r.id) for r in old] == old
        new = await after.log_record("docs_cache", EXAMPLES["docs_cache"])
        assert new.id > max(r.id for r in old)
        assert [h.ref_id for h in await after.search("dropped", mode="keyword")] == [old[0].id]
    finally:
        await after.close()
    again = await open_store(db_path, clock=clock)  # a second open applies nothing
    try:
        assert await again.schema_version() == len(schema.MIGRATIONS)
        assert len(await again.list_records()) == 4
    finally:
        await again.close()

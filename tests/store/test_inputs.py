"""The input models (store/inputs/): what they accept round-trips, what they refuse is refused in one
format naming the field, the limits are store/limits.py's, and pydantic stays off the claim path."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from swarmdeck.store import UNSET
from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.inputs import (
    AgentUpdate,
    CoordinationStatus,
    CriterionInput,
    ReportInput,
    TaskSpec,
    parse_record,
)
from swarmdeck.store.limits import MAX_LINE, MAX_NAME, MAX_TEXT, check_text
from swarmdeck.store.models import AgentStatus, CriterionStatus, Decision, TaskSource

# -- strategies --


#: Text SQLite can store (no lone surrogates), within a limit.
def texts(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(st.characters(blacklist_categories=("Cs",)), min_size=min_size, max_size=max_size)


filled = texts(40, 1).filter(str.strip)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts(20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts(8), inner, max_size=4),
    max_leaves=20,
)
ids = st.integers(1, 2**63 - 1)

task_specs = st.fixed_dictionaries(
    {"description": filled},
    optional={
        "source": st.sampled_from([s.value for s in TaskSource]),
        "agent_type": filled,
        "base_priority": st.integers(0, 10),
        "prerequisites": st.lists(ids, max_size=5),
        "deadline": st.datetimes(timezones=st.just(UTC)) | st.floats(0, 4e9),
        "estimated_duration_seconds": st.integers(1, 10**9) | st.none(),
        "milestone": ids | filled | st.none(),
        "parent_task_id": ids | st.none(),
        "session_id": filled | st.none(),
        "input_data": json_values,
        "summary": texts(MAX_LINE) | st.none(),
        "max_retries": st.integers(0, 1000),
        "timeout_seconds": st.integers(1, 10**9),
    },
)

criteria = st.fixed_dictionaries(
    {"name": filled, "status": st.sampled_from([s.value for s in CriterionStatus])},
    optional={"evidence": texts(40)},
)
metrics = st.fixed_dictionaries(
    {
        "name": filled,
        "value": st.floats(allow_nan=False, allow_infinity=False),
        "target": st.floats(allow_nan=False, allow_infinity=False),
    },
    optional={"comparator": st.sampled_from(["<", "<=", ">", ">=", "=="]), "unit": texts(10)},
)
issues = st.fixed_dictionaries(
    {"severity": st.sampled_from(["critical", "high", "medium", "low"]), "description": filled}
)
reports = st.fixed_dictionaries(
    {},
    optional={
        "summary": texts(60),
        "criteria": st.lists(criteria, max_size=4),
        "metrics": st.lists(metrics, max_size=4),
        "issues": st.lists(issues, max_size=4),
        "recommendations": st.lists(filled, max_size=4),
        "proposed_decision": st.sampled_from([d.value for d in Decision]) | st.none(),
    },
)


# -- round trips --


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(task_specs)
def test_any_task_spec_accepted_round_trips_through_json(data):
    spec = TaskSpec.parse(data)
    again = TaskSpec.model_validate_json(spec.model_dump_json())
    if isinstance(spec.deadline, datetime):
        assert again.deadline == spec.deadline
    assert again == spec


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(reports)
def test_any_report_accepted_round_trips_and_keeps_its_parts(data):
    report = ReportInput.parse(data)
    again = ReportInput.model_validate_json(report.model_dump_json())
    assert again == report and again.parts() == report.parts()
    # The store's own models are accepted as entries too (a report re-submitted as it was read).
    crit, mets, iss, recs, proposed = report.parts()
    assert (
        ReportInput.parse(
            criteria=crit, metrics=mets, issues=iss, recommendations=recs, proposed_decision=proposed
        ).parts()
        == report.parts()
    )


@settings(max_examples=100)
@given(json_values)
def test_any_json_value_within_the_limits_is_kept_as_it_is(value):
    assert TaskSpec.parse(description="x", input_data=value).input_data == value


# -- one error format --


def refused(call, *fragments: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        call()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_refusal_names_the_field_by_its_path_and_says_what_to_give():
    entries = [
        {"name": "a", "status": "met"},
        {"name": "b", "status": "met"},
        {"name": "c", "status": "done"},
    ]
    refused(
        lambda: ReportInput.parse(criteria=entries),
        "criteria[2].status: criterion status must be one of met, not_met, unknown, not 'done'",
    )
    refused(lambda: ReportInput.parse(criteria=[{"status": "met"}]), "criteria[0] is missing 'name'")
    refused(
        lambda: AgentUpdate.parse(completion=150), "completion must be a percentage from 0 to 100, not 150"
    )
    refused(
        lambda: TaskSpec.parse(description="x", base_priority=11),
        "base_priority must be a whole number from 0 to 10, not 11",
    )


def test_every_problem_is_told_at_once():
    message = refused(lambda: TaskSpec.parse(description="x", base_priority=True, source="robot"))
    assert "base_priority" in message and "source must be one of human" in message and "; " in message


def test_the_limits_are_the_stores_own_checks_word_for_word():
    with pytest.raises(InvalidArgument) as direct:
        check_text("summary", "s" * (MAX_LINE + 1), MAX_LINE)
    refused(lambda: TaskSpec.parse(description="x", summary="s" * (MAX_LINE + 1)), str(direct.value))
    refused(
        lambda: TaskSpec.parse(description="x", agent_type="t" * (MAX_NAME + 1)),
        f"agent_type: {MAX_NAME + 1} characters, limit {MAX_NAME}",
    )
    refused(
        lambda: CriterionInput.parse(name="c", status="met", evidence="e" * (MAX_TEXT + 1)),
        f"evidence: {MAX_TEXT + 1} characters, limit {MAX_TEXT}",
    )
    deep: object = 1
    for _ in range(33):
        deep = [deep]
    refused(
        lambda: TaskSpec.parse(description="x", input_data=deep),
        "input_data: nested deeper than 32 levels (limit 32)",
    )


def test_the_schema_carries_the_limits_and_the_enums_of_store_models():
    schema = TaskSpec.model_json_schema()
    assert schema["properties"]["summary"]["anyOf"][0]["maxLength"] == MAX_LINE
    assert schema["properties"]["base_priority"]["maximum"] == 10
    assert schema["$defs"]["TaskSource"]["enum"] == [s.value for s in TaskSource]


# -- agent updates: not given, or cleared --


def test_a_field_not_given_is_left_and_an_explicit_null_clears():
    update = AgentUpdate.given(
        status="working", current_task_id=UNSET, completion=UNSET, blockers=None, next_milestone=None
    )
    assert update.changes() == {"status": AgentStatus.WORKING, "blockers": [], "next_milestone": None}
    assert AgentUpdate.given(current_task_id=None).changes() == {"current_task_id": None}
    assert AgentUpdate.given(next_milestone="").changes() == {"next_milestone": None}
    assert AgentUpdate.given().changes() == {}
    refused(lambda: AgentUpdate.parse(status=None), "status can be set, not cleared")


# -- learning records --


def test_a_record_is_validated_by_its_kinds_model():
    record = parse_record(
        "spike",
        {
            "feature": "f",
            "question": "q",
            "approach": "a",
            "result": "r",
            "viable": False,
            "time_spent": 3,
            "lessons": ["one", "two"],
        },
    )
    assert type(record).__name__ == "SpikeRecord"
    assert record.fields() == {
        "feature": "f",
        "question": "q",
        "approach": "a",
        "result": "r",
        "viable": False,
        "time_spent": 3,
        "lessons": ["one", "two"],
    }
    assert parse_record("decision", {"decision": "d", "rationale": "r", "status": None}).fields() == {
        "decision": "d",
        "rationale": "r",
    }
    refused(
        lambda: parse_record(
            "spike", {"feature": "f", "question": "q", "approach": "a", "result": "r", "viable": "yes"}
        ),
        "viable must be true or false",
    )
    refused(
        lambda: parse_record("estimate", {"feature": "f", "estimated_sessions": True}),
        "estimated_sessions must be a number",
    )
    refused(lambda: parse_record("riddle", {}), "record kind must be one of failure, decision")


# -- the coordination status file --


def test_the_status_file_tells_what_an_entry_gave_from_what_it_omitted():
    status = CoordinationStatus.parse(
        {
            "agents": {"a": {"role": "tester", "blockers": None, "current_task": "7"}, "b": {}},
            "extra": "ignored",
        }
    )
    a, b = status.agents["a"], status.agents["b"]
    assert a.kind == "tester" and a.given("blockers") and a.blockers == () and a.current_task == 7
    assert not a.given("next_milestone") and not b.model_fields_set


# -- speed: pydantic stays off the claim path --


def test_the_cli_and_the_store_start_without_pydantic():
    code = (
        "import sys; import swarmdeck.app.cli, swarmdeck.store, swarmdeck.store.sqlite, "
        "swarmdeck.app.status_bridge; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

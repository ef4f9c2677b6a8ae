"""The store's pure domain rules, without a database: priority, graph, lifecycle, gates."""

from __future__ import annotations

import math
from collections import deque
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmdeck.store import gates, graph, priority
from swarmdeck.store.errors import InvalidArgument, InvalidTransition, PermissionDenied
from swarmdeck.store.inputs import ReportInput
from swarmdeck.store.lifecycle import check_transition
from swarmdeck.store.models import (
    Comparator,
    Criterion,
    CriterionStatus,
    Decision,
    Metric,
    MilestoneStatus,
    ReportIssue,
    Severity,
    TaskSource,
    TaskStatus,
)

from support import EPOCH

NOW = EPOCH
MINUTE, HOUR, DAY, WEEK = 60.0, 3600.0, 86400.0, 604800.0


# -- priority -----------------------------------------------------------------------------------


class TestUrgency:
    def test_no_deadline_is_50(self):
        assert priority.urgency_score(None, None, NOW) == 50.0
        assert priority.urgency_score(None, 3600, NOW) == 50.0

    @pytest.mark.parametrize("estimate", [None, 600])
    def test_past_or_at_deadline_is_100(self, estimate):
        assert priority.urgency_score(NOW - 1, estimate, NOW) == 100.0
        assert priority.urgency_score(NOW - 10 * WEEK, estimate, NOW) == 100.0
        assert priority.urgency_score(NOW, estimate, NOW) == 100.0

    def test_with_estimate_decays_exponentially(self):
        # remaining 2h, estimate 1h: 100 * exp(-7200 / 7200)
        assert priority.urgency_score(NOW + 7200, 3600, NOW) == pytest.approx(100 * math.exp(-1))
        assert priority.urgency_score(NOW + 7200, 3600, NOW) == pytest.approx(36.787944, abs=1e-5)
        # remaining 10 days, estimate 1 day: exp(-5)
        assert priority.urgency_score(NOW + 10 * DAY, DAY, NOW) == pytest.approx(100 * math.exp(-5))

    def test_less_time_left_than_estimate_is_100(self):
        assert priority.urgency_score(NOW + 100, 3600, NOW) == 100.0
        assert priority.urgency_score(NOW + 3599, 3600, NOW) == 100.0
        # exactly the estimate left: the formula applies, exp(-1/2)
        assert priority.urgency_score(NOW + 3600, 3600, NOW) == pytest.approx(100 * math.exp(-0.5))

    @pytest.mark.parametrize(
        ("remaining", "expected"),
        [
            (1, 100.0),
            (MINUTE - 0.001, 100.0),
            (MINUTE, 80.0),
            (HOUR - 1, 80.0),
            (HOUR, 50.0),
            (DAY - 1, 50.0),
            (DAY, 30.0),
            (WEEK - 1, 30.0),
            (WEEK, 10.0),
            (52 * WEEK, 10.0),
        ],
    )
    def test_steps_without_estimate(self, remaining, expected):
        assert priority.urgency_score(NOW + remaining, None, NOW) == expected

    def test_zero_estimate_is_treated_as_no_estimate(self):
        assert priority.urgency_score(NOW + 2 * HOUR, 0, NOW) == 50.0


class TestFactors:
    @pytest.mark.parametrize(("n", "expected"), [(0, 0.0), (3, 30.0), (9, 90.0), (10, 100.0), (15, 100.0)])
    def test_depth(self, n, expected):
        assert priority.depth_score(n) == expected

    @pytest.mark.parametrize(
        ("n", "expected"),
        [
            (0, 0.0),
            (1, math.log10(2) * 33.33),
            (9, 33.33),
            (99, 66.66),
            (999, 99.99),
            (500, math.log10(501) * 33.33),
            (1000, 100.0),  # log10(1001) * 33.33 is just over 100
            (10_000, 100.0),
            (10**9, 100.0),
        ],
    )
    def test_blocking(self, n, expected):
        assert priority.blocking_score(n) == pytest.approx(expected)
        assert priority.blocking_score(n) <= 100.0

    def test_source_scores(self):
        assert priority.SOURCE_SCORES == {
            TaskSource.HUMAN: 100.0,
            TaskSource.AGENT_REQUIREMENTS: 75.0,
            TaskSource.AGENT_PLANNER: 50.0,
            TaskSource.AGENT_IMPLEMENTATION: 25.0,
        }

    def test_weights_sum_to_one(self):
        assert sum(priority.WEIGHTS.values()) == pytest.approx(1.0)


class TestBreakdown:
    def test_weighted_total_by_hand(self):
        b = priority.breakdown(
            base_priority=7, dependency_depth=2, deadline=None, estimate=None,
            unfinished_dependents=9, source="agent_planner", now=NOW,
        )
        assert (b.base, b.depth, b.urgency, b.source) == (70.0, 20.0, 50.0, 50.0)
        assert b.blocking == pytest.approx(33.33)
        # 0.30*70 + 0.25*20 + 0.25*50 + 0.15*33.33 + 0.05*50
        assert b.total == pytest.approx(21 + 5 + 12.5 + 4.9995 + 2.5)
        assert b.total == 45.9995

    def test_maximum_is_100(self):
        b = priority.breakdown(
            base_priority=10, dependency_depth=12, deadline=NOW - 1, estimate=None,
            unfinished_dependents=10**6, source=TaskSource.HUMAN, now=NOW,
        )
        assert b.total == 100.0

    def test_minimum(self):
        b = priority.breakdown(
            base_priority=0, dependency_depth=0, deadline=NOW + 52 * WEEK, estimate=None,
            unfinished_dependents=0, source=TaskSource.AGENT_IMPLEMENTATION, now=NOW,
        )
        # 0.25*10 (a far deadline) + 0.05*25
        assert b.total == 3.75

    def test_deadline_with_estimate(self):
        b = priority.breakdown(
            base_priority=5, dependency_depth=1, deadline=NOW + 7200, estimate=3600,
            unfinished_dependents=1, source="human", now=NOW,
        )
        expected = 0.30 * 50 + 0.25 * 10 + 0.25 * 100 * math.exp(-1) + 0.15 * math.log10(2) * 33.33 + 5
        assert b.total == pytest.approx(expected, abs=1e-4)

    def test_unknown_source_is_refused(self):
        with pytest.raises(ValueError):
            priority.breakdown(
                base_priority=5, dependency_depth=0, deadline=None, estimate=None,
                unfinished_dependents=0, source="robot", now=NOW,
            )


# -- graph ----------------------------------------------------------------------------------


def has_cycle(edges: dict[int, set[int]]) -> bool:
    """Kahn's algorithm, independent of graph.py: a cycle leaves nodes with in-degree > 0."""
    nodes = set(edges) | {p for ps in edges.values() for p in ps}
    indegree = {n: 0 for n in nodes}
    for ps in edges.values():
        for p in ps:
            indegree[p] += 1
    queue = deque(n for n, d in indegree.items() if d == 0)
    seen = 0
    while queue:
        n = queue.popleft()
        seen += 1
        for p in edges.get(n, ()):
            indegree[p] -= 1
            if indegree[p] == 0:
                queue.append(p)
    return seen != len(nodes)


def reachable(edges, start) -> set[int]:
    out, stack = set(), [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in out:
                out.add(nxt)
                stack.append(nxt)
    return out


edge_lists = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=60)


@st.composite
def dags(draw, max_nodes=14):
    """A random DAG over 0..n-1: prerequisites always have a lower number than their task."""
    n = draw(st.integers(1, max_nodes))
    edges: dict[int, set[int]] = {t: set() for t in range(n)}
    for t in range(1, n):
        edges[t] = set(draw(st.lists(st.integers(0, t - 1), max_size=3)))
    # Shuffle labels so that "lower number" is not something the code under test could lean on.
    labels = draw(st.permutations(range(100, 100 + n)))
    return {labels[t]: {labels[p] for p in ps} for t, ps in edges.items()}


class TestCycleIfAdded:
    @settings(max_examples=150, deadline=None)
    @given(edge_lists)
    def test_never_admits_a_cycle_and_every_refusal_is_real(self, candidates):
        edges: dict[int, set[int]] = {}
        for task, prereq in candidates:
            cycle = graph.cycle_if_added(edges, task, prereq)
            trial = {k: set(v) for k, v in edges.items()}
            trial.setdefault(task, set()).add(prereq)
            if cycle is None:
                edges = trial
                assert not has_cycle(edges)
            else:
                assert has_cycle(trial), f"refused {task}->{prereq} but it closes no cycle"
                # The reported cycle is real: it starts and ends at task and follows edges.
                assert cycle[0] == task and cycle[-1] == task and cycle[1] == prereq
                for a, b in zip(cycle, cycle[1:]):
                    assert b in trial.get(a, ()), f"{a}->{b} in {cycle} is not an edge"
        assert not has_cycle(edges)

    def test_self_dependency(self):
        assert graph.cycle_if_added({}, 4, 4) == [4, 4]

    def test_reports_the_cycle_path(self):
        edges = {2: {1}, 3: {2}}  # 3 waits on 2 waits on 1
        assert graph.cycle_if_added(edges, 1, 3) == [1, 3, 2, 1]
        assert graph.cycle_if_added(edges, 3, 1) is None  # a shortcut, not a cycle

    def test_find_path(self):
        edges = {3: {2}, 2: {1}, 5: {4}}
        assert graph.find_path(edges, 3, 1) == [3, 2, 1]
        assert graph.find_path(edges, 1, 3) is None
        assert graph.find_path(edges, 3, 5) is None

    def test_dependency_depth(self):
        assert graph.dependency_depth([]) == 0
        assert graph.dependency_depth([0]) == 1
        assert graph.dependency_depth([0, 3, 1]) == 4


class TestExecutionPlan:
    @settings(max_examples=150, deadline=None)
    @given(dags(), st.data())
    def test_batches_respect_prerequisites(self, edges, data):
        members = data.draw(st.sets(st.sampled_from(sorted(edges)), min_size=1))
        batches = graph.execution_plan(members, edges)
        where = {t: i for i, batch in enumerate(batches) for t in batch}
        flat = [t for batch in batches for t in batch]
        assert sorted(flat) == sorted(members)  # every task exactly once
        assert len(flat) == len(set(flat))
        assert all(batches) and all(b == sorted(b) for b in batches)
        for t in members:
            for p in edges.get(t, ()):
                if p in members:
                    assert where[p] < where[t], f"{t} runs in batch {where[t]} before its prerequisite {p}"
            # As early as possible: a task in batch k > 0 waits on something in batch k - 1.
            if where[t] > 0:
                assert any(where.get(p) == where[t] - 1 for p in edges.get(t, ()) if p in members)
        assert max(len(b) for b in batches) == max(
            sum(1 for t in members if where[t] == k) for k in range(len(batches))
        )

    def test_hand_example(self):
        edges = {2: {1}, 3: {1}, 4: {2, 3}, 5: set()}
        assert graph.execution_plan([1, 2, 3, 4, 5], edges) == [[1, 5], [2, 3], [4]]
        # Prerequisites outside the set count as met.
        assert graph.execution_plan([2, 3, 4], edges) == [[2, 3], [4]]

    @settings(max_examples=60, deadline=None)
    @given(dags(max_nodes=8), st.integers(2, 5))
    def test_a_cycle_raises_value_error(self, edges, k):
        ring = list(range(1, k + 1))
        edges = {**edges, **{a: {b} for a, b in zip(ring, ring[1:] + ring[:1])}}
        with pytest.raises(ValueError, match="cycle"):
            graph.execution_plan(set(edges) | set(ring), edges)

    def test_a_cycle_names_its_tasks(self):
        with pytest.raises(ValueError, match=r"\[2, 3\]"):
            graph.execution_plan([1, 2, 3], {2: {3}, 3: {2}, 1: set()})


class TestTransitiveDependents:
    def test_hand_example(self):
        dependents = {1: [2, 3], 2: [4], 3: [4], 4: [5], 9: [1]}
        assert graph.transitive_dependents(dependents, 1) == [2, 3, 4, 5]
        assert graph.transitive_dependents(dependents, 5) == []

    @settings(max_examples=100, deadline=None)
    @given(dags(), st.data())
    def test_matches_reachability(self, edges, data):
        dependents: dict[int, list[int]] = {}
        for t, ps in edges.items():
            for p in ps:
                dependents.setdefault(p, []).append(t)
        root = data.draw(st.sampled_from(sorted(edges)))
        order = graph.transitive_dependents(dependents, root)
        assert len(order) == len(set(order))
        assert root not in order
        assert set(order) == reachable(dependents, root)
        # BFS order: each one is reached from the root or from one listed before it.
        for i, t in enumerate(order):
            assert t in dependents.get(root, ()) or any(t in dependents.get(s, ()) for s in order[:i])


# -- lifecycle ------------------------------------------------------------------------------

S = TaskStatus
EXPECTED_ALLOWED = {
    (S.PENDING, S.READY), (S.PENDING, S.BLOCKED), (S.PENDING, S.CANCELLED),
    (S.BLOCKED, S.READY), (S.BLOCKED, S.CANCELLED),
    (S.READY, S.RUNNING), (S.READY, S.BLOCKED), (S.READY, S.CANCELLED),
    (S.RUNNING, S.COMPLETED), (S.RUNNING, S.FAILED), (S.RUNNING, S.READY), (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.BLOCKED),  # an escalation: it waits on a debugging task
    (S.FAILED, S.READY), (S.FAILED, S.BLOCKED), (S.FAILED, S.CANCELLED),
}


class TestLifecycle:
    @pytest.mark.parametrize(("current", "target"), sorted(EXPECTED_ALLOWED))
    def test_allowed(self, current, target):
        assert check_transition(1, current, target) is None

    @pytest.mark.parametrize(
        ("current", "target"), [p for p in product(S, S) if p not in EXPECTED_ALLOWED]
    )
    def test_refused(self, current, target):
        with pytest.raises(InvalidTransition, match=f"^task 5 is {current.value}; "):
            check_transition(5, current, target)

    def test_finished_tasks_are_final(self):
        for current in (S.COMPLETED, S.CANCELLED):
            for target in S:
                with pytest.raises(InvalidTransition):
                    check_transition(1, current, target)

    @pytest.mark.parametrize(
        ("current", "target", "message"),
        [
            (S.COMPLETED, S.RUNNING, "task 42 is completed; only ready tasks can be claimed"),
            (S.READY, S.COMPLETED, "task 42 is ready; only running tasks can be completed"),
            (S.BLOCKED, S.FAILED, "task 42 is blocked; only running tasks can be failed"),
            (S.COMPLETED, S.CANCELLED,
             "task 42 is completed; completed and cancelled tasks cannot be cancelled"),
            (S.CANCELLED, S.READY, "task 42 is cancelled; it cannot become ready"),
        ],
    )
    def test_messages(self, current, target, message):
        with pytest.raises(InvalidTransition) as info:
            check_transition(42, current, target)
        assert str(info.value) == message


# -- gates ------------------------------------------------------------------------------------


def decide(**overrides):
    args = dict(
        milestone="M1", status=MilestoneStatus.REVIEW, decision=Decision.APPROVE, rationale="tests pass",
        reviewer="alice", submitted_by="bot", conditions=[], already_approved_by=set(),
    )
    args.update(overrides)
    return gates.check_decision(**args)


class TestCheckDecision:
    @pytest.mark.parametrize("decision", list(Decision))
    def test_allowed(self, decision):
        conditions = ["add docs"] if decision is Decision.CONDITIONAL else []
        assert decide(decision=decision, conditions=conditions) is None

    @pytest.mark.parametrize("status", [s for s in MilestoneStatus if s is not MilestoneStatus.REVIEW])
    def test_only_in_review(self, status):
        message = f"milestone 'M1' is {status.value}; only a milestone in review can be decided"
        with pytest.raises(InvalidTransition, match=message):
            decide(status=status)

    def test_submitter_cannot_decide(self):
        with pytest.raises(PermissionDenied, match="bot submitted this report and cannot decide it"):
            decide(reviewer="bot")

    @pytest.mark.parametrize("rationale", ["", "   ", "\n\t"])
    def test_rationale_required(self, rationale):
        with pytest.raises(InvalidArgument, match="rationale is required"):
            decide(rationale=rationale)

    def test_reviewer_required(self):
        with pytest.raises(InvalidArgument, match="reviewer name is required"):
            decide(reviewer=" ")

    def test_conditional_needs_conditions(self):
        with pytest.raises(InvalidArgument, match="CONDITIONAL decision needs at least one condition"):
            decide(decision=Decision.CONDITIONAL, conditions=[])
        with pytest.raises(InvalidArgument, match="at least one condition"):
            decide(decision=Decision.CONDITIONAL, conditions=["  "])

    @pytest.mark.parametrize("decision", [Decision.APPROVE, Decision.REVISE, Decision.ESCALATE])
    def test_conditions_only_on_conditional(self, decision):
        with pytest.raises(InvalidArgument, match="only be attached to a CONDITIONAL"):
            decide(decision=decision, conditions=["x"])

    @pytest.mark.parametrize("decision", [Decision.APPROVE, Decision.CONDITIONAL])
    def test_same_reviewer_cannot_approve_twice(self, decision):
        conditions = ["x"] if decision is Decision.CONDITIONAL else []
        with pytest.raises(PermissionDenied, match="alice has already approved"):
            decide(decision=decision, conditions=conditions, already_approved_by={"alice"})
        assert decide(decision=decision, conditions=conditions, already_approved_by={"carol"}) is None

    def test_an_approver_may_still_revise(self):
        assert decide(decision=Decision.REVISE, already_approved_by={"alice"}) is None


class TestOutcome:
    def test_revise_reopens(self):
        o = gates.outcome(Decision.REVISE, approvals=5, required=1, open_conditions=0)
        assert o == gates.Outcome(MilestoneStatus.OPEN, opens_next=False, pauses_swarm=False)

    def test_escalate_pauses(self):
        o = gates.outcome(Decision.ESCALATE, approvals=1, required=1, open_conditions=0)
        assert o == gates.Outcome(MilestoneStatus.ESCALATED, opens_next=False, pauses_swarm=True)

    def test_approve(self):
        o = gates.outcome(Decision.APPROVE, approvals=1, required=1, open_conditions=0)
        assert o == gates.Outcome(MilestoneStatus.APPROVED, opens_next=True, pauses_swarm=False)

    def test_approve_with_open_conditions_is_conditional(self):
        o = gates.outcome(Decision.APPROVE, approvals=2, required=2, open_conditions=1)
        assert o == gates.Outcome(MilestoneStatus.CONDITIONAL, opens_next=True, pauses_swarm=False)

    def test_conditional(self):
        o = gates.outcome(Decision.CONDITIONAL, approvals=1, required=1, open_conditions=2)
        assert o.milestone_status is MilestoneStatus.CONDITIONAL and o.opens_next

    @pytest.mark.parametrize("decision", [Decision.APPROVE, Decision.CONDITIONAL])
    def test_too_few_approvals_stays_in_review(self, decision):
        o = gates.outcome(decision, approvals=1, required=2, open_conditions=0)
        assert o == gates.Outcome(MilestoneStatus.REVIEW, opens_next=False, pauses_swarm=False)


def parse_report(**parts):
    """A report's parts as the store keeps them, through the model the store validates with."""
    return ReportInput.parse(**parts).parts()


REPORT = dict(
    criteria=[
        {"name": "coverage", "status": "met", "evidence": "92%"},
        {"name": "docs", "status": "not_met"},
    ],
    metrics=[
        {"name": "p95 ms", "value": 80, "target": 100},
        {"name": "recall", "value": 0.7, "target": 0.8, "comparator": ">=", "unit": "ratio"},
    ],
    issues=[{"severity": "high", "description": "flaky test"}],
    recommendations=["fix the flake"],
    proposed_decision="CONDITIONAL",
)


class TestParseReport:
    def test_dicts_to_models(self):
        crit, mets, iss, recs, proposed = parse_report(**REPORT)
        assert crit == (
            Criterion("coverage", CriterionStatus.MET, "92%"),
            Criterion("docs", CriterionStatus.NOT_MET, ""),
        )
        assert mets == (
            Metric("p95 ms", 80.0, 100.0, Comparator.LE, ""),
            Metric("recall", 0.7, 0.8, Comparator.GE, "ratio"),
        )
        assert [m.met for m in mets] == [True, False]
        assert iss == (ReportIssue(Severity.HIGH, "flaky test"),)
        assert recs == ("fix the flake",)
        assert proposed is Decision.CONDITIONAL

    def test_models_are_accepted_as_they_are(self):
        parsed = parse_report(**REPORT)
        again = parse_report(
            criteria=parsed[0], metrics=parsed[1], issues=parsed[2], recommendations=parsed[3],
            proposed_decision=parsed[4],
        )
        assert again == parsed

    def test_empty_report(self):
        assert parse_report(criteria=[], metrics=[], issues=[], recommendations=[],
                                  proposed_decision=None) == ((), (), (), (), None)

    @pytest.mark.parametrize(
        ("part", "value", "message"),
        [
            ("criteria", [{"name": "x", "status": "done"}],
             "criterion status must be one of met, not_met, unknown"),
            ("criteria", [{"status": "met"}], "missing 'name'"),
            ("criteria", [{"name": " ", "status": "met"}], "criterion name must be non-empty text"),
            ("metrics", [{"name": "m", "value": float("nan"), "target": 1}], "must be a finite number"),
            ("metrics", [{"name": "m", "value": "fast", "target": 1}], "must be a finite number"),
            ("metrics", [{"name": "m", "value": True, "target": 1}], "must be a finite number"),
            ("metrics", [{"name": "m", "value": 1, "target": 1, "comparator": "~"}], "metric comparator"),
            ("issues", [{"severity": "urgent", "description": "x"}], "issue severity must be one of"),
            ("recommendations", "do better", "recommendations must be a list of strings"),
            ("recommendations", [""], "recommendation must be non-empty text"),
            ("proposed_decision", "MAYBE", "proposed decision must be one of APPROVE"),
        ],
    )
    def test_refusals_say_what_is_wrong(self, part, value, message):
        with pytest.raises(InvalidArgument, match=message):
            parse_report(**{**REPORT, part: value})


def hash_of(**overrides):
    crit, mets, iss, recs, proposed = parse_report(**REPORT)
    args = dict(milestone="M1", version=1, submitted_by="bot", summary="done", criteria=crit, metrics=mets,
                issues=iss, recommendations=recs, proposed_decision=proposed)
    args.update(overrides)
    return gates.report_hash(**args)


class TestReportHash:
    def test_stable_for_the_same_content(self):
        h = hash_of()
        assert h == hash_of()
        assert len(h) == 64 and int(h, 16) >= 0
        # The same content built from models rather than dicts hashes the same.
        crit, mets, iss, recs, proposed = parse_report(**REPORT)
        assert hash_of(criteria=tuple(Criterion(c.name, c.status, c.evidence) for c in crit)) == h

    @pytest.mark.parametrize(
        "change",
        [
            {"milestone": "M2"},
            {"version": 2},
            {"submitted_by": "other"},
            {"summary": "done."},
            {"recommendations": ("fix the flake", "and more")},
            {"recommendations": ()},
            {"proposed_decision": Decision.APPROVE},
            {"criteria": (Criterion("coverage", CriterionStatus.MET, "91%"),)},
            {"metrics": (Metric("p95 ms", 80.0, 100.0, Comparator.LT),)},
            {"issues": (ReportIssue(Severity.LOW, "flaky test"),)},
        ],
    )
    def test_differs_when_content_differs(self, change):
        assert hash_of(**change) != hash_of()

    def test_order_of_criteria_matters(self):
        crit = parse_report(**REPORT)[0]
        assert hash_of(criteria=crit[::-1]) != hash_of(criteria=crit)

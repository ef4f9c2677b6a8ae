"""A milestone's validation report, as its submitter writes it (``ReportInput``): a summary, acceptance
criteria with status and evidence, metrics against their targets, issues with severity,
recommendations, a proposed decision and the next milestone's context; bounded entry by entry and as a
whole (store/limits.MAX_REPORT_BYTES)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from ..errors import InvalidArgument
from ..limits import MAX_LINE, MAX_REPORT_BYTES, MAX_TEXT, check_json
from ..models import Comparator, Criterion, CriterionStatus, Decision, Metric, ReportIssue, Severity
from .fields import Name, Prose, StoreInput, at_most, choice, filled
from .problems import kind_of, problem, shown


def _finite(what: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise problem(f"{what} must be a finite number, not {shown(value)}")
        return float(value)

    return run


def _plain(what: str) -> Callable[[Any], Any]:
    """Optional text; a number is taken as its text, anything else (an object, a list) is refused."""

    def run(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise problem(f"{what} must be text, not {kind_of(value)}")

    return run


class _Entry(StoreInput):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, from_attributes=True)


class CriterionInput(_Entry):
    name: filled(MAX_TEXT, "criterion name")
    status: choice(CriterionStatus, "criterion status")
    evidence: Annotated[Prose, BeforeValidator(_plain("criterion evidence"))] = ""

    def model(self) -> Criterion:
        return Criterion(self.name, self.status, self.evidence)


class MetricInput(_Entry):
    name: filled(MAX_LINE, "metric name")
    value: Annotated[float, BeforeValidator(_finite("metric value"))]
    target: Annotated[float, BeforeValidator(_finite("metric target"))]
    comparator: choice(Comparator, "metric comparator") = Comparator.LE
    unit: Annotated[Name, BeforeValidator(_plain("metric unit"))] = ""

    def model(self) -> Metric:
        return Metric(self.name, self.value, self.target, self.comparator, self.unit)


class IssueInput(_Entry):
    severity: choice(Severity, "issue severity")
    description: filled(MAX_TEXT, "issue description")

    def model(self) -> ReportIssue:
        return ReportIssue(self.severity, self.description)


def _entries(what: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            if what == "recommendations":
                raise problem("recommendations must be a list of strings")
            raise problem(f"{what} must be a list of entries, not {kind_of(value)}")
        return list(value)

    return run


def _report_list(item: Any, what: str) -> Any:
    return Annotated[list[item], BeforeValidator(_entries(what)), AfterValidator(at_most())]


class ReportInput(StoreInput):
    """A milestone's validation report, as its submitter writes it."""

    summary: Prose = Field("", description="What was validated and how it went.")
    criteria: _report_list(CriterionInput, "criteria") = Field(
        [], description="Acceptance criteria with status and evidence.")
    metrics: _report_list(MetricInput, "metrics") = Field([], description="Quality metrics against their targets.")
    issues: _report_list(IssueInput, "issues") = Field([], description="Issues found, with severity.")
    recommendations: _report_list(filled(MAX_TEXT, "recommendation"), "recommendations") = []
    proposed_decision: choice(Decision, "proposed decision") | None = Field(
        None, description="What you recommend; a human decides.")
    next_milestone_context: Prose = Field(
        "", description="Next Milestone Context: refined context and instructions for the next phase.")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                raise problem(f"unknown report field(s): {', '.join(map(str, unknown))} "
                              f"(allowed: {', '.join(cls.model_fields)})")
        elif not isinstance(data, ReportInput):
            raise problem(f"a report must hold a JSON object, not {kind_of(data)}")
        return data

    @model_validator(mode="after")
    def _whole_size(self) -> ReportInput:
        whole = self.model_dump(mode="json", include={
            "summary", "criteria", "metrics", "issues", "recommendations", "next_milestone_context"})
        try:
            check_json("report", whole, max_bytes=MAX_REPORT_BYTES)
        except InvalidArgument as exc:
            raise problem(str(exc)) from None
        return self

    def parts(self) -> tuple[tuple[Criterion, ...], tuple[Metric, ...], tuple[ReportIssue, ...], tuple[str, ...],
                             Decision | None]:
        """The report as the store keeps it: criteria, metrics, issues, recommendations, proposed decision."""
        return (tuple(c.model() for c in self.criteria), tuple(m.model() for m in self.metrics),
                tuple(i.model() for i in self.issues), tuple(self.recommendations), self.proposed_decision)

"""What changed between two versions of a milestone's validation report. Pure.

After a REVISE the agents submit a new version; a reviewer reads what changed before reading it
all again: criteria (by name), metrics (by name), issues (by description), recommendations, the
summary and the proposed decision, each added, removed or changed."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .models import Criterion, Metric, ReportIssue, ValidationReport


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class ReportChange:
    """One part of the report that differs. ``before``/``after`` say how it read (agent text)."""

    part: str  # "criterion", "metric", "issue", "recommendation", "summary", "proposed decision"
    kind: ChangeKind
    name: str
    before: str | None = None
    after: str | None = None


def _criterion(c: Criterion) -> str:
    return f"{c.status.value}: {c.evidence}" if c.evidence else c.status.value


def _metric(m: Metric) -> str:
    unit = f" {m.unit}" if m.unit else ""
    return f"{m.value:g}{unit} (target {m.comparator.value} {m.target:g}{unit}, {'met' if m.met else 'missed'})"


def _issue(i: ReportIssue) -> str:
    return i.severity.value


def _keyed(part: str, old: dict[str, str], new: dict[str, str]) -> list[ReportChange]:
    out = [ReportChange(part, ChangeKind.REMOVED, k, before=v) for k, v in old.items() if k not in new]
    for key, after in new.items():
        if key not in old:
            out.append(ReportChange(part, ChangeKind.ADDED, key, after=after))
        elif old[key] != after:
            out.append(ReportChange(part, ChangeKind.CHANGED, key, before=old[key], after=after))
    return out


def report_changes(old: ValidationReport, new: ValidationReport) -> list[ReportChange]:
    """Every difference from ``old`` to ``new``, part by part, in the report's own order."""
    out: list[ReportChange] = []
    if old.summary != new.summary:
        out.append(ReportChange("summary", ChangeKind.CHANGED, "summary", old.summary, new.summary))
    out += _keyed("criterion", {c.name: _criterion(c) for c in old.criteria},
                  {c.name: _criterion(c) for c in new.criteria})
    out += _keyed("metric", {m.name: _metric(m) for m in old.metrics}, {m.name: _metric(m) for m in new.metrics})
    out += _keyed("issue", {i.description: _issue(i) for i in old.issues},
                  {i.description: _issue(i) for i in new.issues})
    out += _keyed("recommendation", {r: "" for r in old.recommendations}, {r: "" for r in new.recommendations})
    before = old.proposed_decision.value if old.proposed_decision else "none"
    after = new.proposed_decision.value if new.proposed_decision else "none"
    if before != after:
        out.append(ReportChange("proposed decision", ChangeKind.CHANGED, "proposed decision", before, after))
    return out

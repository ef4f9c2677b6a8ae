"""The gate panel: a milestone's validation report, what deciding it does, and its history."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from swarmdeck.store.models import (
    ConditionStatus,
    CriterionStatus,
    Decision,
    GateDecision,
    GateStatus,
    MilestoneStatus,
    Severity,
)

from .text import safe

CRITERION = {
    CriterionStatus.MET: ("✔ met", "bold green"),
    CriterionStatus.NOT_MET: ("✘ not met", "bold red"),
    CriterionStatus.UNKNOWN: ("? unknown", "yellow"),
}
SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "dim",
}
SEVERITY_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW]


def _heading(text: str) -> Text:
    return Text(f"\n{text}", style="bold underline")


#: How an act that does not verify is shown: it must not be missed.
LOUD = "bold white on red"


def _signed(line: Text, warning: str | None) -> None:
    """Append how a signed act checked out: a quiet mark, or the warning, loud, on a line of its own."""
    if warning is None:
        line.append("  ✔ signed", style="green")
    else:
        line.append("\n    ")
        line.append_text(safe(f" {warning} ", LOUD))  # it names a reviewer a forged row may have spelt oddly


NOT_REPORTED = ("— not reported", "bold magenta")


def _criteria_table() -> Table:
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
    table.add_column(width=15, no_wrap=True)
    table.add_column(ratio=2)
    table.add_column(ratio=3, style="dim")
    return table


def _criteria(gate: GateStatus) -> list[RenderableType]:
    """The milestone's acceptance criteria, each with what the report says of it ("not reported" when
    nothing does: store/criteria.py's rule) and the commands attached as evidence; then the report's
    entries that name none. A milestone without acceptance criteria shows the report's entries."""
    report = gate.report
    assert report is not None
    review = gate.criteria
    if not review.checks:
        met = sum(c.status is CriterionStatus.MET for c in report.criteria)
        parts: list[RenderableType] = [_heading(f"Criteria ({met}/{len(report.criteria)} met)")]
        table = _criteria_table()
        for c in report.criteria:
            label, style = CRITERION[c.status]
            table.add_row(Text(label, style=style), safe(c.name), safe(c.evidence))
        parts.append(table if report.criteria else Text("none", style="dim"))
        return parts
    parts = [_heading(f"Acceptance criteria ({review.met}/{len(review.checks)} met)")]
    for check in review.checks:
        table = _criteria_table()
        label, style = NOT_REPORTED if check.entry is None else CRITERION[check.entry.status]
        name = Text(f"{check.index}. ").append_text(safe(check.text))
        said = safe(check.entry.evidence) if check.entry is not None else Text("")
        if check.matched_by == "number":
            said = Text("as ").append_text(safe(repr(check.entry.name))).append(": ").append_text(said)
        table.add_row(Text(label, style=style), name, said)
        parts.append(table)
        for e in check.evidence:
            line = Text("      $ ", style="dim").append_text(safe(e.command, "bold"))
            line.append(f"  exit {e.exit_code}", style="green" if e.passed else "bold red")
            line.append(f"  sha256 {e.output_sha256[:16]}…  {e.ran_at.astimezone():%m-%d %H:%M}  by ",
                        style="dim")
            line.append_text(safe(e.recorded_by, "dim"))
            parts.append(line)
    if review.unmatched:
        parts.append(Text("Report entries naming no acceptance criterion:", style="dim"))
        table = _criteria_table()
        for c in review.unmatched:
            label, style = CRITERION[c.status]
            table.add_row(Text(label, style=style), safe(c.name), safe(c.evidence))
        parts.append(table)
    return parts


def _title(gate: GateStatus) -> Table:
    """The milestone's name, its gate and its approvals, each in a column of its own two cells apart: a
    long name wraps in its column, and the gate's part is never split from its word or run into the name.
    The gaps are padding, not spaces leading a styled run (an SVG export drops those: "Memory servicegate:")."""
    m = gate.milestone
    title = Table.grid(padding=(0, 2, 0, 0), pad_edge=False)
    title.add_column(overflow="fold")
    title.add_column(no_wrap=True)
    title.add_column(no_wrap=True)
    title.add_row(safe(m.name, "bold"), Text(f"gate: {m.status.value}", style="bold"),
                  Text(f"approvals {len(gate.approvals)}/{m.required_approvals}", style="dim"))
    return title


def render_gate(gate: GateStatus, standing: str = "") -> RenderableType:
    """Everything a reviewer reads before deciding. Agent text is always plain. ``standing``: what was
    decided on the gate or what approving it would do (the screen gets it from ``store.gates.standing``)."""
    m = gate.milestone
    parts: list[RenderableType] = []
    parts.append(_title(gate))
    # What the status column says is only what verified decisions back: say so when they disagree.
    if m.status is not MilestoneStatus.LOCKED and not gate.claims_open:
        parts.append(Text(" CLAIMS REFUSED: no verified approvals opened this milestone; its status was set "
                          "around swarmdeck? ", style=LOUD))
    if gate.unverified_pass:
        parts.append(Text(f" NOT PASSED: '{m.status.value}' without enough verified approvals; the next "
                          "milestone stays shut ", style=LOUD))
    if m.objective:
        parts.append(safe(m.objective, "italic"))
    if standing:
        parts.append(safe(standing, "bold"))  # it names milestones and reviewers: agent text

    report = gate.report
    if report is None:
        parts.append(Text("\nNo validation report submitted yet.", style="dim"))
    else:
        head = Text(f"\nValidation report v{report.version} by ", style="bold")
        head.append_text(safe(report.submitted_by, "bold"))
        head.append(f"  ·  {report.submitted_at.astimezone():%Y-%m-%d %H:%M}  ·  hash {report.content_hash[:12]}",
                    style="dim")
        parts.append(head)
        if report.summary:
            parts.append(safe(report.summary))

        parts += _criteria(gate)

        parts.append(_heading("Metrics vs targets"))
        metrics = Table(box=None, expand=True, padding=(0, 1), header_style="dim")
        metrics.add_column("metric", ratio=3)
        metrics.add_column("value", justify="right")
        metrics.add_column("target", justify="right")
        metrics.add_column("", width=8)
        for mt in report.metrics:
            met = mt.met
            metrics.add_row(
                safe(mt.name),
                Text(f"{mt.value:g}", style="" if met else "bold red").append_text(safe(f" {mt.unit}".rstrip())),
                Text(f"{mt.comparator.value} {mt.target:g}").append_text(safe(f" {mt.unit}".rstrip())),
                Text("✔ met", style="green") if met else Text("✘ MISS", style="bold white on red"),
            )
        parts.append(metrics if report.metrics else Text("none", style="dim"))

        parts.append(_heading(f"Issues ({len(report.issues)})"))
        for issue in sorted(report.issues, key=lambda i: SEVERITY_ORDER.index(i.severity)):
            line = Text(f" {issue.severity.value.upper():<8} ", style=SEVERITY_STYLE[issue.severity])
            line.append(" ")
            line.append_text(safe(issue.description))
            parts.append(line)
        if not report.issues:
            parts.append(Text("none", style="dim"))

        parts.append(_heading("Recommendations"))
        for rec in report.recommendations:
            parts.append(Text("• ").append_text(safe(rec)))
        if not report.recommendations:
            parts.append(Text("none", style="dim"))
        if report.proposed_decision:
            parts.append(Text(f"\nProposed decision: {report.proposed_decision.value}", style="bold"))
        if report.next_milestone_context:
            parts.append(_heading("Next milestone context"))
            parts.append(safe(report.next_milestone_context))

    parts.append(_heading("Decisions"))
    if not gate.decisions:
        parts.append(Text("none yet", style="dim"))
    # Newest first: the decisions, and the escalations a reviewer lifted, each with who and why.
    history = [(d.decided_at, 0, d) for d in gate.decisions] + [(r.resumed_at, 1, r) for r in gate.resumptions]
    for at, _, entry in sorted(history, key=lambda h: (h[0], h[1]), reverse=True):
        line = Text(f"{at.astimezone():%m-%d %H:%M}  ")
        if isinstance(entry, GateDecision):
            line.append(f"{entry.decision.value:<11}", style=DECISION_STYLE[entry.decision])
            line.append(" ")
            line.append_text(safe(entry.reviewer, "bold"))
            line.append_text(safe(f"  on v{entry.report_version} ({entry.report_hash[:8]})", "dim"))
            _signed(line, entry.warning)
            line.append("\n    ")
            line.append_text(safe(entry.rationale))
            for accepted in entry.accepted_unmet:
                line.append("\n    accepted unmet: ", style="bold yellow")
                line.append_text(safe(accepted))
        else:
            line.append(f"{'RESUMED':<11}", style="bold cyan")
            line.append(" ")
            line.append_text(safe(entry.resumed_by, "bold"))
            line.append("  lifted the escalation", style="dim")
            _signed(line, entry.warning)
            line.append("\n    ")
            line.append_text(safe(entry.reason))
        parts.append(line)
    if gate.conditions:
        parts.append(_heading("Conditions"))
        for c in gate.conditions:
            is_open = c.status is ConditionStatus.OPEN
            mark = Text("☐ open  ", style="bold yellow") if is_open else Text("☑ closed", style="green")
            line = Text(f"#{c.id:<4}").append_text(mark).append(" ")
            line.append_text(safe(c.text))
            if c.closed_by:
                line.append("  — closed by ", style="dim").append_text(safe(c.closed_by, "dim"))
                if c.closed_at:
                    line.append(f" {c.closed_at.astimezone():%m-%d %H:%M}", style="dim")
            if c.note:
                line.append(": " if c.closed_by else "  — ", style="dim").append_text(safe(c.note, "dim"))
            if c.closed_by:
                _signed(line, c.warning)
            parts.append(line)
    for part in parts:
        if isinstance(part, Text):
            part.end = "\n"  # one renderable per line
    return Group(*parts)


DECISION_STYLE = {
    Decision.APPROVE: "bold green",
    Decision.CONDITIONAL: "bold yellow",
    Decision.REVISE: "bold magenta",
    Decision.ESCALATE: "bold white on red",
}


class ReportPanel(Static):
    """Shows one gate. Data in: `show(gate, standing)`; another gate is read from its top."""

    _shown: int | None = None

    def show(self, gate: GateStatus | None, standing: str = "") -> None:
        self.update(render_gate(gate, standing) if gate else Text("Select a milestone.", style="dim"))
        milestone = gate.milestone.id if gate else None
        if milestone != self._shown:
            self._shown = milestone
            self.to_top()

    def to_top(self) -> None:
        """Scroll whatever holds the panel back to the report's first line."""
        self.scroll_visible(top=True, animate=False, immediate=False)

"""`swarmdeck milestone ...` and `swarmdeck gate ...`: milestones, reports, decisions."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone

import click

from swarmdeck.store import (
    Decision,
    GateDecision,
    GateStatus,
    Milestone,
    MilestoneStatus,
    PlanState,
    ValidationReport,
    identity,
    plans,
    rules,
    signing,
)
from swarmdeck.store import gates as store_gates
from swarmdeck.store.criteria import CriteriaReview, CriterionCheck
from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.models import Condition, CriterionEvidence
from swarmdeck.store.limits import MAX_REPORT_BYTES

from ..output import jsonable, plain, when
from . import seat
from ._base import Config, Exit, Store, leaf, parse_json_arg, table
from ._parse import DURATION, ID, SECONDS

EXIT_TIMEOUT = 124

#: Exit codes of `swarmdeck gate wait`, one per decision.
WAIT_EXIT_CODES = {
    Decision.APPROVE: 0,
    Decision.CONDITIONAL: 10,
    Decision.REVISE: 11,
    Decision.ESCALATE: 12,
}


@click.group("milestone")
def milestone_group() -> None:
    """Add and list milestones.

    A MILESTONE is its id, its name, its label (the name's first word, e.g. M3) or the start of its
    name."""


@click.group("gate")
def gate_group() -> None:
    """Submit validation reports, decide gates, wait for decisions.

    A MILESTONE is its id, its name, its label (the name's first word, e.g. M3) or the start of its
    name."""


def render_milestone(m: Milestone, view: plans.PlanView | None = None) -> str:
    budget = "-" if m.hour_budget is None else f"{m.hour_budget:g}"
    state = f"  {plans.plan_words(m)}" if not m.in_plan else ""
    lines = [
        f"milestone {m.id} {plain(m.name)}  [{m.status}]{state}  weeks {plain(m.planned_weeks or '-')}  "
        f"hours {m.hours_spent:.1f}/{budget}",
        f"  objective: {plain(m.objective or '-')}",
    ]
    if view is not None:
        lines += [f"  {label}: {plain(value)}" for label, value in view.lines()]
    if not m.in_plan:
        lines.append("  held: its waiting tasks are not handed out and nothing that depends on it opens, "
                     "until it is reinstated")
    lines += [f"  deliverable: {plain(d)}" for d in m.deliverables]
    lines += [f"  criterion {i}: {plain(c)}" for i, c in enumerate(m.acceptance_criteria, 1)]
    return "\n".join(lines)


class Milestones(list):
    """The milestones (as JSON, the list as it always was), and whether the last gate ended the project."""

    def __init__(self, milestones: list[Milestone], project_complete: bool) -> None:
        super().__init__(milestones)
        self.project_complete = project_complete


def render_milestones(ms: list[Milestone]) -> str:
    if not ms:
        return "no milestones"
    rows = table(
        [[m.id, m.name, plans.plan_words(m) or m.status, m.planned_weeks or "-",
          f"{m.hours_spent:.1f}/{m.hour_budget or '-'}"] for m in ms],
        ["id", "name", "status", "weeks", "hours"],
    )
    if getattr(ms, "project_complete", False):
        rows += f"\n{store_gates.PROJECT_COMPLETE}: every milestone's gate has passed"
    return rows


class Shown(dict):
    """`milestone show`'s answer: the milestone's fields and its plan (the JSON), and its text."""

    def __init__(self, m: Milestone, view: plans.PlanView) -> None:
        super().__init__({**jsonable(m), "plan": jsonable(view)})
        self.text = render_milestone(m, view)


@leaf(milestone_group, "add", render_milestone)
@click.argument("name")
@click.option("--objective", default="")
@click.option("--weeks", "planned_weeks", help="Planned weeks, e.g. 1-2.")
@click.option("--budget", "hour_budget", type=click.FloatRange(0), help="Hour budget.")
@click.option("--deliverable", "deliverables", multiple=True)
@click.option("--criterion", "acceptance_criteria", multiple=True, help="Acceptance criterion (repeatable).")
@click.option("--approvals", "required_approvals", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--review-within", "review_within_seconds", type=DURATION,
              help="How long a submitted report may wait for a decision before the gate is overdue "
                   "(e.g. 24h; `swarmdeck attention` and `watch` escalate it then).")
@click.option("--after", "after", multiple=True,
              help="A milestone this one depends on (repeatable: it opens once all their gates passed). "
                   "Default: the one before it.")
@click.option("--starts", "starts_on",
              help="Planned start date, e.g. 2026-12-01 (with --weeks: the schedule).")
@click.option("--money", "money_budget", type=click.FloatRange(0), help="Money budget, e.g. 76336.")
@click.option("--rate", "hour_rate", type=click.FloatRange(0),
              help="What an hour costs: cost spent = hours x rate.")
async def add(store: Store, cfg: Config, name: str, deliverables, acceptance_criteria, after,
              **fields) -> Milestone:
    """Append a milestone (open if every gate it depends on has passed, else locked)."""
    return await store.add_milestone(name, deliverables=list(deliverables),
                                     acceptance_criteria=list(acceptance_criteria), actor=cfg.who(),
                                     after=list(after) if after else None, **fields)


@leaf(milestone_group, "list", render_milestones)
async def list_(store: Store, cfg: Config) -> list[Milestone]:
    """Every milestone in order with its gate state (and PROJECT COMPLETE once every gate passed)."""
    from swarmdeck.store import rules

    return Milestones(await store.list_milestones(), await rules.project_complete(store))


@leaf(milestone_group, "show", lambda shown: shown.text)
@click.argument("milestone")
async def show(store: Store, cfg: Config, milestone: str) -> Shown:
    """One milestone by id, name, label (M3) or the start of its name, with its plan: what it waits
    for, its schedule against its progress, and its money."""
    m = await store.get_milestone(milestone)
    everything = await store.list_milestones()
    progress = await store.milestone_progress()
    return Shown(m, plans.view(m, everything, progress.get(m.id), datetime.now(timezone.utc).date(),
                               await plans.why_out_of_plan(store, m)))


_REPLAN = {
    "cut": (PlanState.CUT, "Cut", "its waiting tasks are held and nothing that depends on it opens"),
    "defer": (PlanState.DEFERRED, "Defer", "its waiting tasks are held and nothing that depends on it opens"),
    "reinstate": (PlanState.ACTIVE, "Reinstate", "it is back under its gates; its tasks are released "
                                                "when nothing else holds them"),
}


def _replan_command(verb: str) -> None:
    state, title, effect = _REPLAN[verb]

    async def replan(store: Store, cfg: Config, milestone: str, by, reason) -> Milestone:
        by = seat.acting_reviewer(cfg, by)
        m = await store.replan_milestone(milestone, state=state, by=by, reason=reason or "-", dry_run=True)
        progress = (await store.milestone_progress()).get(m.id, {})
        waiting = sum(n for s, n in progress.items() if s in ("pending", "ready", "blocked"))
        seat.show([f"{title} milestone {m.id} {plain(m.name)} as {plain(identity.key(by) or by)}:",
                   f"  {effect}", f"  tasks      {waiting} waiting, {progress.get('running', 0)} running "
                   "(running ones run on)"])
        if reason is None:
            reason = seat.ask("Why")
        seat.confirm(f"{title} {plain(m.name)}?")
        return await store.replan_milestone(milestone, state=state, by=by, reason=reason)

    replan.__doc__ = (f"{title} a milestone with its tasks: {effect}. A person's act (a registered "
                      "reviewer), at a terminal only; recorded with who and why.")
    options = [click.argument("milestone"),
               click.option("--by",
                            help="A registered reviewer. Default: $SWARMDECK_REVIEWER, --actor, OS user."),
               click.option("--reason", help="Why (asked for if not given).")]
    for option in reversed(options):
        replan = option(replan)
    leaf(milestone_group, verb, render_milestone, human=True, settings=True)(replan)


for _verb in _REPLAN:
    _replan_command(_verb)


def render_report(r: ValidationReport, review: CriteriaReview | None = None) -> str:
    """A report; with ``review`` (its milestone's acceptance criteria against it), each criterion with
    what the report says of it, "not reported" included, then the entries that name none."""
    lines = [f"report v{r.version} by {plain(r.submitted_by)} at {when(r.submitted_at)}  hash {r.content_hash[:12]}"]
    if r.summary:
        lines.append(f"  {plain(r.summary)}")
    if review is not None and review.checks:
        lines.append(f"  acceptance criteria: {review.met}/{len(review.checks)} met")
        lines += [render_check(c) for c in review.checks]
        lines += [f"  not an acceptance criterion: [{c.status}] {plain(c.name)}: {plain(c.evidence)}"
                  for c in review.unmatched]
    else:
        lines += [f"  [{c.status}] {plain(c.name)}: {plain(c.evidence)}" for c in r.criteria]
    lines += [
        f"  metric {plain(m.name)}: {m.value:g}{plain(m.unit)} (target {m.comparator} {m.target:g}) "
        f"{'met' if m.met else 'MISSED'}"
        for m in r.metrics
    ]
    lines += [f"  issue [{i.severity}] {plain(i.description)}" for i in r.issues]
    lines += [f"  recommend: {plain(x)}" for x in r.recommendations]
    if r.proposed_decision:
        lines.append(f"  proposed decision: {r.proposed_decision}")
    if r.next_milestone_context:
        lines.append(f"  next milestone context: {plain(r.next_milestone_context)}")
    return "\n".join(lines)


def render_check(c: CriterionCheck) -> str:
    """One acceptance criterion: its status as the report gives it (NOT REPORTED when it does not), the
    entry's evidence, and each command attached as evidence (exit code and digest: agents' claims)."""
    status = "NOT REPORTED" if c.entry is None else c.status
    line = f"  criterion {c.index} [{status}] {plain(c.text)}"
    if c.entry is not None:
        named = f" (reported as {plain(c.entry.name)!r})" if c.matched_by == "number" else ""
        line += f"{named}: {plain(c.entry.evidence) or '-'}"
    return "\n".join([line, *(render_evidence(e) for e in c.evidence)])


def render_evidence(e: CriterionEvidence) -> str:
    return (f"    ran `{plain(e.command)}`: exit {e.exit_code}, output sha256 {e.output_sha256}, "
            f"at {when(e.ran_at)} by {plain(e.recorded_by)}")


@leaf(gate_group, "submit", render_report)
@click.argument("milestone")
@click.option("--by", "submitted_by", help="Submitter (default: --actor, else the OS user).")
@click.option("--file", "report_file", help="The report as JSON: a path, '@path' or '-' for stdin.")
@click.option("--summary", help="Summary (overrides the file's).")
@click.option("--propose", "proposed_decision", type=click.Choice([d.value for d in Decision]))
async def submit(store: Store, cfg: Config, milestone: str, submitted_by, report_file, summary,
                 proposed_decision) -> ValidationReport:
    """Submit a validation report for a milestone; its gate goes to review.

    The JSON has: summary, criteria [{name, status: met|not_met|unknown, evidence}], metrics
    [{name, value, target, comparator: < <= > >= ==, unit}], issues [{severity:
    critical|high|medium|low, description}], recommendations [text], proposed_decision,
    next_milestone_context (seed 001's "Next Milestone Context": context for the next phase's agents).

    Each criterion is matched to the milestone's acceptance criteria by its text (case, spacing and
    punctuation aside), else by a leading number ("Criterion 2: ...", "#2", "2."); any acceptance
    criterion no entry names shows as NOT REPORTED, and approving it then needs --accept-unmet.
    """
    if report_file and not report_file.startswith("@") and report_file != "-":
        report_file = "@" + report_file
    from swarmdeck.store.inputs import ReportInput

    body = parse_json_arg(report_file, "--file", max_bytes=MAX_REPORT_BYTES) or {}
    overrides = {k: v for k, v in (("summary", summary), ("proposed_decision", proposed_decision)) if v is not None}
    report = ReportInput.parse({**body, **overrides} if isinstance(body, dict) else body)
    return await store.submit_report(milestone, submitted_by=submitted_by or cfg.who(), **dict(report))


def loud(text: str) -> str:
    """A warning a person must not miss. In words, not colour: the CLI's human output passes whole
    through `plain` (output._base.emit), which shows every escape sequence, ours too, as text."""
    return text


def trust(warning: str | None, signer: str | None) -> str:
    """How a signed act checked out: ``[verified: signed by alice's key]``, or the loud warning. It
    comes before any text an agent may have written, so that text cannot pose as it."""
    return loud(f"[{plain(warning)}]") if warning else f"[verified: signed by {plain(signer)}'s key]"


def render_decision(d: GateDecision) -> str:
    line = (f"{d.decision} by {plain(d.reviewer)} at {when(d.decided_at)} on report v{d.report_version} "
            f"({plain(d.report_hash)[:12]}) {trust(d.warning, d.reviewer)}: {plain(d.rationale)}")
    return line + "".join(f"\n    accepted unmet: {plain(a)}" for a in d.accepted_unmet)


@leaf(gate_group, "decide", render_decision, human=True, settings=True)
@click.argument("milestone")
@click.option("--decision", required=True, type=click.Choice([d.value for d in Decision], case_sensitive=False))
@click.option("--rationale", required=True, help="Why (required).")
@click.option("--reviewer",
              help="A registered reviewer. Default: $SWARMDECK_REVIEWER, --actor, OS user.")
@click.option("--condition", "conditions", multiple=True, help="A condition, for CONDITIONAL (repeatable).")
@click.option("--report-hash", help="The report version you read: refused if the report changed since.")
@click.option("--accept-unmet", is_flag=True,
              help="Approve although acceptance criteria are not reported, not met or unknown: they are "
                   "listed for your confirmation and recorded, signed, with the decision.")
async def decide(store: Store, cfg: Config, milestone: str, decision: str, rationale: str, reviewer,
                 conditions, report_hash, accept_unmet: bool) -> GateDecision:
    """Decide a gate: APPROVE, CONDITIONAL, REVISE or ESCALATE, with a rationale.

    A person's act: at an interactive terminal only. It shows the report version being decided
    (its hash and summary) and asks for a confirmation; the decision records exactly that version.
    """
    reviewer = seat.acting_reviewer(cfg, reviewer)
    gate = await store.gate_status(milestone)
    # The version shown is the version decided: a report that changes before the confirmation is refused.
    expected = report_hash or (gate.report.content_hash if gate.report else None)
    approving = Decision(decision.upper()) in (Decision.APPROVE, Decision.CONDITIONAL)
    unsettled = gate.criteria.unsettled if approving else ()
    accepted = [c.text for c in unsettled]
    args = dict(decision=decision, rationale=rationale, reviewer=reviewer, conditions=list(conditions),
                report_hash=expected, accept_unmet=accepted)
    await store.decide_gate(gate.milestone.id, dry_run=True, **args)  # every refusal before the question
    if unsettled and not accept_unmet:  # the store's own refusal, in the words of this command's option
        raise InvalidArgument(f"approving leaves {store_gates.criteria_count(len(unsettled))} not met: "
                              f"{store_gates.unsettled_words(unsettled)}; add --accept-unmet to accept them, "
                              "or decide REVISE", field="accept_unmet")
    report = gate.report
    assert report is not None  # the dry run refused a gate without one
    person = await store.get_reviewer(reviewer)
    m = gate.milestone
    # What it will do: the store's rule (gates.preview), as the dashboard's decision modal shows it.
    effect = store_gates.preview(gate, Decision(decision.upper()), reviewer=reviewer, rationale=rationale,
                                 conditions=list(conditions), accept_unmet=accepted)
    seat.show([
        f"Deciding the gate of milestone {m.id} {plain(m.name)} as {plain(identity.key(reviewer) or reviewer)}:",
        f"  report     v{report.version} by {plain(report.submitted_by)} at {when(report.submitted_at)}",
        f"  hash       {report.content_hash}",
        f"  summary    {plain(report.summary) or '-'}",
        f"  decision   {decision.upper()}",
        f"  rationale  {plain(rationale.strip())}",
        *[f"  condition  {plain(c)}" for c in conditions if c.strip()],
        *[f"  ACCEPTS    criterion {c.index} {plain(c.text)!r} ({c.words})" for c in unsettled],
        f"  approvals  {len(gate.approvals)}/{m.required_approvals} so far",
        f"  effect     {plain(effect.sentence)}",
        signs(person),
    ])
    seat.confirm(f"Record {decision.upper()} on report v{report.version} ({report.content_hash[:12]})?")
    signer = seat.unlock(person, cfg.settings.key_folder)
    signature = signer.sign(signing.decision_message(milestone_id=m.id, report_hash=expected, **{
        k: args[k] for k in ("decision", "rationale", "conditions", "reviewer", "accept_unmet")}))
    return await store.decide_gate(gate.milestone.id, signature=signature, **args)


def render_added_evidence(e: CriterionEvidence) -> str:
    return f"evidence {e.id} for criterion {e.criterion}:\n{render_evidence(e)}"


@leaf(gate_group, "evidence", render_added_evidence)
@click.argument("milestone")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--criterion", type=click.IntRange(1), required=True,
              help="The acceptance criterion's number (from 1; `milestone show` lists them).")
@click.option("--by", "recorded_by", help="The agent attaching it (default: --actor, else the OS user).")
@click.option("--exit-code", type=int, help="Record a command already run: its exit code.")
@click.option("--digest", "output_sha256", help="... the SHA-256 (hex) of its output.")
@click.option("--ran-at", help="... when it ran (ISO 8601 with a timezone; default now).")
@click.option("--command", "given_command", help="... the command as it was run.")
async def evidence(store: Store, cfg: Config, milestone: str, command: tuple[str, ...], criterion: int,
                   recorded_by, exit_code, output_sha256, ran_at, given_command) -> CriterionEvidence:
    """Attach a command's result as evidence for one acceptance criterion: run it
    (`swarmdeck gate evidence M1 --criterion 3 -- pytest -q`), recording its exit code, the SHA-256 of
    its output (stdout then stderr) and when it ran; or record one already run with --command,
    --exit-code and --digest. The output is not kept, only its digest; the command's exit code is not
    this command's (it exits 0 once the evidence is recorded)."""
    options = (("--command", given_command), ("--exit-code", exit_code), ("--digest", output_sha256))
    given = [o for o, v in options if v is not None]
    if command and given:
        raise click.UsageError(
            f"give a command to run after --, or {', '.join(given)} of one already run, not both")
    if not command:
        missing = [o for o, _ in options if o not in given]
        if missing:
            raise click.UsageError(
                "give the command to run after -- (e.g. -- pytest -q), or record one already run with "
                f"--command, --exit-code and --digest (missing: {', '.join(missing)})")
    who = recorded_by or cfg.who()
    await store.get_milestone(milestone)  # a wrong reference is refused before anything runs
    if command:
        ran_at, given_command, exit_code, output_sha256 = await run_evidence(command)
    return await store.add_evidence(milestone, criterion=criterion, command=given_command,
                                    exit_code=exit_code, output_sha256=output_sha256, ran_at=ran_at,
                                    recorded_by=who)


async def run_evidence(command: tuple[str, ...]) -> tuple[float, str, int, str]:
    """Run ``command`` (no shell), capturing its output: when it started, the command as one line,
    its exit code and the SHA-256 of stdout then stderr."""
    import hashlib
    import shlex

    started = time.time()
    try:
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL, stdout=pipe,
                                                    stderr=pipe)
    except OSError as exc:
        raise click.UsageError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from None
    out, err = await proc.communicate()
    return started, shlex.join(command), proc.returncode, hashlib.sha256(out + err).hexdigest()


def signs(person) -> str:
    key = signing.fingerprint(person.public_key) if person.public_key else "none"
    return f"  signed by  {plain(person.name)}'s key {key}, unlocked with their passphrase"


def render_gate(g: GateStatus) -> str:
    m = g.milestone
    lines = [f"gate of {plain(m.name)}  [{m.status}]  approvals {len(g.approvals)}/{m.required_approvals}"]
    if m.status is not MilestoneStatus.LOCKED and not g.claims_open:
        lines.append("  " + loud("CLAIMS REFUSED: no verified approvals opened this milestone; its status was "
                                 "set around swarmdeck?"))
    if m.status.passed and not g.verified_passed:
        lines.append("  " + loud(f"NOT PASSED: '{plain(m.status)}' without enough verified approvals; "
                                 "the next milestone stays shut"))
    lines.append(f"  {plain(store_gates.standing(g))}")  # what was decided, or what approving opens
    if g.report:
        lines.append(render_report(g.report, g.criteria))
    else:
        lines.append("  no report submitted yet")
    lines += ["  decided: " + render_decision(d) for d in g.decisions]
    lines += [f"  resumed by {plain(r.resumed_by)} at {when(r.resumed_at)} {trust(r.warning, r.resumed_by)}: "
              f"{plain(r.reason)}" for r in g.resumptions]
    for c in g.conditions:
        line = f"  condition {c.id} [{c.status}] {plain(c.text)}"
        if c.closed_by:
            line += (f" (closed by {plain(c.closed_by)} at {when(c.closed_at)} {trust(c.warning, c.closed_by)}: "
                     f"{plain(c.note or '-')})")
        lines.append(line)
    return "\n".join(lines)


@leaf(gate_group, "status", render_gate)
@click.argument("milestone")
async def status(store: Store, cfg: Config, milestone: str) -> GateStatus:
    """The gate's current report, decisions, conditions and what approving unblocks."""
    return await store.gate_status(milestone)


def waiting_words(gate: GateStatus, waits: rules.GateWait) -> str:
    """What `gate wait` says it waits for."""
    name = f"milestone '{gate.milestone.name}'"
    if waits is rules.GateWait.LOCKED:
        return f"{name} is locked until the gates before it pass"
    if waits is rules.GateWait.NO_REPORT:
        return f"{name} has no report yet"
    return f"{name}: report v{gate.report.version} awaits a decision"


def say_waiting(cfg: Config, gate: GateStatus, waits: rules.GateWait) -> None:
    """One line on stderr saying what `gate wait` waits for (a JSON object with --json)."""
    words = waiting_words(gate, waits)
    if cfg.json:
        click.echo(json.dumps({"waiting": {"code": waits.value, "milestone_id": gate.milestone.id,
                                           "message": words}}, ensure_ascii=False), err=True)
    else:
        click.echo(f"swarmdeck: waiting: {plain(words)}", err=True)


@leaf(gate_group, "wait", lambda d: render_decision(d) if d else "timed out waiting for a decision")
@click.argument("milestone")
@click.option("--timeout", type=SECONDS, help="Give up after this long (exit 124).")
@click.option("--interval", type=click.FloatRange(0.05), default=1.0, show_default=True, help="Seconds between checks.")
async def wait(store: Store, cfg: Config, milestone: str, timeout, interval) -> Exit:
    """Block until the milestone's current report is decided; exit 0 APPROVE, 10 CONDITIONAL, 11 REVISE,
    12 ESCALATE, 124 on --timeout.

    A milestone still locked, or with no report yet, is waited on too: the wait goes on through its
    opening and the report's submission, and says on stderr what it waits for as that changes."""
    deadline = None if timeout is None else time.monotonic() + timeout
    ms_id = (await store.get_milestone(milestone)).id  # once: a milestone added later cannot change which
    seen, said, spoke = -1, None, False
    while True:
        event_id = await store.latest_event_id()
        if event_id != seen:  # only look again when something changed
            seen = event_id
            gate = await store.gate_status(ms_id)
            waits = rules.gate_waits_for(gate)
            if waits is None:
                decided = rules.latest_decision(gate)
                return Exit(WAIT_EXIT_CODES[decided.decision], decided)
            # Waiting for a decision is what `gate wait` is for: said only after it waited for more.
            saying = (waits, gate.report and gate.report.version)
            if saying != said and (spoke or waits is not rules.GateWait.DECISION):
                say_waiting(cfg, gate, waits)
                spoke = True
            said = saying
        if deadline is not None and time.monotonic() >= deadline:
            return Exit(EXIT_TIMEOUT, None)
        await asyncio.sleep(interval)


@leaf(gate_group, "resume", lambda s: "swarm resumed: claims are accepted again", human=True, settings=True)
@click.option("--by",
              help="A registered reviewer. Default: $SWARMDECK_REVIEWER, --actor, OS user.")
@click.option("--reason", "--note", "reason", help="Why the swarm may go on (asked for if not given).")
async def resume(store: Store, cfg: Config, by, reason):
    """Lift an escalation: the swarm accepts claims again. A person's act, at a terminal only;
    recorded in each escalated gate's history with who and why."""
    by = seat.acting_reviewer(cfg, by)
    state = await store.resume_swarm(by=by, note=reason, dry_run=True)
    person = await store.get_reviewer(by)
    escalated = [m for m in await store.list_milestones() if m.status is MilestoneStatus.ESCALATED]
    seat.show([
        f"Resuming the swarm as {plain(identity.key(by) or by)}:",
        f"  paused     {plain(state.reason or '-')} (by {plain(state.paused_by or '-')} at {when(state.paused_at)})",
        *[f"  gate       {plain(m.name)} goes back to review" for m in escalated],
        signs(person),
    ])
    if reason is None:
        reason = seat.ask("Why may the swarm go on")
    seat.confirm("Resume the swarm (claims are accepted again)?")
    signer = seat.unlock(person, cfg.settings.key_folder)
    signature = signer.sign(signing.resume_message(escalation_id=state.escalation_id, note=reason, reviewer=by))
    return await store.resume_swarm(by=by, note=reason, signature=signature)


def render_condition(c: Condition) -> str:
    return f"condition {c.id} closed"


@leaf(gate_group, "close-condition", render_condition, human=True, settings=True)
@click.argument("condition_id", type=ID)
@click.option("--by",
              help="A registered reviewer. Default: $SWARMDECK_REVIEWER, --actor, OS user.")
@click.option("--note", help="How the condition was met (asked for if not given).")
async def close_condition(store: Store, cfg: Config, condition_id: int, by, note):
    """Close one condition of a CONDITIONAL decision (ids: `gate status`). A person's act, at a
    terminal only: records who closed it, when and a note."""
    by = seat.acting_reviewer(cfg, by)
    condition = await store.close_condition(condition_id, closed_by=by, note=note, dry_run=True)
    person = await store.get_reviewer(by)
    milestone = await store.get_milestone(condition.milestone_id)
    seat.show([
        f"Closing a condition of milestone {milestone.id} {plain(milestone.name)} as {plain(identity.key(by) or by)}:",
        f"  condition  {condition.id}: {plain(condition.text)}",
        signs(person),
    ])
    if note is None:
        note = seat.ask("How was it met")
    seat.confirm(f"Close condition {condition.id}?")
    signer = seat.unlock(person, cfg.settings.key_folder)
    signature = signer.sign(signing.close_message(condition_id=condition_id, note=note, reviewer=by))
    return await store.close_condition(condition_id, closed_by=by, note=note, signature=signature)

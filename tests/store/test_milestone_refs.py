"""A milestone named as a person names it: by id, exact name, the label every screen shows (``M3``) or
the start of its name, in that order; a reference that could be several is refused, naming them, and
one that names nothing says which milestones there are. The same rule for every store call that takes
a milestone, whoever calls it (CLI, MCP, Python)."""

from __future__ import annotations

import pytest

from swarmdeck.app.cli._base import message as cli_message
from swarmdeck.store import Decision, MilestoneStatus, TaskStatus, milestone_refs
from swarmdeck.store.errors import InvalidArgument, NotFound
from swarmdeck.store.milestone_refs import label, resolve

from store_support import people, submit
from signing_support import decide

STORE_BACKENDS = ("sqlite", "postgres")

DEMO = [(1, "M1 Core Schema Foundation"), (2, "M2 Task Queue"), (3, "M3 Vector Search"),
        (4, "M4 Production Hardening")]


# -- the rule, without a database ------------------------------------------------------------------------


@pytest.mark.parametrize("ref, expected", [
    (3, 3), ("3", 3),                                  # an id
    ("M2 Task Queue", 2),                              # the exact name
    ("m2 task queue", 2), ("  M2 TASK QUEUE ", 2),     # the name, any case
    ("M3", 3), ("m3", 3), (" m4 ", 4),                 # the label
    ("M1 Core", 1), ("m4 prod", 4), ("M3 V", 3),       # the start of the name
])
def test_a_reference_resolves_by_id_name_label_or_prefix(ref, expected):
    assert resolve(ref, DEMO) == expected


def test_the_label_is_the_first_word():
    assert [label(n) for _, n in DEMO] == ["M1", "M2", "M3", "M4"]
    assert (label("Solo"), label("  padded name"), label("")) == ("Solo", "padded", "")


def test_an_exact_rule_wins_over_a_looser_one():
    ms = [(1, "M1 Core"), (2, "M10 Extras"), (3, "m1"), (4, "Beta"), (5, "Beta testing"), (6, "7 wonders")]
    assert resolve("M1", ms) == 3      # the name "m1", ignoring case, before the label "M1" of 1
    assert resolve("m1", ms) == 3      # the exact name
    assert resolve("M10", ms) == 2     # the label of "M10 Extras"
    assert resolve("beta", ms) == 4    # the name, though it is the start of "Beta testing" too
    assert resolve("Beta t", ms) == 5
    assert resolve("6", ms) == 6       # an id before the label "7" or any name
    assert resolve("7", ms) == 6       # no milestone 7: the label


def test_an_ambiguous_reference_is_refused_naming_the_candidates():
    ms = [(1, "M1 Core"), (2, "M1 Hotfix"), (3, "Memory"), (4, "Metrics")]
    with pytest.raises(InvalidArgument) as label_clash:
        resolve("m1", ms)
    assert str(label_clash.value) == ("milestone 'm1' is ambiguous: 2 milestones match by its label "
                                      "('M1 Core', 'M1 Hotfix'); give more of the name, or the id")
    assert label_clash.value.fields["candidates"] == ["M1 Core", "M1 Hotfix"]
    with pytest.raises(InvalidArgument, match=r"by the start of its name \('Memory', 'Metrics'\)"):
        resolve("me", ms)
    # Ambiguity at the label is not settled by the looser prefix rule, nor by picking one.
    with pytest.raises(InvalidArgument, match="ambiguous"):
        resolve("M1", [(1, "M1 Core"), (2, "M1 Hotfix"), (3, "M1x")])


def test_an_unknown_reference_lists_the_labels_when_they_are_few():
    with pytest.raises(NotFound) as few:
        resolve("M9", DEMO)
    assert str(few.value) == "milestone 'M9' does not exist (the milestones are M1, M2, M3, M4)"
    assert (few.value.entity, few.value.key) == ("milestone", "M9")
    with pytest.raises(NotFound, match=r"^milestone 7 does not exist \(the milestones are M1, M2, M3, M4\)$"):
        resolve(7, DEMO)
    with pytest.raises(NotFound, match=r"\(there are no milestones yet\)$"):
        resolve("M1", [])
    many = [(i, f"M{i} step") for i in range(1, milestone_refs.LIST_KNOWN + 2)]
    with pytest.raises(NotFound, match=rf"\({len(many)} milestones exist\)$"):
        resolve("M99", many)
    for nothing in ("", "   ", "-1", "٣"):  # no empty prefix of everything; only ASCII digits are an id
        with pytest.raises(NotFound):
            resolve(nothing, DEMO)


def test_hostile_names_match_only_as_text():
    ms = [(1, "[bold]x"), (2, "\x1b[31mM5 red"), (3, "M\u200b6 hidden"), (4, "100% done"), (5, "a_b c")]
    assert resolve("[bold]x", ms) == 1
    assert resolve("[BOLD]", ms) == 1                  # the start of the name: text, not markup
    assert resolve("\x1b[31mM5", ms) == 2              # its label is what it says, escape and all
    for looks_like in ("M5", "M6", "x", "bold", "%", "a%", "a.b", "a?b", ".*"):
        with pytest.raises(NotFound):                  # nothing matches by look, pattern or wildcard
            resolve(looks_like, ms)
    with pytest.raises(InvalidArgument) as clash:
        resolve("[red]a", [(1, "[red]A x"), (2, "[red]A y")])
    assert clash.value.fields["candidates"] == ["[red]A x", "[red]A y"]


# -- every store call that takes a milestone --------------------------------------------------------------


@pytest.fixture
async def demo(agents):
    store = agents
    await people(store)
    for _, name in DEMO:
        await store.add_milestone(name)
    return store


async def test_every_store_call_takes_a_label_or_a_prefix(demo):
    store = demo
    assert (await store.get_milestone("m3")).name == "M3 Vector Search"
    assert (await store.get_milestone("M3 Vec")).id == (await store.get_milestone(3)).id == 3
    task = await store.enqueue_task(description="tables", milestone="M2")
    assert (task.milestone_id, task.status) == (2, TaskStatus.BLOCKED)
    report = await submit(store, "m1")
    assert report.milestone_id == 1
    assert (await store.get_report("M1 core")).id == report.id
    assert (await store.gate_status("M1")).report.id == report.id
    await store.check_reviewer("alice", milestone="M1", act="decide")
    await decide(store, "m1", decision="APPROVE", rationale="ok", reviewer="alice")
    assert (await store.latest_decision("M1")).decision is Decision.APPROVE
    assert (await store.get_milestone("M1")).status is MilestoneStatus.APPROVED
    m2 = (await store.get_milestone("M2")).id
    assert (await store.list_tasks(milestone_id=m2))[0].status is TaskStatus.READY


async def test_store_calls_refuse_an_ambiguous_or_unknown_reference_and_change_nothing(demo):
    store = demo
    await store.add_milestone("M1 Hotfix")
    with pytest.raises(InvalidArgument, match="'M1 Core Schema Foundation', 'M1 Hotfix'"):
        await submit(store, "M1")
    with pytest.raises(InvalidArgument, match="ambiguous"):
        await store.enqueue_task(description="x", milestone="m1")
    with pytest.raises(InvalidArgument, match="ambiguous"):
        await store.gate_status("M1")
    assert await store.list_tasks() == [] and (await store.get_report("M1 Core")) is None
    assert (await store.get_milestone("M1 Core Schema Foundation")).id == 1  # the exact name still works
    with pytest.raises(NotFound) as unknown:
        await decide(store, "M7", decision="APPROVE", rationale="ok", reviewer="alice")
    # The CLI says it in one line, with the labels (a shared label once).
    assert cli_message(unknown.value) == "milestone 'M7' does not exist (the milestones are M1, M2, M3, M4)"


async def test_a_hostile_milestone_name_is_found_only_by_the_rules(demo):
    store = demo
    await store.add_milestone("[bold]M2[/bold] \x1b[2J")
    await store.add_milestone("M\u200b3 lookalike")
    assert (await store.get_milestone("M2")).id == 2           # the label of "M2 Task Queue" alone
    assert (await store.get_milestone("M3")).id == 3
    assert (await store.get_milestone("[bold]M2[/bold] \x1b[2J")).id == 5
    assert (await store.get_milestone("[BOLD]m2")).id == 5
    with pytest.raises(NotFound) as unknown:
        await store.get_milestone("[link=x]M9")
    assert "[link=x]M9" in str(unknown.value) and "[bold]M2[/bold]" in str(unknown.value)


@pytest.mark.parametrize("lookalike", ["m1 core", "M1  Core", "M1\u200b Core", " M1 Core "])
async def test_a_milestone_name_that_only_looks_different_is_refused(store, lookalike):
    """Another case, spacing or an invisible character would make the label every screen shows
    ambiguous: refused as the same name, and nothing is added."""
    await store.add_milestone("M1 Core")
    with pytest.raises(InvalidArgument, match="a milestone named 'M1 Core' already exists"):
        await store.add_milestone(lookalike)
    assert [m.name for m in await store.list_milestones()] == ["M1 Core"]

"""How a person names a milestone: by id, by name, by the label every screen shows, or by the start
of its name. Pure: no database, no UI; every backend and face resolves a reference with ``resolve``.

A reference matches, in this order, the first rule that matches anything:

1. an id (an int, or ASCII digits),
2. the exact name,
3. the name ignoring case (and the reference's surrounding spaces),
4. the label: the name's first word (``M3`` of "M3 Vector Search"), ignoring case,
5. the start of the name, ignoring case.

A rule that matches several milestones is refused (``InvalidArgument`` naming them), never settled by
a later rule or by picking one. Names are agent text: they are compared as text only (no patterns, no
markup), so ``[bold]x`` or a name holding escapes is found by these rules and nothing else, and a
name made to look like another (an invisible character inside its label) does not match its look.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InvalidArgument, NotFound

#: Up to this many milestones, a reference that matches none lists their labels.
LIST_KNOWN = 12


def label(name: str) -> str:
    """The milestone's label, its name's first word: "M1 Core Schema Foundation" -> "M1"."""
    words = name.split(None, 1)
    return words[0] if words else name


def as_id(ref: int | str) -> int | None:
    """The id a reference spells (an int, or ASCII digits), else None."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str) and ref.isascii() and ref.isdigit():
        return int(ref)
    return None


def resolve(ref: int | str, milestones: Sequence[tuple[int, str]]) -> int:
    """The id of the one milestone ``ref`` names, among ``milestones`` as (id, name) in order.

    NotFound when it names none (listing the labels when there are few), InvalidArgument when the
    first rule that matches matches several (naming them)."""
    number = as_id(ref)
    if number is not None and any(mid == number for mid, _ in milestones):
        return number
    if isinstance(ref, str):
        exact = [mid for mid, name in milestones if name == ref]
        if exact:  # names are unique; should two ever be equal, the first in order is the one
            return exact[0]
        folded = ref.strip().casefold()
        if folded:
            rules = (
                ("its name", lambda name: name.casefold() == folded),
                ("its label", lambda name: label(name).casefold() == folded),
                ("the start of its name", lambda name: name.casefold().startswith(folded)),
            )
            for how, matches in rules:
                found = [(mid, name) for mid, name in milestones if matches(name)]
                if len(found) == 1:
                    return found[0][0]
                if found:
                    raise ambiguous(ref, how, [name for _, name in found])
    raise unknown(ref, [name for _, name in milestones])


def ambiguous(ref: int | str, how: str, names: Sequence[str]) -> InvalidArgument:
    listed = ", ".join(repr(n) for n in names)
    return InvalidArgument(
        f"milestone {ref!r} is ambiguous: {len(names)} milestones match by {how} ({listed}); "
        "give more of the name, or the id",
        entity="milestone", key=ref, candidates=list(names))


def unknown(ref: int | str, names: Sequence[str]) -> NotFound:
    if not names:
        known = "there are no milestones yet"
    elif len(names) <= LIST_KNOWN:
        labels = list(dict.fromkeys(label(n) for n in names))
        known = f"the milestones are {', '.join(labels)}"
    else:
        known = f"{len(names)} milestones exist"
    return NotFound(f"milestone {ref!r} does not exist ({known})", entity="milestone", key=ref)

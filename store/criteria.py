"""What a validation report says of each acceptance criterion its milestone promised. Pure.

The rule, for every seat (CLI, MCP, dashboard) and for the store's check of a decision:

1. A report entry names an acceptance criterion when their texts are equal after normalising both:
   Unicode NFKC, case folded, a leading list mark or checkbox (``-``, ``*``, ``[x]``) dropped, and every
   run of characters that are neither letters nor digits (spaces, punctuation, quotes, invisible
   characters) made one space. "PRAGMA integrity_check returns "ok"" matches "pragma integrity check
   returns ok."; "90%+ coverage" does not match "95% coverage".
2. Else, when the entry's name starts with the criterion's number (1-based, in the milestone's order):
   ``Criterion 2 ...``, ``AC2``, ``#2 ...``, or a bare ``2.``, ``2)``, ``2:`` (seed 001's "Criterion N:"
   lines); a bare number then a space does not ("15 core indexes created" names no criterion 15).
3. One entry names at most one criterion and one criterion is named by at most one entry: texts are
   matched first (each entry to the first criterion of that text not yet named), numbers after; an entry
   whose criterion is already named, or that names none, is listed as unmatched, never dropped.

Every acceptance criterion no entry names is "not reported". Approving a gate with any criterion not
reported, not met or unknown asks the reviewer to accept those criteria by name (store/gates.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .models import Criterion, CriterionEvidence, CriterionStatus

NOT_REPORTED = "not_reported"

_MARK = re.compile(r"^\s*(?:[-*•+]\s+)?(?:\[[^\]]{0,1}\]\s*)?")
#: "Criterion 2", "AC 2", "#2" (any text after), or a bare "2." / "2)" / "2:" / "2 -" (a bare number then a
#: space is the start of a sentence: "15 core indexes created").
_NUMBERED = re.compile(
    r"^(?:(?:(?:acceptance\s+)?criterion|ac)\s*#?\s*(\d{1,4})(?!\w)|#\s*(\d{1,4})(?!\w)"
    r"|(\d{1,4})\s*(?:[:.)\-–—]|$))")
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """A criterion's text as matching compares it (rule 1 above)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = "".join(c for c in folded if unicodedata.category(c) not in ("Cf", "Cc") or c in "\t\n")
    return _NOT_WORD.sub(" ", _MARK.sub("", folded)).strip()


def named_number(name: str) -> int | None:
    """The criterion number an entry's name starts with (rule 2 above), or None."""
    folded = _MARK.sub("", unicodedata.normalize("NFKC", name).casefold())
    found = _NUMBERED.match(folded.strip())
    return int(next(g for g in found.groups() if g)) if found else None


@dataclass(frozen=True, slots=True)
class CriterionCheck:
    """One acceptance criterion, what the report says of it, and the evidence attached to it."""

    #: 1-based, in the milestone's order.
    index: int
    #: As the milestone states it.
    text: str
    #: The report entry that names it, or None: not reported.
    entry: Criterion | None = None
    #: How the entry was matched: "text" or "number" (None when not reported).
    matched_by: str | None = None
    evidence: tuple[CriterionEvidence, ...] = ()

    @property
    def status(self) -> str:
        """``met``, ``not_met``, ``unknown`` or ``not_reported``."""
        return self.entry.status.value if self.entry is not None else NOT_REPORTED

    @property
    def met(self) -> bool:
        return self.entry is not None and self.entry.status is CriterionStatus.MET

    @property
    def words(self) -> str:
        """The status as a person reads it: "met", "not met", "unknown", "not reported"."""
        return self.status.replace("_", " ")


@dataclass(frozen=True, slots=True)
class CriteriaReview:
    checks: tuple[CriterionCheck, ...]
    #: Report entries that name no acceptance criterion, or one another entry already named.
    unmatched: tuple[Criterion, ...]

    @property
    def unsettled(self) -> tuple[CriterionCheck, ...]:
        """The criteria an approval leaves not met: not reported, not met or unknown."""
        return tuple(c for c in self.checks if not c.met)

    @property
    def met(self) -> int:
        return sum(c.met for c in self.checks)


def review(acceptance: Sequence[str], entries: Sequence[Criterion],
           evidence: Sequence[CriterionEvidence] = ()) -> CriteriaReview:
    """Match the report's ``entries`` to the milestone's ``acceptance`` criteria (the module's rule)."""
    named: dict[int, tuple[Criterion, str]] = {}
    taken: set[int] = set()
    wanted = [normalise(a) for a in acceptance]
    for e, entry in enumerate(entries):
        key = normalise(entry.name)
        slot = next((i for i, w in enumerate(wanted) if w == key and i not in named), None)
        if slot is not None:
            named[slot] = (entry, "text")
            taken.add(e)
    for e, entry in enumerate(entries):
        if e in taken:
            continue
        number = named_number(entry.name)
        if number is not None and 1 <= number <= len(acceptance) and number - 1 not in named:
            named[number - 1] = (entry, "number")
            taken.add(e)
    checks = tuple(
        CriterionCheck(i + 1, text, *(named.get(i) or (None, None)),
                       evidence=tuple(x for x in evidence if x.criterion == i + 1))
        for i, text in enumerate(acceptance))
    return CriteriaReview(checks, tuple(entry for e, entry in enumerate(entries) if e not in taken))

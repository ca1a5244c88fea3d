"""Which of a unit's mediators suits a case, and why: a pure ranking the person reads, never an
assignment (人民调解法 art. 19: the committee assigns, or the parties choose).

A candidate is excluded when barred on the case (a party refused them, or they withdrew: 回避) or
when the blind index of their id number or phone matches a party's (the mediator *is* a party, or
shares a phone with one: a conflict the committee must see before it assigns). The others are
ranked by a score: a specialty matching the dispute type, a language the parties need, and a light
current load. Every point of the score comes with a reason in words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from workflows.vocab import DisputeType

SPECIALTY_POINTS = 3
LANGUAGE_POINTS = 2
# Load: the fewer open cases, the better; a mediator with LOAD_CEILING or more gains nothing.
LOAD_CEILING = 10
LOAD_POINTS_PER_FREE_CASE = 0.2  # at most 2 points, for an idle mediator


class Why(StrEnum):
    """A reason a candidate is ranked as it is, or left out."""

    specialty = "specialty"  # a specialty matches the dispute type
    no_specialty = "no_specialty"
    language = "language"  # speaks a language the parties need
    no_language = "no_language"
    load = "load"  # the open cases they already handle
    barred = "barred"  # refused by a party or withdrew on this case: excluded
    conflict = "conflict"  # their id number or phone matches a party's: excluded
    assigned = "assigned"  # already on the case: excluded


WHY_LABELS: dict[Why, str] = {
    Why.specialty: "擅长此类纠纷",
    Why.no_specialty: "不擅长此类纠纷",
    Why.language: "会说当事人需要的语言",
    Why.no_language: "不会说当事人需要的语言",
    Why.load: "在办案件 {load} 件",
    Why.barred: "已被当事人拒绝或已回避，不得再指派",
    Why.conflict: "身份证号或电话与当事人相同，可能存在利害关系",
    Why.assigned: "已在办理本案",
}


@dataclass(frozen=True)
class Candidate:
    """A mediator as the ranking sees them (active, serving the case's unit)."""

    mediator_id: int
    name: str
    specialties: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    load: int = 0  # current assignments on open cases
    blind_indexes: frozenset[str] = frozenset()  # of their id number and phone


@dataclass(frozen=True)
class CaseNeeds:
    dispute_type: DisputeType
    languages: frozenset[str] = frozenset()  # the parties need one of these (empty: not recorded)
    party_indexes: frozenset[str] = frozenset()  # blind indexes of the parties' id numbers and phones
    barred: frozenset[int] = frozenset()  # mediator ids refused or withdrawn on the case
    assigned: frozenset[int] = frozenset()  # mediator ids on the case now


@dataclass(frozen=True)
class Reason:
    why: Why
    load: int | None = None  # for Why.load

    def text(self) -> str:
        return WHY_LABELS[self.why].format(load=self.load)


@dataclass(frozen=True)
class Suggestion:
    mediator_id: int
    name: str
    score: float
    excluded: bool
    reasons: tuple[Reason, ...] = field(default_factory=tuple)


def _judge(candidate: Candidate, needs: CaseNeeds) -> Suggestion:
    if candidate.mediator_id in needs.barred:
        return Suggestion(candidate.mediator_id, candidate.name, 0.0, True, (Reason(Why.barred),))
    if candidate.blind_indexes & needs.party_indexes:
        return Suggestion(candidate.mediator_id, candidate.name, 0.0, True, (Reason(Why.conflict),))
    if candidate.mediator_id in needs.assigned:
        return Suggestion(candidate.mediator_id, candidate.name, 0.0, True, (Reason(Why.assigned),))
    score = 0.0
    reasons: list[Reason] = []
    if needs.dispute_type.value in candidate.specialties:
        score += SPECIALTY_POINTS
        reasons.append(Reason(Why.specialty))
    else:
        reasons.append(Reason(Why.no_specialty))
    if needs.languages:
        if candidate.languages & needs.languages:
            score += LANGUAGE_POINTS
            reasons.append(Reason(Why.language))
        else:
            reasons.append(Reason(Why.no_language))
    score += max(0, LOAD_CEILING - candidate.load) * LOAD_POINTS_PER_FREE_CASE
    reasons.append(Reason(Why.load, load=candidate.load))
    return Suggestion(candidate.mediator_id, candidate.name, round(score, 2), False, tuple(reasons))


def rank(candidates: Iterable[Candidate], needs: CaseNeeds) -> list[Suggestion]:
    """Every candidate judged: the eligible first, best score first (then the lighter load, then
    the name, so the order is stable), then the excluded with why."""
    judged = [(_judge(c, needs), c) for c in candidates]
    return [
        s for s, _ in sorted(judged, key=lambda sc: (sc[0].excluded, -sc[0].score, sc[1].load, sc[1].name))
    ]


def blind_indexes(values: Sequence[str | None]) -> frozenset[str]:
    return frozenset(v for v in values if v)

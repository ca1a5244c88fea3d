"""Mediators as people: the words the roster, the assignments and the withdrawals speak.

A case is held by a unit (its committee or centre) and handled by named mediators: one lead and
any number of co-mediators (人民调解法 art. 19: the committee assigns one or more mediators, or the
parties choose them). The parties may refuse a mediator, and a mediator with a conflict of
interest withdraws (回避); neither may then be assigned on that case again.
"""

from __future__ import annotations

from enum import StrEnum


class Employment(StrEnum):
    """专职 or 兼职: how the MoJ report counts a committee's mediators."""

    full_time = "full_time"
    part_time = "part_time"


EMPLOYMENT_LABELS: dict[Employment, str] = {
    Employment.full_time: "专职",
    Employment.part_time: "兼职",
}


class AssignmentRole(StrEnum):
    lead = "lead"
    co = "co"


ASSIGNMENT_ROLE_LABELS: dict[AssignmentRole, str] = {
    AssignmentRole.lead: "主办调解员",
    AssignmentRole.co: "协办调解员",
}


class AssignmentEnd(StrEnum):
    """Why a mediator stopped handling a case."""

    reassigned = "reassigned"  # another mediator took the role, with a reason
    removed = "removed"  # taken off the case, with a reason
    withdrew = "withdrew"  # 回避: a declared conflict; never again on this case
    refused = "refused"  # a party refused the mediator; never again on this case
    closed = "closed"  # the case ended or left the unit


ASSIGNMENT_END_LABELS: dict[AssignmentEnd, str] = {
    AssignmentEnd.reassigned: "改派",
    AssignmentEnd.removed: "撤换",
    AssignmentEnd.withdrew: "回避",
    AssignmentEnd.refused: "当事人拒绝",
    AssignmentEnd.closed: "案件办结或移出",
}


class MediatorDecisionKind(StrEnum):
    """What is recorded about a mediator on a case besides the assignment itself."""

    party_chose = "party_chose"  # 当事人选择 (人民调解法 art. 19)
    party_refused = "party_refused"  # 当事人拒绝
    withdrawal = "withdrawal"  # 回避, declared by the mediator or decided by the committee


MEDIATOR_DECISION_LABELS: dict[MediatorDecisionKind, str] = {
    MediatorDecisionKind.party_chose: "当事人选择调解员",
    MediatorDecisionKind.party_refused: "当事人拒绝调解员",
    MediatorDecisionKind.withdrawal: "调解员回避",
}


class ConflictGround(StrEnum):
    """Why a mediator withdraws (回避): the three grounds of 特邀调解规定 art. 15, used here for every
    mediator (for a people's mediator it is the committee's practice, not a statute)."""

    party_relative = "party_relative"  # a party or an agent is a close relative
    interest = "interest"  # an interest in the outcome
    other_relation = "other_relation"  # another relation that may affect fair mediation


CONFLICT_GROUND_LABELS: dict[ConflictGround, str] = {
    ConflictGround.party_relative: "是当事人或其代理人的近亲属",
    ConflictGround.interest: "与纠纷有利害关系",
    ConflictGround.other_relation: "与当事人有其他关系，可能影响公正调解",
}

# An assignment that ended this way bars the mediator from the case for good.
BARRING_ENDS: frozenset[AssignmentEnd] = frozenset({AssignmentEnd.withdrew, AssignmentEnd.refused})
BARRING_DECISIONS: frozenset[MediatorDecisionKind] = frozenset(
    {MediatorDecisionKind.party_refused, MediatorDecisionKind.withdrawal}
)

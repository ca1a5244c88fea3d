"""What the assignment API takes and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from workflows.mediators import AssignmentEnd, AssignmentRole, ConflictGround, MediatorDecisionKind
from workflows.suggestion import Why

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
MediatorId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mediator_id: MediatorId
    role: AssignmentRole = AssignmentRole.lead
    reason: Reason | None = None


class ReassignLeadIn(BaseModel):
    """A new lead in place of the current one: the reason is required (it is on the trail)."""

    model_config = ConfigDict(extra="forbid")

    mediator_id: MediatorId
    reason: Reason


class RemoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mediator_id: MediatorId
    reason: Reason


class DecisionIn(BaseModel):
    """A party's choice or refusal of a mediator (``party_id`` required), or a mediator's
    withdrawal (回避, ``ground`` required)."""

    model_config = ConfigDict(extra="forbid")

    kind: MediatorDecisionKind
    mediator_id: MediatorId
    party_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    ground: ConflictGround | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None


class AssignmentPublic(BaseModel):
    id: int
    mediator_id: int
    mediator_name: str
    mediator_active: bool
    role: AssignmentRole
    role_label: str
    unit_code: str
    assigned_at: datetime
    assigned_by: str
    reason: str | None
    ended_at: datetime | None
    ended_by: str | None
    end: AssignmentEnd | None
    end_label: str | None
    end_reason: str | None


class DecisionPublic(BaseModel):
    id: int
    mediator_id: int
    mediator_name: str
    kind: MediatorDecisionKind
    kind_label: str
    party_id: int | None
    party_name: str | None
    ground: ConflictGround | None
    ground_label: str | None
    note: str | None
    recorded_at: datetime
    recorded_by: str


class CaseMediators(BaseModel):
    case_id: int
    case_version: int
    lead: AssignmentPublic | None
    co: list[AssignmentPublic]
    past: list[AssignmentPublic]  # ended, newest first, with the end and its reason
    decisions: list[DecisionPublic]
    barred: list[int]  # mediator ids that may never be assigned on this case
    may_change: bool  # whether the reader may assign, reassign, remove and record decisions


class ReasonPublic(BaseModel):
    code: Why
    text: str  # in Chinese; the web pages translate the code
    load: int | None = None


class SuggestionPublic(BaseModel):
    mediator_id: int
    name: str
    languages: list[str]  # the languages and dialects the mediator speaks (the roster's)
    score: float
    excluded: bool
    reasons: list[ReasonPublic]


class NeedsReassignment(BaseModel):
    case_id: int
    number: str
    unit_code: str
    unit_name: str | None
    state: str
    lead_mediator_id: int | None  # the inactive lead, or None when the case has no lead
    lead_name: str | None
    why: str  # lead_inactive | no_lead

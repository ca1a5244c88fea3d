"""What the sessions API takes and answers."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from service.safe_text import NoBidi


def _refuse_nul(text: str) -> str:
    # PostgreSQL's text and jsonb cannot hold NUL: refuse it up front, naming the field.
    if "\x00" in text:
        raise PydanticCustomError("nul_character", "contains a NUL character")
    return text


NoNul = AfterValidator(_refuse_nul)
PartyId = Annotated[int, Field(ge=1, le=2**31 - 1)]
MediatorId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), NoBidi, NoNul]
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoBidi, NoNul]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000), NoBidi, NoNul
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), NoBidi, NoNul]


class SessionResult(StrEnum):
    """How a session ended (调解结果)."""

    agreement = "agreement"  # 达成协议
    partial = "partial"  # 部分达成
    none = "none"  # 未达成
    adjourned = "adjourned"  # 改期再调 (adjourned_to names the day)


class AgentIn(BaseModel):
    """An agent (代理人) who attended for one of the case's parties."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    party_id: PartyId


class OtherIn(BaseModel):
    """Someone else present: an interpreter, a village cadre, a relative, a witness."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    role: Name


class StatementIn(BaseModel):
    """What one party (or its agent) said."""

    model_config = ConfigDict(extra="forbid")

    party_id: PartyId
    text: LongText


class SessionIn(BaseModel):
    """A session's record, whole: a correction sends the record as it should read."""

    model_config = ConfigDict(extra="forbid")

    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    place: Place
    party_ids: Annotated[list[PartyId], Field(max_length=50)] = []
    agents: Annotated[list[AgentIn], Field(max_length=20)] = []
    mediator_ids: Annotated[list[MediatorId], Field(max_length=20)] = []
    others: Annotated[list[OtherIn], Field(max_length=20)] = []
    statements: Annotated[list[StatementIn], Field(max_length=50)] = []
    proposal: LongText | None = None
    result: SessionResult
    adjourned_to: date | None = None
    notes: LongText | None = None


class SessionCorrection(SessionIn):
    """The record as it should read, and why it changed (kept on the case's trail)."""

    reason: Reason | None = None


class Named(BaseModel):
    id: int
    name: str


class AgentPublic(BaseModel):
    name: str
    party_id: int
    party_name: str


class OtherPublic(BaseModel):
    name: str
    role: str


class StatementPublic(BaseModel):
    party_id: int
    party_name: str
    text: str


class SessionPublic(BaseModel):
    id: int
    case_id: int
    number: int  # the n-th session of the case
    started_at: datetime
    ended_at: datetime | None
    place: str
    parties: list[Named]
    agents: list[AgentPublic]
    mediators: list[Named]
    others: list[OtherPublic]
    statements: list[StatementPublic]
    proposal: str | None
    result: SessionResult
    adjourned_to: date | None
    notes: str | None
    recorded_at: datetime
    recorded_by: str
    corrected_at: datetime | None
    corrected_by: str | None
    version: int


class CaseSessions(BaseModel):
    case_id: int
    sessions: list[SessionPublic]
    may_record: bool  # whether the reader may record or correct sessions on this case now

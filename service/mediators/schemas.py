"""What the roster API accepts and returns.

Personal data (a mediator's id number and phone) goes in clear and comes back masked only: the
roster is read by every mediator of a unit, and nobody needs a colleague's full id number to
assign a case.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from service.safe_text import NoBidi
from workflows.mediators import Employment
from workflows.vocab import DisputeType

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), NoBidi]
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32), NoBidi]
Qualifications = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), NoBidi]
Grade = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32), NoBidi]
RosterNo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), NoBidi]
UnitCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), NoBidi]
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def checked_id_number(value: str) -> str:
    """A resident identity card number: 18 characters whose last is the check digit of GB 11643
    (a typo would make the blind index miss the same person), or an old 15-digit one."""
    value = value.upper()
    if (
        len(value) == 18
        and _CHECK[sum(int(d) * w for d, w in zip(value, _WEIGHTS, strict=False)) % 11] != value[-1]
    ):
        raise ValueError("the check digit does not match: a digit is mistyped")
    return value


IdNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^([0-9]{17}[0-9Xx]|[0-9]{15})$"),
    AfterValidator(checked_id_number),
]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 \-]*$")
]


def _reject_nul(value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("contains a NUL character")
    if isinstance(value, dict):
        for item in value.values():
            _reject_nul(item)
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        _reject_nul(data)  # PostgreSQL text holds no NUL
        return data


class MediatorIn(_Strict):
    """A person on the roster of one or more units, with or without a sign-in."""

    name: Name
    units: list[UnitCode] = Field(min_length=1, max_length=20, description="unit codes the mediator serves")
    employment: Employment = Field(description="full_time 专职 or part_time 兼职")
    specialties: list[DisputeType] = Field(default_factory=list, max_length=len(DisputeType))
    languages: list[Word] = Field(default_factory=list, max_length=20, description="languages and dialects")
    qualifications: Qualifications = ""
    grade: Grade = ""
    court_roster_no: RosterNo | None = Field(
        default=None, description="特邀调解员 entry on the court's roster"
    )
    court_roster_from: date | None = None
    court_roster_until: date | None = None
    id_number: IdNumber | None = Field(default=None, description="stored sealed; returned masked")
    phone: Phone | None = Field(default=None, description="stored sealed; returned masked")
    username: Username | None = Field(default=None, description="the sign-in of this person, if any")


class MediatorEdit(_Strict):
    """Only the fields given change; ``null`` empties an optional one."""

    name: Name | None = None
    units: list[UnitCode] | None = Field(default=None, min_length=1, max_length=20)
    employment: Employment | None = None
    specialties: list[DisputeType] | None = Field(default=None, max_length=len(DisputeType))
    languages: list[Word] | None = Field(default=None, max_length=20)
    qualifications: Qualifications | None = None
    grade: Grade | None = None
    court_roster_no: RosterNo | None = None
    court_roster_from: date | None = None
    court_roster_until: date | None = None
    id_number: IdNumber | None = None
    phone: Phone | None = None
    username: Username | None = None
    reason: Reason | None = None


class StatusChange(_Strict):
    reason: Reason | None = None


class MediatorPublic(BaseModel):
    id: int
    name: str
    units: list[str]
    username: str | None
    employment: Employment
    specialties: list[DisputeType]
    languages: list[str]
    qualifications: str
    grade: str
    court_roster_no: str | None
    court_roster_from: date | None
    court_roster_until: date | None
    id_number: str | None = Field(description="masked: 320583********1234")
    phone: str | None = Field(description="masked: 138****5678")
    active: bool
    deactivated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class MediatorPage(BaseModel):
    items: list[MediatorPublic]
    total: int


class ImportedRow(BaseModel):
    line: int
    action: str = Field(description="create or update")
    name: str
    mediator_id: int | None = Field(default=None, description="None on a dry run's new person")


class ImportResult(BaseModel):
    dry_run: bool
    created: int
    updated: int
    rows: list[ImportedRow]

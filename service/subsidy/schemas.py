"""What the ledger's API speaks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Label(BaseModel):
    code: str
    label: str


class Share(BaseModel):
    mediator_id: int
    name: str
    role: str  # lead | co
    amount_yuan: Decimal


class CaseLine(BaseModel):
    """One case closed in the month: what it pays and to whom, or why it does not."""

    case_id: int
    number: str
    dispute_type: str
    dispute_type_label: str
    difficulty: str
    difficulty_label: str
    unit_code: str | None = None
    closed_at: datetime
    eligible: bool
    amount_yuan: Decimal
    reasons: list[Label] = []
    missing_file: list[str] = []  # the file checks it failed
    # The approved ledger (unit, month) that already paid it.
    paid_in_unit: str | None = None
    paid_in_month: str | None = None
    shares: list[Share] = []
    mediator_ids: list[int] = []  # who mediated it to its outcome, paid or not


class MediatorTotal(BaseModel):
    mediator_id: int
    name: str
    cases: int
    shares_yuan: Decimal
    corrections_yuan: Decimal
    total_yuan: Decimal


class CorrectionOut(BaseModel):
    id: int
    mediator_id: int
    name: str
    case_id: int | None
    amount_yuan: Decimal
    reason: str
    recorded_at: datetime
    recorded_by: str


class SubsidyMonthOut(BaseModel):
    """A unit's month: computed from the closed cases until approved, then the frozen ledger."""

    unit_code: str
    month: str
    status: Literal["computed", "approved"]
    approved_at: datetime | None = None
    approved_by: str | None = None
    basis: str
    own_lines_only: bool  # a mediator reads only their own lines
    eligible_cases: int
    total_yuan: Decimal  # shares plus corrections
    mediators: list[MediatorTotal]
    cases: list[CaseLine]
    corrections: list[CorrectionOut]


Money = Annotated[Decimal, Field(max_digits=10, decimal_places=2)]


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The total the coordinator reviewed: refused (409) when the cases changed since.
    reviewed_total_yuan: Money | None = None


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mediator_id: int = Field(ge=1, le=2**63 - 1)
    case_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    amount_yuan: Money = Field(ge=Decimal("-100000"), le=Decimal("100000"))
    reason: str = Field(min_length=2, max_length=1000)

    @field_validator("amount_yuan")
    @classmethod
    def _not_zero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("a correction adds or takes away an amount: it cannot be zero")
        return value

    @field_validator("reason")
    @classmethod
    def _reason_text(cls, value: str) -> str:
        if len(value.strip()) < 2:
            raise ValueError("say why the correction is made")
        return value.strip()

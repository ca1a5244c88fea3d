"""What the filings API reads and answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.filings.source import FrozenCell

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class FilingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: str = Field(min_length=1, max_length=32, description="a town centre, or the city centre")
    month: str = Field(min_length=1, max_length=16, description="YYYY-MM, a month already over")


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(description="why the filed figures are corrected (required)")


class FilingSummary(BaseModel):
    id: int
    unit_code: str
    unit_name: str
    month: str
    version: int
    kind: str = Field(description="town, or city (consolidated from the towns' filings)")
    current: bool = Field(description="the latest version of the unit's month")
    reason: str | None = Field(description="a correction's reason (None for version 1)")
    filed_at: datetime
    filed_by: str
    sha256: str = Field(
        description="SHA-256 of the canonical JSON of what was filed (also in the audit trail)"
    )
    security_event_id: int


class FiledCell(FrozenCell):
    cases: int = Field(description="how many cases are behind the figure, as filed")


class SourceFiling(BaseModel):
    unit: str
    filing_id: int
    version: int
    sha256: str


class FilingOut(FilingSummary):
    cells: list[FiledCell]
    sources: list[SourceFiling] = Field(description="a city filing: the town versions it consolidated")
    missing_towns: list[str] = Field(description="a city filing made without these towns (when allowed)")
    versions: list[FilingSummary] = Field(description="every version of the unit's month, oldest first")


class FilingPage(BaseModel):
    items: list[FilingSummary]
    total: int


class CellCase(BaseModel):
    id: int
    number: str
    dispute_type: str | None = Field(description="None when the case is not yours to see (sensitive)")
    unit_code: str | None
    state: str | None = Field(description="the case's state now")
    visible: bool


class CellCases(BaseModel):
    filing_id: int
    key: str
    label: str
    value: int | str
    counts: str = Field(
        "cases",
        description="what the figure counts: cases (listed); rounds (screening rounds: not a case figure, "
        "see the live report's drill-down for the rounds); none (a rate or a stock)",
    )
    total: int
    items: list[CellCase]


class CourtSide(BaseModel):
    """The court desk's referral record."""

    referral_id: int
    kind: str
    court_case_number: str | None
    delegated_on: date
    to_unit_code: str
    status: str
    returned_on: date | None
    outcome: str | None


class BureauSide(BaseModel):
    """What the bureau's side recorded: the case's events, or its registration from a court referral."""

    delegated_on: date | None
    to_unit_code: str | None
    registered_from_court: bool
    returned_on: date | None
    outcome: str | None


class ReconciliationRow(BaseModel):
    case_id: int
    number: str
    court: CourtSide | None
    bureau: BureauSide | None
    mismatches: list[str] = Field(
        description="only_court, only_bureau, delegated_on, returned_on, outcome (empty: they agree)"
    )


class Reconciliation(BaseModel):
    unit: str
    month: str
    rows: list[ReconciliationRow]
    mismatched: int

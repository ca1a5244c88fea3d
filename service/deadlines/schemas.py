"""How a deadline is shown in the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class DeadlinePublic(BaseModel):
    id: int
    kind: str
    name: str
    status: str
    unit_code: str
    started_at: datetime
    due_at: datetime
    due_date: date = Field(description="the last day of the period (Asia/Shanghai)")
    warn_at: datetime | None = None
    working_days_left: int | None = Field(
        description="working days from today through the last day (1 on the last day, ≤ 0 once overdue); "
        "null while paused or ended"
    )
    overdue: bool
    breach_action: str
    legal_source: str = Field(
        description="the period's basis in one line (the source of a law; who decided a local policy)"
    )
    basis: Literal["law", "local_policy"] = Field(
        description="law: a statute or SPC rule (法定); local_policy: decided locally and configurable (本地规定)"
    )
    source: str | None = Field(
        description="the statute or rule, with its article (for a local policy: what it rests on)"
    )
    decided_by: str | None = Field(description="who decided a local policy; null for law")
    breach_basis: Literal["law", "local_policy"] = Field(description="the breach action's own basis")
    breach_decided_by: str | None = None
    extension_basis: Literal["law", "local_policy"] | None = Field(
        default=None, description="the basis for extending the period; null when it cannot be extended"
    )
    provisional: bool = Field(
        description="true while the due time or a warning falls in a year whose official holiday calendar "
        "is missing: the date assumes Monday–Friday and may move when the calendar is added"
    )
    provisional_years: list[int] = Field(
        default_factory=list, description="the years whose calendar is missing"
    )
    paused_at: datetime | None = None
    breached_at: datetime | None = None
    ended_at: datetime | None = None
    extensions: list[dict[str, Any]] = Field(default_factory=list)
